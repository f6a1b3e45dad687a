"""The example's article list filtered through django-filter: the ETag follows the joins a filter adds.

``?tag=`` joins the tags through the M2M table; the collection strategy
reads the change counts of every table the filtered query names, so a
renamed tag or relinked tags move the filtered list's ETag. A
``ModelChoiceFilter`` validates its value with a query of its own, which
every answer of the list pays, a 304 included.
"""

from __future__ import annotations

from typing import Any

import django_filters
import pytest
from django.contrib.auth.models import User
from django.urls import include, path
from model_bakery import baker
from rest_framework import viewsets
from rest_framework.routers import SimpleRouter

from conditional_api.drf import ConditionalListMixin
from example_project.blog.filters import ArticleFilter, ListFilterBackend
from example_project.blog.models import Article, Author, Tag
from example_project.blog.serializers import TagSerializer
from example_project.blog.views import ArticleViewSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(author) -> dict[str, Any]:
    beta, gamma = baker.make(Tag, name="beta"), baker.make(Tag, name="gamma")
    tagged = baker.make(Article, title="Tagged", published=True, author=author)
    tagged.tags.set([beta])
    other = baker.make(Article, title="Other", published=True, author=author)
    other.tags.set([gamma])
    return {"beta": beta, "gamma": gamma, "tagged": tagged, "other": other}


def _rename(tag: Tag, name: str) -> None:
    tag.name = name
    tag.save()


# Each write changes what ?tag=beta shows: the list's ETag must move with it.
MOVING = [
    pytest.param(lambda rows: _rename(rows["beta"], "beta-renamed"), id="the filtered tag renamed"),
    pytest.param(lambda rows: rows["other"].tags.add(rows["beta"]), id="an article's tags gain it"),
    pytest.param(lambda rows: rows["tagged"].tags.remove(rows["beta"]), id="an article's tags lose it"),
    pytest.param(lambda rows: rows["tagged"].tags.set([rows["gamma"]]), id="an article's tags set anew"),
]


def test_the_tag_filter_lists_the_tagged_articles(api_client, listed):
    results = api_client.get("/api/articles/", {"tag": "beta"}).json()["results"]
    assert [a["id"] for a in results] == [listed["tagged"].pk]


@pytest.mark.parametrize("write", MOVING)
def test_a_write_through_the_tag_join_moves_the_filtered_lists_etag(api_client, listed, write):
    url = "/api/articles/?tag=beta"
    first = api_client.get(url)
    write(listed)
    fresh = api_client.get(url)
    assert fresh.content != first.content, "the write must change what the filtered list shows"
    revalidated = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 200 and revalidated.content == fresh.content
    assert revalidated["ETag"] != first["ETag"]


def test_a_write_to_an_unshown_row_of_a_joined_table_moves_the_etag_too(api_client, listed):
    # The counts are per table: renaming a tag no article carries changes
    # nothing the page shows, yet the client refetches the same bytes.
    url = "/api/articles/?tag=beta"
    unused = baker.make(Tag, name="unused")
    first = api_client.get(url)
    _rename(unused, "still-unused")
    again = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200 and again.content == first.content


def test_a_write_to_a_table_the_list_does_not_read_keeps_the_304(api_client, listed):
    url = "/api/articles/?tag=beta"
    etag = api_client.get(url)["ETag"]
    User.objects.create_user("someone")
    assert api_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


@pytest.mark.parametrize("query", ["", "?tag=beta", "?author={author}", "?published=true", "?tag=beta&author={author}"])
def test_a_filtered_list_304_is_one_query(api_client, listed, author, query, django_assert_num_queries):
    url = "/api/articles/" + query.format(author=author.pk)
    etag = api_client.get(url)["ETag"]
    with django_assert_num_queries(1) as queries:
        assert api_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert "conditional_api_changecounter" in queries.captured_queries[0]["sql"]


