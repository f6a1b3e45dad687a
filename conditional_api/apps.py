"""The app: checks, write hooks, change counters, the validator cache's invalidation and metrics, connected once."""

from importlib.util import find_spec

from django.apps import AppConfig


class ConditionalApiConfig(AppConfig):
    name = "conditional_api"
    verbose_name = "Conditional API"
    # What migrations/0001_initial.py was made with: a project's DEFAULT_AUTO_FIELD,
    # or its absence (models.W042), must not ask for a migration of the counter table.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: they use models, which need the app registry.
        from . import cache, checks, counting, hooks, pitfalls
        from .changes import table_changed
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
        table_changed.connect(cache.invalidate, dispatch_uid="conditional_api.cache.invalidate")
        if api_settings.METRICS is True and find_spec("prometheus_client") is not None:
            from . import metrics

            metrics.install()
