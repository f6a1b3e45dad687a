"""Per-table change counters: the state a collection's validator reads.

A list page can change whenever any row of its table changes: a row on the
page, a row entering or leaving the filtered set (which moves ``count`` and
the ``next`` link), a reorder. An exact fingerprint of the page costs a query
that grows with ``OFFSET`` and with filters over joins; a counter per table
costs one indexed read of a few rows, whatever the table size, filters and
page. The price is that any write to the table changes the ETag of every list
over it, so clients refetch lists after unrelated writes. Measured on
PostgreSQL with 100,000 rows, the read takes about 0.25 ms at every size.

Every write path of versioned models calls :func:`record_change` inside the
write's transaction, so the new count becomes visible exactly when the data
does: a reader can never see the new count with the old rows. One bump per
table per transaction is enough, because the transaction's writes become
visible together.

The writer's side: a bump locks a counter row until commit. With a single
row per table, writers of one table would queue there, and two transactions
bumping two tables in opposite orders would deadlock. So a writer takes a
row no other open transaction holds (``FOR UPDATE SKIP LOCKED``) or inserts a
new one; the table's count is the sum, which grows by one per committed
transaction that wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, models, router, transaction
from django.dispatch import Signal

from .clock import SQLITE_NOW, DatabaseNow

__all__ = [
    "ChangeCounter",
    "TableState",
    "changes_committed",
    "forget_inserted",
    "in_current_transaction",
    "inserted_in_open_transaction",
    "read_changes",
    "read_state",
    "read_tables",
    "record_change",
    "remember_inserted",
    "remember_write",
    "saved_in_open_transaction",
    "table_changed",
    "table_labels",
    "written_in_open_transaction",
]

logger = logging.getLogger(__name__)

#: Sent after a transaction that wrote a versioned table commits, once per
#: table: ``label`` (the model's label), ``using`` (the database alias) and
#: ``pks`` (the rows written, or None when a write did not say which). A
#: receiver that raises is logged, never stops the others.
table_changed = Signal()

#: Sent once after a transaction that wrote versioned or counted tables
#: commits, after its ``table_changed`` signals: ``using`` and ``changes``,
#: a dict of each written table's label to the primary keys written (a
#: frozenset, or None when a write did not say which). One signal per
#: transaction, for receivers that act once per commit (a CDN purge); a
#: receiver that raises is logged, never stops the others.
changes_committed = Signal()


class _Committed:
    """The on-commit entry right after a transaction's markers: what they all wrote, told once.

    It is queued with the transaction's first marker and in the same
    savepoint, so a savepoint rollback that drops it drops every marker
    that reports to it; markers made later find it or queue a new one.
    """

    __slots__ = ("changes", "using")

    def __init__(self, using: str) -> None:
        self.using = using
        self.changes: dict[str, frozenset[Any] | None] = {}

    def note(self, label: str, pks: set[Any] | None) -> None:
        """A marker of this transaction ran: its table's rows join what the commit wrote."""
        earlier = self.changes.get(label, frozenset())
        self.changes[label] = None if pks is None or earlier is None else earlier | pks

    def __call__(self) -> None:
        for receiver, result in changes_committed.send_robust(
            sender=ChangeCounter, using=self.using, changes=dict(self.changes)
        ):
            if isinstance(result, Exception):
                logger.error("conditional_api: %r failed after a commit on %s", receiver, self.using, exc_info=result)


class ChangeCounter(models.Model):
    """How many write transactions a versioned table has seen: what a list's ETag reads.

    A table's count is the sum of its rows (shards). A writer bumps a shard
    no other open transaction holds, or adds one, so writers never wait on
    each other here and cannot deadlock through it.
    """

    label = models.CharField(max_length=255, help_text="The model's label, such as blog.Article.")
    value = models.BigIntegerField(default=0)
    # With the count, it tells a state after a reset (flush, a restored
    # backup) from the earlier state that had the same count.
    changed_at = models.DateTimeField(db_default=DatabaseNow(), help_text="The database time of the latest bump.")

    class Meta:
        app_label = "conditional_api"
        indexes = [models.Index(fields=["label"], name="conditional_api_label_idx")]

    def __str__(self) -> str:
        return f"{self.label}: {self.value}"


