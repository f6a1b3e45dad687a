"""The app: checks, write hooks, change counters, metrics, and what hears of commits (validator cache, purge keys)."""

from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from django.apps import AppConfig, apps


class ConditionalApiConfig(AppConfig):
    name = "conditional_api"
    verbose_name = "Conditional API"
    # What migrations/0001_initial.py was made with: a project's DEFAULT_AUTO_FIELD,
    # or its absence (models.W042), must not ask for a migration of the counter table.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: they use models, which need the app registry.
        from . import cache, checks, counting, hooks, pitfalls, surrogates
        from .changes import changes_committed, table_changed
        from .conf import api_settings

        checks.register()
        pitfalls.register()
        if find_spec("rest_framework") is not None:
            # Only the DRF adapter imports DRF; it checks the DRF views.
            from . import drf

            drf.register_checks()
            if find_spec("drf_spectacular") is not None:
                # drf-spectacular finds its extensions by their being imported.
                from . import openapi  # noqa: F401
        hooks.install()
        counting.install()
        _follow_registry_rebuilds(hooks.swap_managers, counting.count_managers)
        table_changed.connect(cache.invalidate, dispatch_uid="conditional_api.cache.invalidate")
        changes_committed.connect(surrogates.invalidate, dispatch_uid="conditional_api.surrogates.invalidate")
        if api_settings.METRICS is True and find_spec("prometheus_client") is not None:
            from . import metrics

            metrics.install()


def _follow_registry_rebuilds(*swaps: Callable[[], None]) -> None:
    """Swap the managers' QuerySets again whenever Django drops them.

    Each change of the app registry (``override_settings(INSTALLED_APPS=...)``
    leaving, a model class registered at runtime, a test's
    ``available_apps``) ends in ``apps.clear_cache()``, which makes Django
    build every model's managers anew: without the swaps, their
    ``update()`` and bulk writes would move no version and no counter. No
    signal says so; the registry's own method is wrapped, once.
    """
    registry: Any = apps
    clear_cache = registry.clear_cache
    if getattr(clear_cache, "swaps", None) is not None:
        return

    def clear_and_swap() -> None:
        clear_cache()
        if apps.ready:
            for swap in swaps:
                swap()

    clear_and_swap.swaps = swaps  # type: ignore[attr-defined]
    registry.clear_cache = clear_and_swap
