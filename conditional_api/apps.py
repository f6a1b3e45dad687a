from django.apps import AppConfig


class ConditionalApiConfig(AppConfig):
    name = "conditional_api"
    verbose_name = "Conditional API"
    # What migrations/0001_initial.py was made with: a project's DEFAULT_AUTO_FIELD,
    # or its absence (models.W042), must not ask for a migration of the counter table.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from . import checks  # noqa: F401  (registers the system checks)
        from . import dependencies
        from .models import stamp_raw_save

        pre_save.connect(stamp_raw_save, dispatch_uid="conditional_api.stamp_raw_save")
        dependencies.install()
