"""The validator cache: detail and list 304s with no query.

Opt in per view with the ``cache_validators`` option and name a Django cache
in ``CONDITIONAL_API["CACHE"]`` (local memory serves one process that makes
every write; Django's Redis backend serves every app server that shares it).
Detail views that look rows up by primary key keep their rows' validator
columns in it; lists keep the change counts of the tables they read (see
:func:`table_state`).

An entry maps (the compiled SQL of the view's queryset, the primary key) to
the validator columns of the row that queryset finds, so a scoped queryset
stays scoped: an anonymous user's entry is not a staff user's. Each process
compiles a queryset of a given shape and filter values once (``scopes``). Rows that are
not found are never cached: the query answers the 404.

Only a query that reads the row alone is cached: its own table, and the
tables of the parents whose primary key it shares (multi-table
inheritance), with filters that compare their columns with constant values
(``scopes.scope_key`` describes them); and only when those tables are
versioned, since only their writes move generations. A filter whose truth
moves without a write (``Now()``, a function, another column through
``F()``) is read from the database every time: nothing would move the
entry when the clock takes the row out of the scope. A query that joins another
table (``owner__groups__user=request.user``), reads other rows through a
subquery (``Exists``, ``__in``, ``exclude()`` across a relation), or holds
SQL the package cannot read (``extra()``, ``RawSQL``) answers from the
database every time: the generations below follow the writes of that one
row, and a write elsewhere (a user leaving a group, which the package does
not even count) could change whether the query finds it.

Invalidation uses generations kept in the cache itself: one per table and
one per row, for the row's own table and each of those parents' tables. An
entry is stamped with the generations its reader saw *before* reading the
database, and it is served only while all of them are still current. After a
transaction that wrote a versioned table commits, the written rows'
generations move on (the table's, when the rows are not known, as after
``QuerySet.update()``). So a reader that read the row before a write
committed and fills the cache after it stamps its entry with a generation
that is already gone: the entry is never served. A rolled-back transaction
moves nothing and leaves the cache as it was. Inside a transaction the cache
is neither read nor filled (its snapshot may predate the generations).

A generation is a random 62-bit value, set anew by every write and by the
first reader after the key was lost, never incremented: a key that is
flushed, evicted or expired while entries survive (a partial flush, memory
pressure, ``GENERATION_SECONDS``) comes back as a value no entry was stamped
with, so those entries are never served again. Local memory forgets entries and generations together when
the process restarts. App servers' clocks play no part.

Lists follow the same rules with one more generation per table, which every
committed write to the table moves, inserts included: an entry holds the
summed counts of a set of tables, stamped with their generations.

How long a validator can lag a commit: the time between the commit and its
on-commit callback, normally well under a millisecond. The callback runs
before the application's own on-commit callbacks, so one of theirs that
raises does not stop it. If the cache cannot be reached at that moment, or
the process dies between the commit and the callback, the generation does
not move and an entry can outlive the write by up to ``ENTRY_SECONDS``; so
can entries of a Redis restored from a snapshot, or of a replica promoted
before it had every write, which bring old generations back with them.
Local memory hears only its own process's writes: with several processes
(workers, a management command) each can lag the others' writes by up to
``ENTRY_SECONDS``. Writes that bypass Python (raw SQL, other services, the
trigger mode) move nothing either: do not cache validators of tables written
that way. A cache that is down degrades to the query path, never to an
error.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query
from django.db.models.sql.datastructures import BaseTable, Join
from django.db.models.sql.where import ExtraWhere, NothingNode

from .changes import TableState, read_tables, table_labels
from .conf import api_settings
from .models import VersionedModel
from .rows import find_state_row, mark_cache_result, query_fingerprint
from .scopes import remembered, scope_key

__all__ = [
    "ENTRY_SECONDS",
    "GENERATION_SECONDS",
    "CachedLookup",
    "caching",
    "find_row",
    "invalidate",
    "lookup",
    "reads_cached",
    "table_state",
]

logger = logging.getLogger(__name__)

ENTRY_SECONDS = 60
#: How long a generation outlives its latest write or first read. Any
#: lifetime is safe (a generation that expires comes back as a new random
#: value); this one bounds the keys to the rows read or written within a day,
#: where keys that never expired would fill a Redis that evicts nothing, and
#: a full Redis refuses the writes that move generations on.
GENERATION_SECONDS = 24 * 60 * 60
_PREFIX = "conditional_api"


def _cache() -> BaseCache | None:
    alias = api_settings.CACHE
    return caches[alias] if alias else None


def _table_generation(using: str, label: str) -> str:
    return f"{_PREFIX}:gen:{using}:{label}"


def _row_generation(using: str, label: str, pk: Any) -> str:
    return f"{_PREFIX}:gen:{using}:{label}:{pk}"


def _counts_generation(using: str, label: str) -> str:
    """The generation of a table's change count: every committed write moves it, inserts included."""
    return f"{_PREFIX}:counts:{using}:{label}"


