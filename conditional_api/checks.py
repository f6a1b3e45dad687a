"""System checks: wrong settings, unsafe managers and views their settings cannot serve fail at startup, with the fix.

Settings (E001), ``depends_on`` paths (E002), managers (W001), the
validator cache (E005), metrics (E006) and verification's cache (E007) are
checked on their own. The checks tagged ``urls``
walk the root URLconf, as Django's own URL checks do: a ``VIEWS`` key that
names no view in it (E003), a strategy a view's model cannot serve (E004,
W002); the DRF adapter checks its views the same way, and what their
serializers show against ``depends_on`` (W003). Views that only another
URLconf routes (``request.urlconf``, a URLconf per host) are not seen;
silence ``conditional_api.E003`` there.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.cache.backends.dummy import DummyCache
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from django.utils.module_loading import import_string

from .conf import SETTING_NAME, api_settings, validate_settings, view_options
from .decorators import _Conditional, marked
from .dependencies import declared_dependencies
from .models import VersionedModel, VersionedQuerySet
from .strategies import CollectionStrategy, ModelStrategy, UpdatedAtStrategy, VersionStrategy
from .tables import tables_read
from .validators import ValidatorStrategy

__all__ = ["Route", "StrategyUse", "conditional_of", "register", "routes", "strategy_messages", "strategy_source"]


def register() -> None:
    """Register the checks with Django's framework (from the app's ``ready()``)."""
    checks.register(check_settings)
    checks.register(check_validator_cache, checks.Tags.caches)
    checks.register(check_observability, checks.Tags.caches)
    checks.register(check_versioned_managers)
    checks.register(check_dependencies)
    checks.register(check_view_names, checks.Tags.urls)
    checks.register(check_decorated_views, checks.Tags.urls)


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


# -- cache_validators needs a cache that keeps them -----------------------------------


def _user_setting() -> Mapping[str, Any]:
    user = getattr(settings, SETTING_NAME, None) or {}
    return user if isinstance(user, Mapping) else {}  # anything else is conditional_api.E001


def _keeps_nothing(config: Mapping[str, Any]) -> bool:
    try:
        backend = import_string(config.get("BACKEND", ""))
    except ImportError:
        return False  # Django's own cache checks say so
    return isinstance(backend, type) and issubclass(backend, DummyCache)


def _cache_unusable() -> str | None:
    """Why ``CONDITIONAL_API['CACHE']`` keeps no validator, or None when it can."""
    alias = _user_setting().get("CACHE")
    at = f"{SETTING_NAME}['CACHE']"
    if alias is None:
        return f"{at} is None"
    config = getattr(settings, "CACHES", {}).get(alias) if isinstance(alias, str) else None
    if not isinstance(config, Mapping):
        return f"{at} is {alias!r}, which is not in CACHES"
    if _keeps_nothing(config):
        return f"{at} is {alias!r}, a DummyCache, which keeps nothing"
    return None


def _caching_keys() -> Iterator[str]:
    """The settings that turn ``cache_validators`` on: ``DEFAULTS`` and ``VIEWS`` entries."""
    user = _user_setting()
    defaults = user.get("DEFAULTS")
    if isinstance(defaults, Mapping) and defaults.get("cache_validators") is True:
        yield f"{SETTING_NAME}['DEFAULTS']['cache_validators']"
    for key, entry in _configured_views().items():
        if isinstance(entry, Mapping) and entry.get("cache_validators") is True:
            yield f"{SETTING_NAME}['VIEWS'][{key!r}]['cache_validators']"


def check_validator_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``cache_validators`` without a cache that keeps entries caches nothing, silently."""
    problem = _cache_unusable()
    if problem is None:
        return []
    caches = getattr(settings, "CACHES", {}).items()
    keeping = [alias for alias, config in caches if isinstance(config, Mapping) and not _keeps_nothing(config)]
    choose = f"one of {', '.join(map(repr, keeping))}" if keeping else "a cache you add to CACHES"
    return [
        checks.Error(
            f"{key} is True, but {problem}: the validator cache caches nothing, and every revalidation "
            "reads the database.",
            hint=f"Set {SETTING_NAME}['CACHE'] to {choose} (local memory for one process, Redis for "
            f"several), or set {key} to False.",
            id="conditional_api.E005",
        )
        for key in _caching_keys()
    ]


