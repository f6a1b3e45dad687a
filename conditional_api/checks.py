"""System checks: wrong settings and unsafe managers fail at startup, with the fix.

The checks tagged ``urls`` walk the root URLconf, as Django's own URL checks
do: a ``VIEWS`` key that names no view in it is an error. Views that only
another URLconf routes (``request.urlconf``, a URLconf per host) are not
seen; silence ``conditional_api.E003`` there.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from .conf import SETTING_NAME, validate_settings
from .dependencies import declared_dependencies
from .models import VersionedModel, VersionedQuerySet

__all__ = ["Route", "register", "routes"]


def register() -> None:
    """Register the checks with Django's framework (from the app's ``ready()``)."""
    checks.register(check_settings)
    checks.register(check_versioned_managers)
    checks.register(check_dependencies)
    checks.register(check_view_names, checks.Tags.urls)


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
                    hint="Name a forward or reverse foreign key or a many-to-many field of the model, one hop.",
                    obj=model,
                    id="conditional_api.E002",
                )
            )
    return problems


# -- the views the root URLconf routes ---------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern of the root URLconf: the view it calls, its URL name and the URL kwargs it passes."""

    callback: Callable[..., Any]
    name: str | None
    pattern: str
    kwargs: frozenset[str]

    @property
    def view_class(self) -> type | None:
        """The class behind a class-based view (DRF's ``cls``, Django's ``view_class``)."""
        found = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)
        return found if isinstance(found, type) else None

    @property
    def basename(self) -> str | None:
        """A DRF viewset's basename, as its router (or ``as_view(basename=...)``) gave it."""
        basename = (getattr(self.callback, "initkwargs", None) or {}).get("basename")
        return basename if isinstance(basename, str) else None

    @property
    def actions(self) -> dict[str, str]:
        """A DRF viewset's HTTP methods and the actions they call, on this URL."""
        return dict(getattr(self.callback, "actions", None) or {})

    def view_paths(self) -> list[str]:
        """The dotted paths the view goes by: its class, and each function its decorators wrap."""
        found = []
        layer: Any = self.callback
        while layer is not None:
            found.append(_dotted_path(layer))
            layer = getattr(layer, "__wrapped__", None)
        found.append(_dotted_path(self.view_class))
        # Functions defined inside others (as_view()'s own view) are no name a setting can use.
        return [name for name in dict.fromkeys(found) if name and "<locals>" not in name]

    def names(self) -> set[str]:
        """Every name a ``VIEWS`` key can give this view by: URL name, view path, basename, ``basename.action``."""
        names = set(self.view_paths())
        if self.name:
            names.add(self.name)
        basename = self.basename
        if basename:
            actions = set(self.actions.values())
            if "create" in actions:
                # A create's 201 carries the new row's validator, read with the detail's options.
                actions.add("retrieve")
                names.add(f"{basename}-detail")
            names |= {basename, *(f"{basename}.{action}" for action in actions)}
        return names


def _dotted_path(obj: Any) -> str | None:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if isinstance(module, str) and isinstance(qualname, str) else None


def routes() -> list[Route]:
    """Every view the root URLconf routes, through nested includes and namespaces."""
    urlconf = getattr(settings, "ROOT_URLCONF", None)
    if urlconf is None:
        return []
    return list(_walk(get_resolver(urlconf).url_patterns, "", frozenset()))


def _walk(patterns: Iterable[URLPattern | URLResolver], prefix: str, kwargs: frozenset[str]) -> Iterator[Route]:
    for entry in patterns:
        pattern = entry.pattern
        captured = set(getattr(pattern, "converters", None) or {})
        if isinstance(pattern, RegexPattern):
            captured |= set(pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = kwargs | captured | set(entry.default_kwargs)
            yield from _walk(entry.url_patterns, prefix + str(pattern), inner)
        else:
            yield Route(entry.callback, entry.name, prefix + str(pattern), kwargs | captured | set(entry.default_args))


# -- CONDITIONAL_API["VIEWS"] keys name views ---------------------------------------


def _configured_views() -> Mapping[Any, Any]:
    user = getattr(settings, SETTING_NAME, None) or {}
    views = user.get("VIEWS") if isinstance(user, Mapping) else None
    return views if isinstance(views, Mapping) else {}  # anything else is conditional_api.E001


def check_view_names(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A ``VIEWS`` key that names no view configures nothing: the view it meant runs with the defaults."""
    keys = _configured_views()
    if not keys:
        return []
    known = set().union(*(route.names() for route in routes()))
    return [_unknown_view_key(str(key), known) for key in keys if key not in known]


def _unknown_view_key(key: str, known: set[str]) -> checks.CheckMessage:
    close = difflib.get_close_matches(key, sorted(known), n=3)
    guess = f"Did you mean {' or '.join(repr(name) for name in close)}? " if close else ""
    return checks.Error(
        f"{SETTING_NAME}['VIEWS'][{key!r}] names no view: nothing in the root URLconf has that URL name, "
        "DRF basename, '<basename>.<action>' or dotted view path, so its options apply to no request.",
        hint=f"{guess}Key a view by its URL name without the namespace ('article-detail'), its DRF basename "
        "('article'), '<basename>.<action>' ('article.update') or its dotted path.",
        id="conditional_api.E003",
    )
