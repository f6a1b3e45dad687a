"""The ``CONDITIONAL_API`` setting: defaults, user overrides and per-view lookup.

Everything is configured from one namespaced setting::

    CONDITIONAL_API = {
        "RELEASE": "2026.11.1",
        "DEFAULTS": {"cache_control": "no-cache"},
        "VIEWS": {
            "article-detail": {"strategy": "version", "require_precondition": True},
            "author": {"strategy": "updated_at"},
        },
    }

A view's options are merged, later winning: the built-in defaults, ``DEFAULTS``,
then every ``VIEWS`` entry that names the view (dotted view path, DRF basename,
URL name, ``<basename>.<action>``), then what the code passes explicitly
(decorator arguments, a DRF view's ``conditional_options``), as DRF does with
its class attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from .cache_policy import policy_errors
from .validators import ValidatorStrategy

__all__ = ["ViewOptions", "api_settings", "validate_settings", "view_options"]

SETTING_NAME = "CONDITIONAL_API"

#: What each view gets unless the settings or the code say otherwise.
VIEW_DEFAULTS: dict[str, Any] = {
    "strategy": "version",
    "require_precondition": False,
    "cache_control": "no-cache",
    "query_params": "__all__",
    "vary": (),
    "cache_validators": False,
    # The representation is the same for every user: shared caches may keep
    # an authenticated answer as the view's Cache-Control allows.
    "shared": False,
}

TOP_LEVEL_DEFAULTS: dict[str, Any] = {
    "RELEASE": "",
    # When the current RELEASE went out (ISO 8601 with a time zone): a floor
    # for Last-Modified, so If-Modified-Since clients refetch old shapes too.
    "RELEASED_AT": None,
    "DEFAULTS": {},
    "VIEWS": {},
    # Renderer formats answered without validators: the browsable API's HTML
    # embeds the user and a CSRF token, so its bytes are not a function of
    # the row's version.
    "SKIP_FORMATS": ("api",),
    # The Django cache alias that views with cache_validators keep their
    # validators in (conditional_api.cache); None: no validator cache.
    "CACHE": None,
    # Count decisions in Prometheus (conditional_api.metrics; the metrics extra).
    "METRICS": False,
    # The share of 304s (0 to 1) that also build their 200 to catch a stale
    # validator (conditional_api.verification); 0: none, nothing recorded.
    "VERIFY_RATE": 0,
    # A 304 found stale is answered with the 200 it should have been.
    "VERIFY_SERVE_200": False,
    # The response header that names what an answer shows, for a CDN's
    # purge by key (conditional_api.surrogates); None: no such header.
    "SURROGATE_KEYS": None,
}

#: The headers ``SURROGATE_KEYS`` may name: Fastly's, Cloudflare's, Varnish's xkey vmod's.
SURROGATE_KEY_HEADERS = ("Surrogate-Key", "Cache-Tag", "xkey")

STRATEGY_ALIASES = {
    "version": "conditional_api.strategies.VersionStrategy",
    "updated_at": "conditional_api.strategies.UpdatedAtStrategy",
    "content": "conditional_api.strategies.ContentStrategy",
    "collection": "conditional_api.strategies.CollectionStrategy",
}


@dataclass(frozen=True)
class ViewOptions:
    """The resolved options of one view, as the request flow uses them."""

    strategy: ValidatorStrategy
    require_precondition: bool
    cache_control: str | None
    query_params: frozenset[str] | None  # None: every query parameter
    vary: tuple[str, ...]
    cache_validators: bool = False
    shared: bool = False


class _Settings:
    """Read ``settings.CONDITIONAL_API`` lazily, each key once, reloaded on ``setting_changed``.

    Several keys are read on every request (the release, the verification
    rate, the surrogate key header): a value read once is kept as an
    attribute of its own, so the next read is a plain attribute lookup.
    """

    def _user(self) -> Mapping[str, Any]:
        return getattr(settings, SETTING_NAME, {}) or {}

    def __getattr__(self, name: str) -> Any:
        if name not in TOP_LEVEL_DEFAULTS:
            raise AttributeError(f"Invalid {SETTING_NAME} key: {name!r}")
        value = self._user().get(name, TOP_LEVEL_DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def reload(self) -> None:
        """Forget every value read: the next read takes the setting as it is now."""
        self.__dict__.clear()

    @property
    def release(self) -> str:
        return str(self.RELEASE)

    @property
    def surrogate_key_header(self) -> str | None:
        """The header that carries an answer's surrogate keys; None when off (or misnamed: E001 says so)."""
        header = self.SURROGATE_KEYS
        return header if header in SURROGATE_KEY_HEADERS else None

    @property
    def released_at(self) -> datetime | None:
        value = self.RELEASED_AT
        return _parse_released_at(value) if isinstance(value, str) else None