class _Recorded:
    """The on-commit marker of one table's bump in the current transaction.

    Django drops a savepoint's on-commit callbacks when the savepoint rolls
    back, together with the bump itself; so while the marker is queued, the
    bump it stands for is still part of the transaction.
    """

    __slots__ = ("committed", "inserted", "label", "pks", "read", "shard", "using")

    def __init__(self, label: str, using: str, shard: int | None, committed: _Committed) -> None:
        self.label = label
        self.using = using
        #: The transaction's entry that reports every marker's rows at once.
        self.committed = committed
        #: The primary keys of the rows written under this marker; None when
        #: some write did not say which (the validator cache then drops the table).
        self.pks: set[Any] | None = set()
        #: The counter row this transaction holds (PostgreSQL), for later bumps.
        self.shard = shard
        #: Whether this transaction read the count since the bump: its next
        #: write to the table must bump again, or the ETag computed in
        #: between would describe two states.
        self.read = False
        #: The primary keys of the rows this transaction inserted under this marker.
        self.inserted: set[Any] = set()

    def add(self, pks: Iterable[Any] | None) -> None:
        if pks is None:
            self.pks = None
        elif self.pks is not None:
            self.pks.update(pks)

    def __call__(self) -> None:
        """After the commit: whoever keeps state derived from these rows hears of it."""
        self.committed.note(self.label, self.pks)
        for receiver, result in table_changed.send_robust(
            sender=ChangeCounter, label=self.label, using=self.using, pks=self.pks
        ):
            if isinstance(result, Exception):
                logger.error("conditional_api: %r failed after a commit to %s", receiver, self.label, exc_info=result)


def _recorded(connection: Any, label: str) -> _Recorded | None:
    """The latest live bump of ``label`` in the open transaction, if any.

    A linear scan of the transaction's on-commit queue, which holds one
    marker per table written (plus the application's own callbacks).
    ``connection.run_on_commit`` is Django's private queue, read here and
    reordered only by :func:`_on_commit_first`: no public API looks into
    it, and it is the one place that already forgets a rolled-back
    savepoint's callbacks together with its writes. A registry of the package's own would have to follow savepoint
    rollbacks, which Django does not signal.
    """
    markers = _markers(connection, label)
    return markers[-1] if markers else None


def _markers(connection: Any, label: str) -> list[_Recorded]:
    """Every live bump of ``label`` in the open transaction, oldest first (see :func:`_recorded`)."""
    if not connection.in_atomic_block:
        return []
    return [func for _, func, *_ in connection.run_on_commit if isinstance(func, _Recorded) and func.label == label]


def in_current_transaction(marker: object, using: str) -> bool:
    """Whether ``marker`` (returned by :func:`record_change`) stands for a write of the open transaction."""
    connection = connections[using]
    return connection.in_atomic_block and any(func is marker for _, func, *_ in connection.run_on_commit)


def written_in_open_transaction(model: type[models.Model], using: str) -> bool:
    """Whether the open transaction on ``using`` has written ``model``'s table (and not rolled it back)."""
    return _recorded(connections[using], _labels(model)[0]) is not None


def remember_inserted(model: type[models.Model], pks: Iterable[Any], using: str) -> None:
    """Note that the open transaction inserted these rows of ``model`` (after :func:`record_change`)."""
    marker = _recorded(connections[using], _own_label(model))
    if marker is not None:
        marker.inserted.update(pk for pk in pks if pk is not None)


def forget_inserted(model: type[models.Model], pk: Any, using: str) -> None:
    """A validator of this row was read in the open transaction: its later writes here need dates of their own.

    What was read may be served (a response built inside the transaction),
    so the row's next write must not keep the date that response carries.
    """
    connection = connections[using]
    if not connection.run_on_commit:  # no write queued a marker: nothing was inserted here
        return
    for marker in _markers(connection, _own_label(model)):
        marker.inserted.discard(pk)


def inserted_in_open_transaction(model: type[models.Model], using: str) -> set[Any]:
    """The rows of ``model`` the open transaction inserted, in no savepoint rolled back since.

    A row inserted in this transaction has no committed state yet: every
    later write in the transaction belongs to its first state, and needs no
    date of its own.
    """
    return set().union(*(marker.inserted for marker in _markers(connections[using], _own_label(model))))


