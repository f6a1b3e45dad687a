"""The validator cache: detail 304s with no query.

Opt in per view with the ``cache_validators`` option and name a Django cache
in ``CONDITIONAL_API["CACHE"]`` (local memory serves one process; Django's
Redis backend serves every app server that shares it). Only views that look
rows up by primary key use it.

An entry maps (the compiled SQL of the view's queryset, the primary key) to
the validator columns of the row that queryset finds, so a scoped queryset
stays scoped: an anonymous user's entry is not a staff user's. Rows that are
not found are never cached: the query answers the 404.

Invalidation uses generations kept in the cache itself: one per table and
one per row. An entry is stamped with the generations its reader saw
*before* reading the database, and it is served only while both are still
current. After a transaction that wrote a versioned table commits, the
written rows' generations move on (the table's, when the rows are not known,
as after ``QuerySet.update()``). So a reader that read the row before a write
committed and fills the cache after it stamps its entry with a generation
that is already gone: the entry is never served. A rolled-back transaction
moves nothing and leaves the cache as it was. The cache's own atomic
increment is the clock, so app servers' clocks do not matter.

How long a validator can lag a commit: the time between the commit and its
on-commit callback, normally well under a millisecond. If the cache cannot
be reached while the write commits, the generation does not move and an
entry can outlive the write by up to ``ENTRY_SECONDS``. Writes that bypass
Python (raw SQL, other services, the trigger mode) move nothing either: do
not cache validators of tables written that way. A cache that is down
degrades to the query path, never to an error.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.exceptions import ValidationError
from django.db import models

from .changes import written_in_open_transaction
from .conf import api_settings
from .rows import find_state_row, query_fingerprint

__all__ = ["ENTRY_SECONDS", "CachedLookup", "find_row", "invalidate", "lookup"]

logger = logging.getLogger(__name__)

ENTRY_SECONDS = 60
_PREFIX = "conditional_api"


def _cache() -> BaseCache | None:
    alias = api_settings.CACHE
    return caches[alias] if alias else None


def _table_generation(using: str, label: str) -> str:
    return f"{_PREFIX}:gen:{using}:{label}"


def _row_generation(using: str, label: str, pk: Any) -> str:
    return f"{_PREFIX}:gen:{using}:{label}:{pk}"


def _new_generation() -> int:
    # Random, so that a generation evicted and started again cannot repeat an old one.
    return secrets.randbits(62)


@dataclass
class CachedLookup:
    """One reader's look at the cache: the row it found, or what it needs to fill the entry."""

    row: models.Model | None
    _entry_key: str | None = None
    _generations: tuple[Any, ...] = ()

    def fill(self, row: models.Model) -> None:
        """Cache the row the query found, stamped with the generations seen before the query."""
        if self._entry_key is None:
            return
        cache = _cache()
        if cache is None:
            return
        loaded = [f.attname for f in row._meta.concrete_fields if f.attname in row.__dict__]
        try:
            cache.set(self._entry_key, (self._generations, loaded, [row.__dict__[n] for n in loaded]), ENTRY_SECONDS)
        except Exception:  # a cache that is down costs the cache, not the request
            logger.warning("conditional_api: could not fill the validator cache", exc_info=True)


_MISS = CachedLookup(row=None)


def lookup(queryset: models.QuerySet[Any], lookup_field: str, pk: Any) -> CachedLookup:
    """The row ``queryset`` finds at ``pk``, from the cache when its entry is of the current generations.

    Only primary key lookups are cached: the generations are kept per row.
    A transaction that has written the table reads the database.
    """
    cache = _cache()
    model = queryset.model
    if cache is None or lookup_field not in ("pk", model._meta.pk.name):
        return _MISS
    if written_in_open_transaction(model, queryset.db):
        # The cache moves on commit: until then, only the database shows
        # this transaction its own writes.
        return _MISS
    try:
        pk = model._meta.pk.to_python(pk)
    except ValidationError:
        return _MISS
    label = model._meta.concrete_model._meta.label
    digest = hashlib.blake2b("\0".join(query_fingerprint(queryset)).encode(), digest_size=16).hexdigest()
    entry_key = f"{_PREFIX}:entry:{queryset.db}:{label}:{pk}:{digest}"
    generation_keys = [_table_generation(queryset.db, label), _row_generation(queryset.db, label, pk)]
    try:
        found = cache.get_many([*generation_keys, entry_key])
        if any(key not in found for key in generation_keys):
            for key in generation_keys:
                if key not in found:
                    cache.add(key, _new_generation(), None)
            found = {**cache.get_many(generation_keys), entry_key: found.get(entry_key)}
    except Exception:
        logger.warning("conditional_api: the validator cache is unreachable; reading the database", exc_info=True)
        return _MISS
    generations = tuple(found.get(key) for key in generation_keys)
    if None in generations:
        return _MISS
    entry = found.get(entry_key)
    if entry is not None and entry[0] == generations:
        _, names, values = entry
        return CachedLookup(row=model.from_db(queryset.db, names, values))
    return CachedLookup(row=None, _entry_key=entry_key, _generations=generations)


def find_row(queryset: models.QuerySet[Any], lookup_field: str, value: Any, *, cached: bool) -> models.Model | None:
    """The row of ``queryset`` (a ``state_queryset``) at ``value``, or None.

    From the cache when ``cached`` allows, else one query. A row the query
    finds fills the cache; raises ``MultipleObjectsReturned`` as
    ``find_state_row`` does.
    """
    found = lookup(queryset, lookup_field, value) if cached else _MISS
    if found.row is not None:
        return found.row
    row = find_state_row(queryset, lookup_field, value)
    if row is not None:
        found.fill(row)
    return row


def invalidate(label: str, using: str, pks: Iterable[Any] | None, **kwargs: Any) -> None:
    """After a commit: move the written rows' generations on, or the table's when the rows are not known.

    Connected to ``changes.table_changed`` by the app's ``ready()``.
    """
    cache = _cache()
    if cache is None:
        return
    keys = [_table_generation(using, label)] if pks is None else [_row_generation(using, label, pk) for pk in pks]
    try:
        for key in keys:
            try:
                cache.incr(key)
            except ValueError:  # never read, or evicted: any new value retires old entries
                cache.set(key, _new_generation(), None)
    except Exception:
        logger.warning(
            "conditional_api: could not invalidate the validator cache; entries may lag this commit by up to %ss",
            ENTRY_SECONDS,
            exc_info=True,
        )