# -- metrics and verification need their parts ---------------------------------------


def check_observability(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``METRICS`` without prometheus_client, or ``VERIFY_RATE`` without a cache to keep digests, does nothing."""
    user = _user_setting()
    problems: list[checks.CheckMessage] = []
    if user.get("METRICS") is True and find_spec("prometheus_client") is None:
        problems.append(
            checks.Error(
                f"{SETTING_NAME}['METRICS'] is True, but prometheus_client is not installed: nothing is counted.",
                hint="pip install 'conditional-api[metrics]', or set METRICS to False.",
                id="conditional_api.E006",
            )
        )
    rate = user.get("VERIFY_RATE")
    alias = user.get("CACHE") or "default"
    config = getattr(settings, "CACHES", {}).get(alias) if isinstance(alias, str) else None
    if isinstance(rate, (int, float)) and rate > 0 and (not isinstance(config, Mapping) or _keeps_nothing(config)):
        problems.append(
            checks.Error(
                f"{SETTING_NAME}['VERIFY_RATE'] is {rate!r}, but the cache that keeps served digests "
                f"({SETTING_NAME}['CACHE'], else 'default': {alias!r}) keeps nothing: no 304 is ever verified.",
                hint=f"Set {SETTING_NAME}['CACHE'] to a cache in CACHES that keeps entries (Redis when several "
                "processes serve), or set VERIFY_RATE to 0.",
                id="conditional_api.E007",
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
    views = _user_setting().get("VIEWS")
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


# -- strategies the view's model can serve ------------------------------------------


@dataclass(frozen=True)
class StrategyUse:
    """A view reading its validator with ``strategy`` from ``model``'s rows (``of_row``) or its table."""

    view: str
    model: type[models.Model]
    strategy: ValidatorStrategy
    of_row: bool
    #: The setting or code that chose the strategy.
    where: str
    #: How to choose another: a template with ``{strategy}`` in it.
    fix: str
    #: The list's queryset, when known without a request: the tables it reads are checked too.
    queryset: models.QuerySet[Any] | None = None


def strategy_source(
    keys: Iterable[str | None], explicit: Mapping[str, Any], new_key: str, in_code: tuple[str, str]
) -> tuple[str, str]:
    """Where a view's strategy comes from, and how to choose another: ``StrategyUse.where`` and ``.fix``.

    ``keys`` are the names the view is looked up by, least specific first;
    ``new_key`` is the ``VIEWS`` key to suggest when no entry sets the
    strategy; ``in_code`` is where the view's code sets it (which wins) and
    how to change it there.
    """
    if explicit.get("strategy") is not None:
        return in_code
    views = api_settings.VIEWS
    for key in reversed([key for key in keys if key]):
        entry = views.get(key)
        if isinstance(entry, Mapping) and "strategy" in entry:
            at = f"{SETTING_NAME}['VIEWS'][{key!r}]['strategy']"
            return at, f"Set {at} to {{strategy}}"
    where = f"{SETTING_NAME}['DEFAULTS']['strategy']" if "strategy" in api_settings.DEFAULTS else "the default strategy"
    return where, f"Set {SETTING_NAME}['VIEWS'][{new_key!r}]['strategy'] to {{strategy}}"


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def _servable(model: type[models.Model]) -> str:
    """The strategy to suggest for a row of ``model``: the first built-in whose fields it has."""
    for strategy in (VersionStrategy(), UpdatedAtStrategy()):
        if all(_has_field(model, name) for name in strategy.own_fields(model)):
            return strategy.name
    return "content"


def strategy_messages(uses: Iterable[StrategyUse]) -> list[checks.CheckMessage]:
    """A row strategy whose columns the model lacks (a 500); a list whose writes are not counted (304s save nothing)."""
    found: dict[tuple[str, str, str], checks.CheckMessage] = {}
    for use in uses:
        strategy = use.strategy
        if isinstance(strategy, ModelStrategy) and use.of_row:
            for name in strategy.own_fields(use.model):
                if not _has_field(use.model, name):
                    found.setdefault((use.view, use.where, name), _missing_field(use, name))
        # A row strategy validates a list as the collection strategy does.
        reads_table = isinstance(strategy, CollectionStrategy) or (
            isinstance(strategy, ModelStrategy) and not use.of_row
        )
        if reads_table:
            uncounted = _uncounted_tables(use)
            if uncounted:
                found.setdefault((use.view, use.where, ""), _uncounted(use, uncounted))
    return list(found.values())


def _missing_field(use: StrategyUse, name: str) -> checks.CheckMessage:
    label = use.model._meta.label
    versioned = "" if issubclass(use.model, VersionedModel) else f", or make {label} a VersionedModel"
    return checks.Error(
        f"The view {use.view} reads its validator with the {use.strategy.name!r} strategy ({use.where}), "
        f"but {label} has no field {name!r}: every request that reads one of its rows answers 500 "
        "(FieldDoesNotExist, or AttributeError on a GET without a precondition).",
        hint=use.fix.format(strategy=repr(_servable(use.model))) + versioned + ".",
        id="conditional_api.E004",
    )


def _uncounted_tables(use: StrategyUse) -> list[str]:
    """The tables the list reads whose writes are not counted ("?" when they cannot all be named)."""
    if use.queryset is None:
        return [] if CollectionStrategy().applies_to(use.model) else [use.model._meta.label]
    tables = tables_read(use.queryset.all())
    if tables is None:
        return ["?"]
    return sorted(model._meta.label for model in tables if not CollectionStrategy().applies_to(model))


def _uncounted(use: StrategyUse, tables: list[str]) -> checks.CheckMessage:
    label = ", ".join(tables) if tables != ["?"] else "a table its query names in raw SQL, or a prefetch"
    return checks.Warning(
        f"The view {use.view} validates a list with the {use.strategy.name!r} strategy ({use.where}), but "
        f"it reads {label}, whose writes are not counted (an unmanaged model, Django's sessions, a table "
        "no model has: see conditional_api.counting), so its ETag cannot follow them: every revalidation "
        "runs the full query and renders the body to hash it, and a 304 saves only the bytes sent.",
        hint=f"Make {label} a managed model or a VersionedModel, or stop reading it in the list's query, so "
        "that its writes are counted. To hash the body on purpose: " + use.fix.format(strategy="'content'") + ".",
        id="conditional_api.W002",
    )


# -- @conditional views ----------------------------------------------------------------


def conditional_of(route: Route) -> _Conditional | None:
    """What ``@conditional`` knows of the routed view, through any decorators around it."""
    return marked(route.callback, _Conditional)


def _decorated_model(core: _Conditional) -> type[models.Model] | None:
    """The model of the decorator's model or queryset; None for a callable (only a request tells) or ``validator=``."""
    source = core.queryset
    if isinstance(source, type) and issubclass(source, models.Model):
        return source
    return source.model if isinstance(source, models.QuerySet) else None


def check_decorated_views(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Whether the strategy of each ``@conditional`` view can serve the model it names."""
    if validate_settings():
        return []  # conditional_api.E001 comes first
    uses = []
    for route in routes():
        core = conditional_of(route)
        model = _decorated_model(core) if core is not None else None
        if core is None or model is None:
            continue
        keys = [core.view_path, route.name]
        try:
            options = view_options(keys, core.explicit)
        except ImproperlyConfigured:
            continue  # the view's first request says it, naming the argument
        in_code = ("strategy= of @conditional", "Pass strategy={strategy} to @conditional")
        where, fix = strategy_source(keys, core.explicit, route.name or core.view_path, in_code)
        of_row = core.lookup_url_kwarg in route.kwargs
        source = core.queryset
        queryset = source if isinstance(source, models.QuerySet) else None
        uses.append(StrategyUse(core.view_path, model, options.strategy, of_row, where, fix, queryset))
    return strategy_messages(uses)