def remember_write(instance: models.Model, marker: object, using: str) -> None:
    """Note on ``instance`` which transaction (and savepoints) wrote it last.

    ``marker`` is from :func:`record_change`.
    """
    # This package's own attribute on the instance, not a field the model declares.
    # ``savepoint_ids`` (private, read only): no public API lists the open savepoints.
    instance._conditional_api_write = (marker, tuple(connections[using].savepoint_ids))  # type: ignore[attr-defined]


def saved_in_open_transaction(instance: models.Model, using: str) -> bool:
    """Whether ``save()`` wrote this instance in the open transaction, in no savepoint rolled back since.

    A savepoint released since also counts as "not known", which only costs
    a Last-Modified second.
    """
    written = getattr(instance, "_conditional_api_write", None)
    if written is None:
        return False
    marker, savepoints = written
    return in_current_transaction(marker, using) and set(savepoints) <= set(connections[using].savepoint_ids)


def record_change(model: type[models.Model], using: str | None = None, pks: Iterable[Any] | None = None) -> object:
    """Count a write to ``model``'s table in the current transaction.

    Call it after raw SQL that inserts or deletes rows of a versioned table
    (``touch()`` covers raw updates of existing rows); the ORM's write paths
    call it themselves. With multi-table inheritance the parents' and the
    children's tables count too: a write changes rows of each.
    ``pks`` names the rows written, for the validator cache: None when they
    are not known, empty for inserts (no cached row can describe them).
    Returns a marker of the write to ``model``'s own table, for
    :func:`in_current_transaction`.
    """
    using = using or router.db_for_write(model)
    pks = None if pks is None else list(pks)
    marker = None
    for label in _labels(model):
        recorded = _record(label, using)
        recorded.add(pks)
        marker = marker or recorded
    return marker


def _record(label: str, using: str) -> _Recorded:
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False):
        marker = _recorded(connection, label)
        if marker is None or marker.read:
            shard = _bump(ChangeCounter, connection, label, marker.shard if marker else None)
            # A new marker, even for a second bump: if a savepoint rolls this
            # bump back, the earlier marker (already read) is the latest again.
            marker = _Recorded(label, using, shard, _committed(connection, using))
            _on_commit_first(marker, using)
    return marker


def _committed(connection: Any, using: str) -> _Committed:
    """The open transaction's :class:`_Committed` entry; queued after its markers when there is none yet."""
    for _, func, *_ in connection.run_on_commit:
        if isinstance(func, _Committed):
            return func
    committed = _Committed(using)
    _on_commit_first(committed, using)
    return committed


def _on_commit_first(marker: _Recorded | _Committed, using: str) -> None:
    """Queue ``marker`` after the package's earlier markers and before the application's own callbacks.

    A :class:`_Committed` entry, queued before its transaction's first
    marker, stays right after the markers: later ones go in before it.

    Django runs the queue in order and gives up on the rest when a callback
    raises (unless it was queued ``robust``): an application callback that
    fails after the commit must not keep the validator cache on the rows
    from before it. Robust, so the marker never stops theirs either. The
    entry is queued through the public API, then moved within Django's
    private queue (see :func:`_recorded`), which keeps the savepoints it
    belongs to.
    """
    transaction.on_commit(marker, using=using, robust=True)
    queue = connections[using].run_on_commit
    first = next((i for i, (_, func, *_) in enumerate(queue) if not isinstance(func, _Recorded)), len(queue))
    queue.insert(first, queue.pop())


_NOW_SQL = {"postgresql": "STATEMENT_TIMESTAMP()", "sqlite": SQLITE_NOW.replace("%", "%%")}


