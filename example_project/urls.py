from importlib.util import find_spec

from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from example_project.blog import views

router = DefaultRouter()
router.register("articles", views.ArticleViewSet, basename="article")
router.register("authors", views.AuthorViewSet, basename="author")
router.register("tags", views.TagViewSet, basename="tag")

urlpatterns = [
    path("api/", include(router.urls)),
    path("plain/articles/", views.plain_article_list, name="plain-article-list"),
    path("plain/articles/<int:pk>/", views.plain_article_detail, name="plain-article-detail"),
]

if "drf_spectacular" in settings.INSTALLED_APPS:
    from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

    urlpatterns += [
        # This module's API, wherever it is included (the test suite adds its own app's views beside it).
        path("api/schema/", SpectacularAPIView.as_view(urlconf="example_project.urls"), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        # Swagger UI's scripts from the sidecar app, served by the example itself so that the docs
        # work under gunicorn too; a deployment serves collectstatic's STATIC_ROOT from its web server.
        re_path(r"^static/(?P<path>drf_spectacular_sidecar/.*)$", serve, {"insecure": True}),
    ]

if find_spec("prometheus_client") is not None:
    from conditional_api.metrics import metrics_view

    urlpatterns.append(path("metrics", metrics_view, name="metrics"))

if find_spec("ninja") is not None:
    from example_project.blog.ninja_api import api as ninja_api

    urlpatterns.append(path("ninja/", ninja_api.urls))
