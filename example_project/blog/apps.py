from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "example_project.blog"
    label = "blog"

    def ready(self) -> None:
        from conditional_api.surrogates import surrogate_keys_invalidated

        from .purges import log_purge

        surrogate_keys_invalidated.connect(log_purge, dispatch_uid="blog.log_purge")
