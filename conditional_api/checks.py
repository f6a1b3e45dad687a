"""System checks: wrong settings and unsafe managers fail at startup, with the fix."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks

from .conf import validate_settings
from .dependencies import declared_dependencies
from .models import VersionedModel, VersionedQuerySet

__all__ = ["register"]


def register() -> None:
    """Register the checks with Django's framework (from the app's ``ready()``)."""
    checks.register(check_settings)
    checks.register(check_versioned_managers)
    checks.register(check_dependencies)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            message, hint="See the settings reference in the conditional_api README.", id="conditional_api.E001"
        )
        for message in validate_settings()
    ]


def check_versioned_managers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A versioned model whose default manager's QuerySet does not bump on bulk writes serves stale data."""
    problems: list[checks.CheckMessage] = []
    for model in apps.get_models():
        if not issubclass(model, VersionedModel):
            continue
        queryset_class = type(model._default_manager.get_queryset())
        if not issubclass(queryset_class, VersionedQuerySet):
            problems.append(
                checks.Warning(
                    f"{model._meta.label}'s default manager returns {queryset_class.__qualname__}, "
                    "whose update() and bulk_update() do not bump version, updated_at and last_modified.",
                    hint="Build the manager on conditional_api.models.VersionedQuerySet, e.g. "
                    "VersionedManager.from_queryset(YourQuerySet) with YourQuerySet(VersionedQuerySet).",
                    obj=model,
                    id="conditional_api.W001",
                )
            )
    return problems


def check_dependencies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A ``depends_on`` entry that names no relation would silently cover nothing."""
    problems: list[checks.CheckMessage] = []
    for model in apps.get_models():
        if not issubclass(model, VersionedModel):
            continue
        try:
            declared_dependencies(model)
        except (ValueError, AttributeError, TypeError) as error:
            problems.append(
                checks.Error(
                    str(error),
                    hint="Name forward or reverse foreign keys or many-to-many fields, one per hop: author__company.",
                    obj=model,
                    id="conditional_api.E002",
                )
            )
    return problems
