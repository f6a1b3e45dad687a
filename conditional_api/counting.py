"""Change counters for the models that are not versioned, so that a list reading them follows their writes.

A list's ETag follows the counter of every table its query reads
(``conditional_api.tables``): filtering articles by their author's name
reads the author table, scoping notes to a user's groups reads auth's
group links. Versioned models count their own writes. Every other managed
model of the project is counted here, on each write path Django exposes
for it:

* ``save()`` and ``delete()`` (cascades included), through ``post_save``
  and ``post_delete``; deleting a row counts its M2M ``through`` tables too,
  since Django sends no signal for the links it deletes with it;
* many-to-many links added, removed or cleared, through ``m2m_changed``
  (the ``through`` table is counted);
* ``QuerySet.update()``, ``bulk_create()`` and ``bulk_update()`` through the
  model's own managers (and ``create()`` and ``delete()`` of an auto-created
  ``through`` model, whose rows Django sends no signals for) (``Model.objects``, the base manager), whose QuerySet
  class gets a subclass that counts.

What cannot be seen: raw SQL and other services (call
``changes.record_change(Model)`` after them, in their transaction), and the
bulk methods of related managers (``user.notes.update()``). A plain
``save()`` outside a transaction commits the row and its count in two
statements; run writes in a transaction (``ATOMIC_REQUESTS``) to make them
one state.

Excluded: proxies (they share their model's count), unmanaged models (their
table may be a view, or written by another system: a list reading one is
validated by its content), and Django's sessions, whose writes no
representation shows. Connecting ``post_delete`` costs those models
Django's fast deletes, as it does versioned models.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from . import dependencies
from .changes import record_change
from .models import VersionedModel, VersionedQuerySet, update_shown_rows

__all__ = ["CountingQuerySet", "install", "is_counted"]

#: Models whose writes no representation shows: never counted (nor this package's own bookkeeping).
UNCOUNTED = frozenset({"sessions.Session"})

_counted: set[type[models.Model]] = set()


class CountingQuerySet(models.QuerySet[Any]):
    """A QuerySet whose bulk writes count the table, in the write's transaction."""

    def update(self, **kwargs: Any) -> int:
        """Update and count the rows; when a versioned model shows them (``depends_on``), bump what shows them."""
        with transaction.atomic(using=self.db, savepoint=False):
            pks: list[Any] | None = None
            if not dependencies.stops_of(self.model):
                rows = super().update(**kwargs)
            else:
                rows, pks = update_shown_rows(self, kwargs, set(kwargs))
            if rows:
                record_change(self.model, self.db, pks=pks)
        return rows

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            if created:
                # Upserts rewrite rows whose pks are not known here: the whole table.
                record_change(self.model, self.db, pks=None if kwargs.get("update_conflicts") else ())
        return created

    bulk_create.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            rows = super().bulk_update(objs, fields, batch_size=batch_size)
            if rows:
                record_change(self.model, self.db, pks=[obj.pk for obj in objs])
        return rows

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def create(self, **kwargs: Any) -> Any:
        # Django sends no save signals for an auto-created M2M ``through`` model's rows.
        with transaction.atomic(using=self.db, savepoint=False):
            obj = super().create(**kwargs)
            if obj._meta.auto_created:
                record_change(self.model, self.db, pks=[obj.pk])
        return obj

    create.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        # Nor delete signals: count the table when the statement deleted any of them.
        with transaction.atomic(using=self.db, savepoint=False):
            deleted, by_label = super().delete()
            if by_label.get(self.model._meta.label) and self.model._meta.auto_created:
                record_change(self.model, self.db)
        return deleted, by_label

    delete.alters_data = True  # type: ignore[attr-defined]


_counting_classes: dict[type[models.QuerySet[Any]], type[models.QuerySet[Any]]] = {models.QuerySet: CountingQuerySet}


def _counting_class(queryset_class: type[models.QuerySet[Any]]) -> type[models.QuerySet[Any]]:
    """``queryset_class`` with counting bulk writes; a module attribute, so that its querysets pickle."""
    if issubclass(queryset_class, (CountingQuerySet, VersionedQuerySet)):
        return queryset_class
    if queryset_class not in _counting_classes:
        name = f"Counting_{queryset_class.__module__.replace('.', '_')}_{queryset_class.__qualname__}".replace(".", "_")
        counting = type(name, (CountingQuerySet, queryset_class), {"__module__": __name__, "__qualname__": name})
        setattr(sys.modules[__name__], name, counting)
        _counting_classes[queryset_class] = counting
    return _counting_classes[queryset_class]


def is_counted(model: type[models.Model]) -> bool:
    """Whether every write path Django exposes for ``model``'s table moves its change counter."""
    concrete = model._meta.concrete_model or model
    return issubclass(concrete, VersionedModel) or concrete in _counted


def _countable(model: type[models.Model]) -> bool:
    meta = model._meta
    return not (
        meta.proxy or not meta.managed or meta.swapped or meta.label in UNCOUNTED or meta.app_label == "conditional_api"
    )


def _count(manager: models.Manager[Any]) -> None:
    # The manager's own QuerySet class (set by from_queryset()), swapped on
    # this manager instance only: related managers keep theirs (see above).
    manager._queryset_class = _counting_class(manager._queryset_class)  # type: ignore[attr-defined]


def count_managers() -> None:
    """Swap the QuerySets of every counted model's managers; again whenever Django builds them anew.

    Django copies a model's managers, and builds its automatic base
    manager, afresh when the app registry changes
    (``override_settings(INSTALLED_APPS=...)``, a model class registered at
    runtime); the app follows those changes (``apps.ConditionalApiConfig``).
    """
    for model in _counted:
        for manager in {*model._meta.managers, model._meta.base_manager}:
            _count(manager)


def install() -> None:
    """Count the writes of every managed model that is not versioned; once, from the app's ``ready()``."""
    if _counted:
        return
    for model in apps.get_models(include_auto_created=True):
        if issubclass(model, VersionedModel) or not _countable(model):
            continue
        _counted.add(model)
        uid = model._meta.label
        if not model._meta.auto_created:
            # Django sends no save or delete signal for an auto-created through
            # model's rows: a receiver would only cost them their fast deletes.
            post_save.connect(_saved, sender=model, dispatch_uid=f"conditional_api.count.save.{uid}")
            post_delete.connect(_deleted, sender=model, dispatch_uid=f"conditional_api.count.delete.{uid}")
    count_managers()
    m2m_changed.connect(_links_changed, dispatch_uid="conditional_api.count.m2m")
    for model in apps.get_models():
        links = [through for through in dependencies.through_models(model) if through in _counted]
        if links:
            # Deleting a row deletes its M2M links, and Django sends no signal
            # for the rows of an auto-created through model.
            post_delete.connect(
                _links_deleted(links),
                sender=model,
                weak=False,
                dispatch_uid=f"conditional_api.count.links.{model._meta.label}",
            )


def _saved(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    record_change(sender, using, pks=[instance.pk])


def _deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    record_change(sender, using, pks=[instance.pk])


def _links_deleted(links: list[type[models.Model]]) -> Callable[..., None]:
    def record(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
        for through in links:
            record_change(through, using)

    return record


def _links_changed(sender: type[models.Model], action: str, pk_set: set[Any] | None, using: str, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove") and not pk_set:
        return
    if action in ("post_add", "post_remove", "post_clear") and is_counted(sender):
        record_change(sender, using)