api_settings = _Settings()


@lru_cache(maxsize=8)
def _parse_released_at(value: str) -> datetime | None:
    """Parsed once per setting value: it is read for every validator."""
    moment = parse_datetime(value)
    return moment if moment is not None and moment.tzinfo is not None else None


def _strategy_error(where: str, value: Any) -> str:
    return (
        f"{where} is {value!r}; expected one of: {', '.join(STRATEGY_ALIASES)}, "
        "or the dotted path of a ValidatorStrategy subclass."
    )


def _view_option_errors(where: str, options: Any) -> list[str]:
    if not isinstance(options, Mapping):
        return [f"{where} must be a dict of view options, not {type(options).__name__}."]
    errors = []
    for key, value in options.items():
        at = f"{where}[{key!r}]"
        if key not in VIEW_DEFAULTS:
            errors.append(f"{where} has the unknown key {key!r}; expected one of: {', '.join(VIEW_DEFAULTS)}.")
        elif key == "strategy":
            try:
                resolve_strategy(value)
            except ImproperlyConfigured:
                errors.append(_strategy_error(at, value))
        elif key in ("require_precondition", "cache_validators", "shared") and not isinstance(value, bool):
            errors.append(f"{at} must be True or False, not {value!r}.")
        elif key == "cache_control" and value is not None:
            errors += _cache_control_errors(at, value)
        elif key == "query_params" and value != "__all__" and not _is_str_list(value):
            errors.append(f"{at} must be '__all__' or a list of query parameter names.")
        elif key == "vary" and not _is_str_list(value):
            errors.append(f"{at} must be a list of request header names such as ['Accept-Language'].")
    return errors