def test_a_filter_on_the_detail_is_ignored(api_client, listed):
    # A detail URL names one article whatever the query string: no filter, no 400.
    detail = f"/api/articles/{listed['tagged'].pk}/"
    assert api_client.get(detail, {"tag": "gamma", "author": "x"}).status_code == 200


def test_the_empty_tag_names_no_tag(api_client, listed):
    assert api_client.get("/api/articles/", {"tag": ""}).json()["results"] == []


# -- the same list with the author as a ModelChoiceFilter ---------------------------------------


class ChoiceArticleFilter(django_filters.FilterSet):
    """The example's filters, but the author is a ModelChoiceFilter: its value is looked up to be validated."""

    author = django_filters.ModelChoiceFilter(queryset=Author.objects.all())

    class Meta:
        model = Article
        fields = ["author"]


class ChoiceArticleViewSet(ArticleViewSet):
    filter_backends = [ListFilterBackend]
    filterset_class = ChoiceArticleFilter
    conditional_options = {"strategy": "collection"}


class TagFilter(django_filters.FilterSet):
    """Tags by the title of an article that carries them: a join the tags' own writes know nothing of."""

    article = django_filters.CharFilter(field_name="articles__title")

    class Meta:
        model = Tag
        fields = ["article"]


class FilteredTagViewSet(ConditionalListMixin, viewsets.GenericViewSet):
    serializer_class = TagSerializer
    queryset = Tag.objects.order_by("name")
    filter_backends = [ListFilterBackend]
    filterset_class = TagFilter
    conditional_options = {"strategy": "collection"}


router = SimpleRouter()
router.register("choice-articles", ChoiceArticleViewSet, basename="choice-article")
router.register("filtered-tags", FilteredTagViewSet, basename="filtered-tag")
urlpatterns = [path("", include(router.urls))]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda rows: Article.objects.filter(pk=rows["other"].pk).update(title="Tagged"), id="retitled"),
        pytest.param(lambda rows: rows["tagged"].tags.add(rows["gamma"]), id="relinked"),
    ],
)
def test_a_filter_through_a_join_alone_moves_the_etag(api_client, listed, write):
    # Tag declares no dependency on articles: only the joined tables' counts can tell.
    url = "/filtered-tags/?article=Tagged"
    first = api_client.get(url)
    assert [t["name"] for t in first.json()["results"]] == ["beta"]
    tags_before = Tag.objects.values_list("version", flat=True).order_by("pk")
    versions = list(tags_before)
    write(listed)
    assert list(tags_before) == versions, "no tag row may change for this test to mean anything"
    revalidated = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 200
    assert [t["name"] for t in revalidated.json()["results"]] == ["beta", "gamma"]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("filterset, expected", [(ChoiceArticleFilter, 2), (ArticleFilter, 1)])
def test_a_model_choice_filter_costs_a_304_one_query_more(
    api_client, listed, author, monkeypatch, filterset, expected, django_assert_num_queries
):
    monkeypatch.setattr(ChoiceArticleViewSet, "filterset_class", filterset)
    url = f"/choice-articles/?author={author.pk}"
    first = api_client.get(url)
    assert [a["id"] for a in first.json()["results"]] == [listed["tagged"].pk, listed["other"].pk]
    with django_assert_num_queries(expected) as queries:
        assert api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    if filterset is ChoiceArticleFilter:
        assert '"blog_author"' in queries.captured_queries[0]["sql"]


@pytest.mark.urls(__name__)
def test_a_model_choice_filter_refuses_an_unknown_author_with_400(api_client, listed):
    response = api_client.get("/choice-articles/", {"author": "999999"})
    assert response.status_code == 400 and list(response.json()) == ["author"]


@pytest.mark.parametrize("query", ["", "?author=x"])
def test_the_browsable_list_shows_the_filter_form(staff_client, listed, query):
    response = staff_client.get(f"/api/articles/{query}", HTTP_ACCEPT="text/html")
    assert response.status_code == (400 if query else 200)
    if not query:
        assert 'name="tag"' in response.content.decode()
