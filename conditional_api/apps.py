from django.apps import AppConfig


class ConditionalApiConfig(AppConfig):
    name = "conditional_api"
    verbose_name = "Conditional API"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