def _cache_control_errors(at: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return [f"{at} must be a Cache-Control string such as 'no-cache', or None."]
    return [
        f"{at} is {value!r}: {problem}. For example 'no-cache', or "
        "'public, max-age=0, s-maxage=60, stale-while-revalidate=30'."
        for problem in policy_errors(value)
    ]


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


def validate_settings() -> list[str]:
    """Every problem in ``settings.CONDITIONAL_API``, each naming the key and the fix."""
    user = getattr(settings, SETTING_NAME, {}) or {}
    if not isinstance(user, Mapping):
        return [f"{SETTING_NAME} must be a dict, not {type(user).__name__}."]
    errors = [
        f"{SETTING_NAME} has the unknown key {key!r}; expected one of: {', '.join(TOP_LEVEL_DEFAULTS)}."
        for key in user
        if key not in TOP_LEVEL_DEFAULTS
    ]
    if not isinstance(user.get("RELEASE", ""), str):
        errors.append(f"{SETTING_NAME}['RELEASE'] must be a string, such as your release tag.")
    released_at = user.get("RELEASED_AT")
    if released_at is not None and (not isinstance(released_at, str) or _parse_released_at(released_at) is None):
        errors.append(
            f"{SETTING_NAME}['RELEASED_AT'] is {released_at!r}; expected an ISO 8601 time with a time zone, "
            "such as '2026-11-23T10:00:00Z', or None."
        )
    errors += _view_option_errors(f"{SETTING_NAME}['DEFAULTS']", user.get("DEFAULTS", {}))
    views = user.get("VIEWS", {})
    if not isinstance(views, Mapping):
        errors.append(f"{SETTING_NAME}['VIEWS'] must be a dict keyed by URL name, basename or view path.")
    else:
        for name, options in views.items():
            errors += _view_option_errors(f"{SETTING_NAME}['VIEWS'][{name!r}]", options)
    cache = user.get("CACHE")
    if cache is not None and cache not in getattr(settings, "CACHES", {}):
        errors.append(f"{SETTING_NAME}['CACHE'] is {cache!r}, which is not a cache in CACHES; name one, or None.")
    for key in ("METRICS", "VERIFY_SERVE_200"):
        if not isinstance(user.get(key, False), bool):
            errors.append(f"{SETTING_NAME}[{key!r}] must be True or False, not {user[key]!r}.")
    rate = user.get("VERIFY_RATE", 0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        errors.append(
            f"{SETTING_NAME}['VERIFY_RATE'] is {rate!r}; expected the share of 304s to verify, "
            "a number from 0 (none) to 1 (all), such as 0.01."
        )
    header = user.get("SURROGATE_KEYS")
    if header is not None and header not in SURROGATE_KEY_HEADERS:
        errors.append(
            f"{SETTING_NAME}['SURROGATE_KEYS'] is {header!r}; expected None or one of: "
            f"{', '.join(SURROGATE_KEY_HEADERS)} (the header your CDN reads its purge keys from)."
        )
    if not _is_str_list(user.get("SKIP_FORMATS", ())):
        errors.append(f"{SETTING_NAME}['SKIP_FORMATS'] must be a list of renderer formats such as ['api'].")
    return errors


@lru_cache(maxsize=64)
def resolve_strategy(name_or_path: str) -> ValidatorStrategy:
    """A strategy instance from its short name or dotted path."""
    path = STRATEGY_ALIASES.get(name_or_path, name_or_path)
    try:
        strategy_class = import_string(path) if isinstance(path, str) else None
    except ImportError:
        strategy_class = None
    if not (isinstance(strategy_class, type) and issubclass(strategy_class, ValidatorStrategy)):
        raise ImproperlyConfigured(_strategy_error("The validator strategy", name_or_path))
    return strategy_class()


@lru_cache(maxsize=1024)
def _merged(keys: tuple[str, ...], explicit: tuple[tuple[str, Any], ...]) -> ViewOptions:
    errors = validate_settings()
    if errors:
        raise ImproperlyConfigured(errors[0])
    merged = dict(VIEW_DEFAULTS)
    merged.update(api_settings.DEFAULTS)
    views = api_settings.VIEWS
    for key in keys:
        merged.update(views.get(key, {}))
    explicit_errors = _view_option_errors("The view's conditional options", dict(explicit))
    if explicit_errors:
        raise ImproperlyConfigured(explicit_errors[0])
    merged.update(explicit)
    query_params = merged["query_params"]
    return ViewOptions(
        strategy=resolve_strategy(merged["strategy"]),
        require_precondition=merged["require_precondition"],
        cache_control=merged["cache_control"],
        query_params=None if query_params == "__all__" else frozenset(query_params),
        vary=tuple(merged["vary"]),
        cache_validators=merged["cache_validators"],
        shared=merged["shared"],
    )


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def view_options(keys: Iterable[str | None], explicit: Mapping[str, Any] | None = None) -> ViewOptions:
    """Resolve a view's options from the names it goes by, least specific first."""
    frozen = tuple(sorted((k, _freeze(v)) for k, v in (explicit or {}).items() if v is not None))
    return _merged(tuple(key for key in keys if key), frozen)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        api_settings.reload()
        _merged.cache_clear()


setting_changed.connect(_reload)
