from importlib.util import find_spec

from django.urls import include, path
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

if find_spec("prometheus_client") is not None:
    from conditional_api.metrics import metrics_view

    urlpatterns.append(path("metrics", metrics_view, name="metrics"))

if find_spec("ninja") is not None:
    from example_project.blog.ninja_api import api as ninja_api

    urlpatterns.append(path("ninja/", ninja_api.urls))
