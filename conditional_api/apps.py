"""The app: system checks, write hooks, change counters, and what hears of commits (validator cache, purge keys)."""

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
        from . import cache, checks, counting, hooks, surrogates
        from .changes import changes_committed, table_changed

        checks.register()
        if find_spec("rest_framework") is not None:
            # Only the DRF adapter imports DRF; it checks the DRF views.
            from . import drf

            drf.register_checks()
        hooks.install()
        counting.install()
        table_changed.connect(cache.invalidate, dispatch_uid="conditional_api.cache.invalidate")
        changes_committed.connect(surrogates.invalidate, dispatch_uid="conditional_api.surrogates.invalidate")
