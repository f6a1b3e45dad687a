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

from collections.abc import Callable
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Sum

__all__ = ["record_change", "read_changes", "on_table_change"]

#: Called with (label, using) after a transaction that changed the table commits.
_commit_listeners: list[Callable[[str, str], None]] = []


def on_table_change(listener: Callable[[str, str], None]) -> None:
    """Call ``listener(label, using)`` after each commit that changed a table."""
    if listener not in _commit_listeners:
        _commit_listeners.append(listener)


class _Recorded:
    """The on-commit marker of one table's bump in the current transaction.

    Django drops a savepoint's on-commit callbacks when the savepoint rolls
    back, together with the bump itself; so while the marker is queued, the
    bump it stands for is still part of the transaction.
    """

    __slots__ = ("label", "using", "shard", "read")

    def __init__(self, label: str, using: str, shard: int | None) -> None:
        self.label = label
        self.using = using
        #: The counter row this transaction holds (PostgreSQL), for later bumps.
        self.shard = shard
        #: Whether this transaction read the count since the bump: its next
        #: write to the table must bump again, or the ETag computed in
        #: between would describe two states.
        self.read = False

    def __call__(self) -> None:
        for listener in list(_commit_listeners):
            listener(self.label, self.using)


def _recorded(connection: Any, label: str) -> _Recorded | None:
    """The latest live bump of ``label`` in the open transaction, if any."""
    if not connection.in_atomic_block:
        return None
    for _, func, *_ in reversed(connection.run_on_commit):
        if isinstance(func, _Recorded) and func.label == label:
            return func
    return None


def in_current_transaction(marker: object, using: str) -> bool:
    """Whether ``marker`` (returned by :func:`record_change`) stands for a write of the open transaction."""
    connection = connections[using]
    return connection.in_atomic_block and any(func is marker for _, func, *_ in connection.run_on_commit)


def record_change(model: type[models.Model], using: str | None = None) -> object:
    """Count a write to ``model``'s table in the current transaction.

    Call it after raw SQL that inserts or deletes rows of a versioned table
    (``touch()`` covers raw updates of existing rows); the ORM's write paths
    call it themselves. Returns a marker of the write, for
    :func:`in_current_transaction`.
    """
    from .models import ChangeCounter

    using = using or router.db_for_write(model)
    label = _label(model)
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False):
        marker = _recorded(connection, label)
        if marker is None or marker.read:
            shard = _bump(ChangeCounter, connection, label, marker.shard if marker else None)
            # A new marker, even for a second bump: if a savepoint rolls this
            # bump back, the earlier marker (already read) is the latest again.
            marker = _Recorded(label, using, shard)
            transaction.on_commit(marker, using=using)
    return marker


def _bump(counter: type[models.Model], connection: Any, label: str, held: int | None) -> int | None:
    table = connection.ops.quote_name(counter._meta.db_table)
    with connection.cursor() as cursor:
        if held is not None:
            cursor.execute(f"UPDATE {table} SET value = value + 1 WHERE id = %s", [held])
            return held
        if connection.features.has_select_for_update_skip_locked:
            cursor.execute(
                f"UPDATE {table} SET value = value + 1 WHERE id = ("
                f"SELECT id FROM {table} WHERE label = %s ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
                [label],
            )
            row = cursor.fetchone()
            if row is not None:
                return int(row[0])
            cursor.execute(f"INSERT INTO {table} (label, value) VALUES (%s, 1) RETURNING id", [label])
            return int(cursor.fetchone()[0])
        # SQLite: one writer at a time, so one row per table.
        cursor.execute(f"UPDATE {table} SET value = value + 1 WHERE label = %s", [label])
        if cursor.rowcount == 0:
            cursor.execute(f"INSERT INTO {table} (label, value) VALUES (%s, 1)", [label])
        return None


def _label(model: type[models.Model]) -> str:
    # Proxies share their concrete model's table, and so its count.
    return model._meta.concrete_model._meta.label


def read_changes(model: type[models.Model], using: str | None = None) -> int:
    """The number of committed write transactions ``model``'s table has seen (one query)."""
    from .models import ChangeCounter

    using = using or router.db_for_read(model)
    marker = _recorded(connections[using], _label(model))
    if marker is not None:
        marker.read = True
    total = ChangeCounter.objects.using(using).filter(label=_label(model)).aggregate(total=Sum("value"))["total"]
    return int(total or 0)