def _new_generation() -> int:
    """A value no generation has had: random, so a key that was lost and set again cannot repeat an old one."""
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
        _fill(cache, self._entry_key, (self._generations, loaded, [row.__dict__[n] for n in loaded]))


_MISS = CachedLookup(row=None)


def _row_tables(model: type[models.Model]) -> list[type[models.Model]]:
    """The model and the parents that share its primary key: the tables that hold one row of it."""
    chain = [model._meta.concrete_model or model]
    while True:
        pk = chain[-1]._meta.pk
        if not (isinstance(pk, models.OneToOneField) and pk.remote_field.parent_link):
            return chain
        parent = pk.remote_field.model
        chain.append(parent._meta.concrete_model or parent)


def _is_parent_link(join: Join, tables: set[str]) -> bool:
    """A join from a child row to its parent row, the same row of the model."""
    field = join.join_field
    return (
        isinstance(field, models.OneToOneField)
        and field.remote_field.parent_link
        and field.primary_key
        and join.table_name in tables
        and join.filtered_relation is None
    )


def _reads_its_row_alone(query: Query, chain: list[type[models.Model]]) -> bool:
    """Whether ``query`` (compiled) reads nothing but the row's own tables: no join elsewhere, no subquery.

    The aliases are the FROM clause the compiler wrote (a join that a
    filter on a foreign key trimmed away has no references left). A table
    named twice is a self-join: another row.
    """
    if query.combinator or query.is_sliced or query.extra or query.extra_tables:
        return False
    tables = {model._meta.db_table for model in chain}
    seen: set[str] = set()
    for alias, table in query.alias_map.items():
        if not query.alias_refcount[alias]:
            continue
        if table.table_name in seen:
            return False
        seen.add(table.table_name)
        if isinstance(table, BaseTable):
            if table.table_name != chain[0]._meta.db_table:
                return False
        elif not (isinstance(table, Join) and _is_parent_link(table, tables)):
            return False
    return not any(_reads_elsewhere(node) for node in (query.where, *query.annotations.values()))


def _reads_elsewhere(node: Any) -> bool:
    """Whether an expression holds a subquery, or SQL whose tables cannot be told."""
    if isinstance(node, (Query, RawSQL, ExtraWhere)):
        return True
    if isinstance(node, NothingNode):
        return False
    if not hasattr(node, "get_source_expressions"):
        return hasattr(node, "as_sql")  # an expression of unknown shape: assume the worst
    return any(_reads_elsewhere(child) for child in node.get_source_expressions() if child is not None)


