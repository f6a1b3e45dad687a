"""Surrogate keys: what an answer shows, named in a header a CDN indexes it by, and the keys each commit invalidates.

A CDN that keeps answers for long (``s-maxage``) serves the old body until
they expire, unless the app tells it which answers a write changed: Fastly
(``Surrogate-Key``), Cloudflare (``Cache-Tag``) and Varnish's xkey vmod
(``xkey``) index each stored answer by the keys its header lists and purge
every answer that lists a key. ``CONDITIONAL_API["SURROGATE_KEYS"]`` names
the header; the keys are derived from what the validator was read from, so
a 304 carries them at no cost and says what its 200 said (a cache updates
its stored answer's fields from a 304, RFC 9111 §4.3.4).

The keys, for the model ``blog.Article``:

* a detail of row 5 shows ``blog.article:5 blog.article:*``;
* a list shows the table key of every table its query reads
  (``conditional_api.tables``): ``blog.article blog.author blog.tag ...``;
* an answer the package cannot name the sources of (the ``content``
  strategy, a ``validator=`` function, a 200 whose validator moved while it
  was built) shows ``all``.

A commit invalidates ``all``, and for each table it wrote the table key and
either the rows' keys or, when the rows are not known (``update()`` of a
model that no path shows, an upsert, a bump by a join on a database without
row locks) or too many (over :data:`ROWS_PER_TABLE`), the table's ``:*`` key. :data:`surrogate_keys_invalidated` is
sent once per commit with them. Every write that changes what a detail
shows bumps the row (``depends_on`` touches it in the same transaction), and
every write that changes a list moves the count of a table it reads: the
same writes that move ETags reach every answer whose bytes they changed.
A rolled-back transaction sends nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.dispatch import Signal

from .changes import ChangeCounter
from .conf import api_settings

__all__ = [
    "ANY_WRITE",
    "ROWS_PER_TABLE",
    "header_value",
    "invalidate",
    "row_keys",
    "surrogate_keys_invalidated",
    "table_keys",
    "written_keys",
]

logger = logging.getLogger(__name__)

#: Sent once after a commit that wrote versioned or counted tables, when
#: ``SURROGATE_KEYS`` is set: ``keys`` (a sorted tuple of the surrogate keys
#: the commit invalidated) and ``using`` (the database alias). Connect a CDN
#: purge to it. A receiver that raises is logged, never stops the others.
surrogate_keys_invalidated = Signal()

#: The key of answers whose sources are not known: every commit invalidates it.
ANY_WRITE = "all"

#: Characters a key keeps as they are; anything else in a primary key is hashed,
#: since the headers separate keys by spaces (Surrogate-Key, xkey) or commas (Cache-Tag).
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")

#: Beyond this many rows of one table, a commit purges the table's ``:*`` key
#: instead: as correct, and a purge call stays small (Fastly takes 256 keys a call).
ROWS_PER_TABLE = 64

#: How each header separates its keys.
_SEPARATORS = {"Cache-Tag": ","}


def _table(label: str) -> str:
    return label.lower()


def _row(table: str, pk: Any) -> str:
    text = str(pk)
    if not _PLAIN.fullmatch(text):
        text = "~" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return f"{table}:{text}"


def _label(model: type[models.Model]) -> str:
    """The label the change counters use: the concrete model's (proxies share its table)."""
    return (model._meta.concrete_model or model)._meta.label


def row_keys(model: type[models.Model], pk: Any) -> tuple[str, ...]:
    """The keys of one row's representation: the row's, and its table's ``:*`` for writes whose rows are not known."""
    table = _table(_label(model))
    return (_row(table, pk), f"{table}:*")


def table_keys(tables: Iterable[type[models.Model]]) -> tuple[str, ...]:
    """The keys of a list: the table key of every table it reads."""
    return tuple(sorted({_table(_label(model)) for model in tables}))


@lru_cache(maxsize=256)
def _pk_field(label: str) -> Any:
    try:
        return apps.get_model(label)._meta.pk
    except LookupError:
        return None


def _stored_pk(label: str, pk: Any) -> Any:
    """``pk`` as a loaded row holds it (``"5"`` set by hand on an instance is the row ``5``)."""
    field = _pk_field(label)
    if field is None:
        return pk
    try:
        return field.to_python(pk)
    except ValidationError:
        return pk


def written_keys(changes: Mapping[str, Iterable[Any] | None]) -> tuple[str, ...]:
    """The keys a commit invalidated, from ``changes_committed``'s labels and primary keys."""
    keys = {ANY_WRITE}
    for label, pks in changes.items():
        table = _table(label)
        keys.add(table)
        if pks is None or len(pks := list(pks)) > ROWS_PER_TABLE:
            keys.add(f"{table}:*")
        else:
            keys.update(_row(table, _stored_pk(label, pk)) for pk in pks)
    return tuple(sorted(keys))


def header_value(keys: tuple[str, ...], header: str) -> str:
    """The header's value: the keys, or ``all`` when the answer named none."""
    return _SEPARATORS.get(header, " ").join(keys or (ANY_WRITE,))


def invalidate(using: str, changes: Mapping[str, Iterable[Any] | None], **kwargs: Any) -> None:
    """After a commit: send the keys it invalidated, when ``SURROGATE_KEYS`` is set.

    Connected to ``changes.changes_committed`` by the app's ``ready()``.
    """
    if api_settings.surrogate_key_header is None:
        return
    keys = written_keys(changes)
    for receiver, result in surrogate_keys_invalidated.send_robust(sender=ChangeCounter, keys=keys, using=using):
        if isinstance(result, Exception):
            logger.error("conditional_api: %r failed to purge %s", receiver, " ".join(keys), exc_info=result)
