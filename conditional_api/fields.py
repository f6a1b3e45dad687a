"""The bumped fields: columns the database computes on every write, never Python.

``version`` grows by one in SQL, so concurrent writers cannot lose an
increment; ``updated_at`` is the database's time of the write;
``last_modified`` moves to a later whole second on every write, as the
Last-Modified header needs, and an insert comes after every row deleted from
the table (see ``clock.py``).
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from django.db import models
from django.db.models import F
from django.db.models.expressions import Combinable, DatabaseDefault, Expression

from .clock import DatabaseNow, FirstWriteTime, next_write_time

__all__ = [
    "BumpedField",
    "LastModifiedField",
    "UpdatedAtField",
    "VersionField",
    "bump_fields",
    "bump_values",
    "bumped_attnames",
    "unread_bumps",
]

if TYPE_CHECKING:
    # The stubs make fields generic in the types they set and get; Django's classes are not subscriptable.
    _Field = models.Field[Any, Any]
    _PositiveBigIntegerField = models.PositiveBigIntegerField[int | Combinable, int]
    _DateTimeField = models.DateTimeField[datetime | Combinable, datetime]
else:
    _Field = models.Field
    _PositiveBigIntegerField = models.PositiveBigIntegerField
    _DateTimeField = models.DateTimeField


class BumpedField(_Field):
    """A field whose value the database computes on every write, never Python."""

    def bump_value(self, add: bool) -> Any:
        """The SQL value for an insert (``add``) or an update of the row."""
        raise NotImplementedError

    def get_default(self) -> Any:
        # A new instance holds the database default until its insert: one
        # marker per field, not one per instance, which a bulk load of
        # 100,000 instances would build (and the garbage collector walk) 200,000 of.
        if self.has_default() or not self.has_db_default():
            return super().get_default()
        return self._unwritten

    @cached_property
    def _unwritten(self) -> DatabaseDefault:
        # Read only where has_db_default(): an expression (Django wraps a plain value in Value()).
        return DatabaseDefault(cast(Expression, self.db_default), output_field=self)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = self.bump_value(add)
        setattr(model_instance, self.attname, value)
        return value

    def deconstruct(self) -> Any:
        # Migrations name the fields where users import them from, as they always have.
        name, path, args, kwargs = super().deconstruct()
        return name, path.replace(f"{__name__}.", "conditional_api.models.", 1), args, kwargs


class VersionField(BumpedField, _PositiveBigIntegerField):
    """A counter that starts at 1 and grows by one, in SQL, on every save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", 1)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def bump_value(self, add: bool) -> Any:
        return 1 if add else F(self.attname) + 1


class UpdatedAtField(BumpedField, _DateTimeField):
    """The database's time of the row's latest write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("db_default", DatabaseNow())
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def bump_value(self, add: bool) -> Any:
        return DatabaseNow()


class LastModifiedField(BumpedField, _DateTimeField):
    """The row's Last-Modified: the database clock, moved to a new whole second by every write.

    An insert comes after every row deleted from the table (``clock.LastModifiedFloor``):
    a re-created row must not repeat a date its URL had.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("db_default", DatabaseNow())
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def bump_value(self, add: bool) -> Any:
        return FirstWriteTime(self.model._meta.label) if add else next_write_time(self.attname)


def bump_fields(model: type[models.Model]) -> list[BumpedField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, BumpedField)]


def bumped_attnames(model: type[models.Model]) -> list[str]:
    """The columns every write of ``model`` bumps."""
    return [f.attname for f in bump_fields(model)]


def bump_values(model: type[models.Model], keep_last_modified: bool = False) -> dict[str, Any]:
    return {
        f.attname: f.bump_value(add=False)
        for f in bump_fields(model)
        if not (keep_last_modified and isinstance(f, LastModifiedField))
    }


def unread_bumps(instance: models.Model) -> list[str]:
    """The bumped columns of ``instance`` that still hold the SQL expression of a write, not its value."""
    return [
        f.attname
        for f in bump_fields(type(instance))
        if isinstance(instance.__dict__.get(f.attname), (models.Expression, DatabaseDefault, F))
    ]