def _in_transaction(using: str) -> bool:
    """Whether ``using`` is inside a transaction, where the cache can disagree with what the database shows.

    A transaction's snapshot may be older than the generations in the cache:
    under REPEATABLE READ and SERIALIZABLE (PostgreSQL), and in SQLite (WAL)
    it is taken at the first read, so a reader could fill an entry with a
    row from before a commit under the generations after it, or be served
    an entry newer than the rows its view then reads. Its own writes move
    the generations only when it commits. Which isolation level a
    transaction runs at is not known without a query (``SET TRANSACTION``,
    the server's ``default_transaction_isolation``), so every transaction
    reads the database: the cost is the one query a revalidation makes
    without the cache. In autocommit each statement sees every commit
    before it, so generations read before the query are never newer than
    the row.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        return True
    # Manual transaction management: autocommit off outside atomic().
    return connection.connection is not None and not connection.get_autocommit()


def _scope_digest(queryset: models.QuerySet[Any], chain: list[type[models.Model]]) -> str | None:
    """A digest of the statement ``queryset`` compiles to, or None when it reads more than its row."""
    # Compiled first: the check reads the FROM clause the compiler settled.
    fingerprint = query_fingerprint(queryset)
    if not _reads_its_row_alone(queryset.query, chain):
        return None
    return hashlib.blake2b("\0".join(fingerprint).encode(), digest_size=16).hexdigest()


def lookup(queryset: models.QuerySet[Any], lookup_field: str, pk: Any) -> CachedLookup:
    """The row ``queryset`` finds at ``pk``, from the cache when its entry is of the current generations.

    Only primary key lookups are cached, on queries that read the row alone
    (see the module's docstring): the generations are kept per row. Inside a
    transaction the cache is neither read nor filled (see
    ``_in_transaction()``).
    """
    cache = _cache()
    model = queryset.model
    if cache is None or lookup_field not in ("pk", model._meta.pk.name):
        return _MISS
    if _in_transaction(queryset.db):
        return _MISS
    chain = _row_tables(model)
    if not all(issubclass(table, VersionedModel) for table in chain):
        return _MISS  # writes to a table that is not versioned move no generation
    try:
        pk = model._meta.pk.to_python(pk)
    except ValidationError:
        return _MISS
    key = scope_key(queryset)
    if key is None:
        return _MISS  # a filter that is not a column against a constant (Now(), F(), a function): see above
    digest = remembered(key, lambda: _scope_digest(queryset, chain))
    if digest is None:
        return _MISS
    label = chain[0]._meta.label
    entry_key = f"{_PREFIX}:entry:{queryset.db}:{label}:{pk}:{digest}"
    generation_keys = [
        key
        for table in chain
        for key in (
            _table_generation(queryset.db, table._meta.label),
            _row_generation(queryset.db, table._meta.label, pk),
        )
    ]
    read = _read_entry(cache, entry_key, generation_keys)
    if read is None:
        return _MISS
    generations, entry = read
    if entry is not None:
        names, values = entry
        return CachedLookup(row=model.from_db(queryset.db, names, values))
    return CachedLookup(row=None, _entry_key=entry_key, _generations=generations)


def _read_entry(cache: BaseCache, entry_key: str, generation_keys: list[str]) -> tuple[tuple[Any, ...], Any] | None:
    """The current generations and the entry's value when it was stamped with them (else None), in one round trip.

    A generation that is missing is set to a new random value first (see the
    module's docstring). None when the cache cannot be reached, or lost a
    generation again before it could be read: the caller reads the database.
    """
    try:
        found = cache.get_many([*generation_keys, entry_key])
        if any(key not in found for key in generation_keys):
            for key in generation_keys:
                if key not in found:
                    cache.add(key, _new_generation(), GENERATION_SECONDS)
            found = {**cache.get_many(generation_keys), entry_key: found.get(entry_key)}
    except Exception:
        logger.warning("conditional_api: the validator cache is unreachable; reading the database", exc_info=True)
        return None
    generations = tuple(found.get(key) for key in generation_keys)
    if None in generations:
        return None
    entry = found.get(entry_key)
    if entry is not None and entry[0] == generations:
        return generations, entry[1:]
    return generations, None


def _fill(cache: BaseCache, key: str, value: tuple[Any, ...]) -> None:
    try:
        cache.set(key, value, ENTRY_SECONDS)
    except Exception:  # a cache that is down costs the cache, not the request
        logger.warning("conditional_api: could not fill the validator cache", exc_info=True)


def find_row(queryset: models.QuerySet[Any], lookup_field: str, value: Any, *, cached: bool) -> models.Model | None:
    """The row of ``queryset`` (a ``state_queryset``) at ``value``, or None.

    From the cache when ``cached`` allows, else one query. A row the query
    finds fills the cache; raises ``MultipleObjectsReturned`` as
    ``find_state_row`` does.
    """
    if not cached:
        return find_state_row(queryset, lookup_field, value)
    found = lookup(queryset, lookup_field, value)
    if found.row is not None:
        mark_cache_result(found.row, hit=True)
        return found.row
    row = find_state_row(queryset, lookup_field, value)
    if row is not None:
        found.fill(row)
        mark_cache_result(row, hit=False)
    return row


#: Whether the validator being read may come from the cache: set by the flow of a view that opts in.
_reads_cached: ContextVar[bool] = ContextVar("conditional_api_reads_cached", default=False)


@contextmanager
def reads_cached(allowed: bool) -> Iterator[None]:
    """While a strategy reads a validator: whether it may come from the cache (``cache_validators``, GET/HEAD).

    A strategy asks :func:`caching` when it reads, and keeps the answer for
    the confirmation it reads again after the view (``Current.reread``).
    """
    token = _reads_cached.set(allowed)
    try:
        yield
    finally:
        _reads_cached.reset(token)


def caching() -> bool:
    """Whether the validator read now may come from the cache (see :func:`reads_cached`)."""
    return _reads_cached.get()


def table_state(tables: Iterable[type[models.Model]], using: str, *, cached: bool) -> tuple[TableState, bool | None]:
    """The tables' summed change counts (``changes.read_tables``), and whether the cache served them.

    With ``cached``, outside a transaction, from an entry stamped with the
    tables' count generations when they are all still current (no query);
    otherwise one query, which fills the entry. The second value is True for
    a hit, False for a miss, None when the cache was not asked.
    """
    cache = _cache() if cached else None
    if cache is None or _in_transaction(using):
        return read_tables(tables, using), None
    labels = table_labels(tables)
    entry_key = f"{_PREFIX}:counts-entry:{using}:{'|'.join(labels)}"
    read = _read_entry(cache, entry_key, [_counts_generation(using, label) for label in labels])
    if read is None:
        return read_tables(tables, using), None
    generations, entry = read
    if entry is not None:
        return TableState(*entry), True
    state = read_tables(tables, using)
    _fill(cache, entry_key, (generations, state.changes, state.changed_at))
    return state, False


def invalidate(label: str, using: str, pks: Iterable[Any] | None, **kwargs: Any) -> None:
    """After a commit: move the written rows' generations on, or the table's when the rows are not known.

    Connected to ``changes.table_changed`` by the app's ``ready()``.
    """
    cache = _cache()
    if cache is None:
        return
    # Every write moves the table's count; inserts (no pks) move no row: no entry described a row that did not exist.
    rows = [_table_generation(using, label)] if pks is None else [_row_generation(using, label, pk) for pk in pks]
    keys = [_counts_generation(using, label), *rows]
    try:
        # A new random value, never an increment: Redis's INCR starts a key
        # that was evicted after Django checked it exists again from 1, and
        # the database and file caches increment by get-then-set, where two
        # writers can both store the same next value. A fresh value can
        # repeat no value an entry was ever stamped with.
        cache.set_many({key: _new_generation() for key in keys}, GENERATION_SECONDS)
    except Exception:
        logger.warning(
            "conditional_api: could not invalidate the validator cache; entries may lag this commit by up to %ss",
            ENTRY_SECONDS,
            exc_info=True,
        )