def _bump(counter: type[models.Model], connection: Any, label: str, held: int | None) -> int | None:
    table = connection.ops.quote_name(counter._meta.db_table)
    bump = f"value = value + 1, changed_at = {_NOW_SQL.get(connection.vendor, 'CURRENT_TIMESTAMP')}"
    with connection.cursor() as cursor:
        if held is not None:
            cursor.execute(f"UPDATE {table} SET {bump} WHERE id = %s", [held])
            return held
        if connection.features.has_select_for_update_skip_locked:
            cursor.execute(
                f"UPDATE {table} SET {bump} WHERE id = ("
                f"SELECT id FROM {table} WHERE label = %s ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
                [label],
            )
            row = cursor.fetchone()
            if row is not None:
                return int(row[0])
            cursor.execute(f"INSERT INTO {table} (label, value) VALUES (%s, 1) RETURNING id", [label])
            return int(cursor.fetchone()[0])
        # SQLite: one writer at a time, so one row per table.
        cursor.execute(f"UPDATE {table} SET {bump} WHERE label = %s", [label])
        if cursor.rowcount == 0:
            cursor.execute(f"INSERT INTO {table} (label, value) VALUES (%s, 1)", [label])
        return None


def _own_label(model: type[models.Model]) -> str:
    """The label of the table ``model``'s rows live in: the first of :func:`_labels`, without walking the others."""
    return (model._meta.concrete_model or model)._meta.label


def _labels(model: type[models.Model]) -> list[str]:
    """The tables a write to ``model``'s rows changes: its own first, then its parents' and children's.

    Proxies share their concrete model's table, and so its count. With
    multi-table inheritance a child's row is also a row of each parent
    table, and a write through a parent may change a child's row: both
    sides count.
    """
    concrete = model._meta.concrete_model or model
    return [
        concrete._meta.label,
        *(parent._meta.label for parent in concrete._meta.get_parent_list()),
        *(child._meta.label for child in _children(concrete)),
    ]


def _children(model: type[models.Model]) -> list[type[models.Model]]:
    """The models that inherit ``model``'s table (multi-table inheritance), at any depth."""
    found = []
    for relation in model._meta.related_objects:
        if relation.parent_link and relation.related_model is not None:
            child = relation.related_model
            found.extend([child, *_children(child)])
    return found


@dataclass(frozen=True)
class TableState:
    """What a table's counter says: how many write transactions, and when the latest bump was."""

    changes: int
    changed_at: datetime | None


def read_state(model: type[models.Model], using: str | None = None) -> TableState:
    """The table's count and latest bump time, in one query (see :func:`read_tables`)."""
    return read_tables([model], using or router.db_for_read(model))


def table_labels(tables: Iterable[type[models.Model]]) -> list[str]:
    """The labels of the tables ``tables``' rows live in, sorted: the counters :func:`read_tables` sums."""
    return sorted({_own_label(model) for model in tables})


def read_tables(tables: Iterable[type[models.Model]], using: str) -> TableState:
    """The tables' counts summed, and their latest bump time, in one query (what a list's ETag reads).

    One sum serves as well as a count per table: counts only grow, by one
    per committed transaction that wrote the table, so two states of the
    tables with the same sum are the same state; after a reset (a flush, a
    restored backup) the latest bump time tells them apart.

    Raw SQL rather than ``aggregate()``: this query is most of a list 304,
    and building it through the ORM took about half of it (see
    docs/benchmarks.md). The date goes through Django's converters, as the
    ORM would convert it.
    """
    labels = table_labels(tables)
    connection = connections[using]
    if connection.in_atomic_block:
        for label in labels:
            marker = _recorded(connection, label)
            if marker is not None:
                marker.read = True
    quote = connection.ops.quote_name
    table = quote(ChangeCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT SUM({quote('value')}), MAX({quote('changed_at')}) FROM {table} "
            f"WHERE {quote('label')} IN ({', '.join(['%s'] * len(labels))})",
            labels,
        )
        changes, changed_at = cursor.fetchone()
    field = ChangeCounter._meta.get_field("changed_at")
    column = field.get_col(ChangeCounter._meta.db_table)
    for convert in (*connection.ops.get_db_converters(column), *field.get_db_converters(connection)):
        changed_at = convert(changed_at, column, connection)
    return TableState(int(changes or 0), changed_at)


def read_changes(model: type[models.Model], using: str | None = None) -> int:
    """The number of committed write transactions ``model``'s table has seen (one query)."""
    return read_state(model, using).changes
