"""example_project keeps the shared contract: seed data, filters, ordering, pagination, shapes."""

from __future__ import annotations

import io
from importlib.util import find_spec

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from example_project.blog.models import Article, Author, Tag

pytestmark = pytest.mark.django_db

#: The routes that serve the contract's articles and authors: DRF's, and django-ninja's (same JSON, rules and pages).
ROUTES = pytest.mark.parametrize(
    "prefix",
    [
        "/api/",
        pytest.param(
            "/ninja/", marks=pytest.mark.skipif(find_spec("ninja") is None, reason="django-ninja is not installed")
        ),
    ],
)


@pytest.fixture
def seeded() -> None:
    call_command("seed_demo", articles=60, stdout=io.StringIO())


def snapshot() -> list[tuple]:
    return [
        (a.title, a.body, a.published, a.author.email, sorted(a.tags.values_list("name", flat=True)), a.version)
        for a in Article.objects.select_related("author").order_by("title")
    ]


def test_seed_demo_is_idempotent_and_deterministic(seeded):
    first = snapshot()
    call_command("seed_demo", articles=60, stdout=io.StringIO())
    assert snapshot() == first
    assert (Article.objects.count(), Author.objects.count()) == (60, 6)
    assert Article.objects.filter(published=False).exists()
    assert User.objects.get(username="demo").is_staff and not User.objects.get(username="reader").is_staff
    assert User.objects.get(username="demo").check_password("demo")


@ROUTES
def test_article_representation(api_client, seeded, prefix):
    article = api_client.get(f"{prefix}articles/?page_size=1").json()["results"][0]
    assert set(article) == {"id", "title", "body", "published", "author", "tags", "version", "updated_at"}
    assert set(article["author"]) == {"id", "name"}
    assert article["tags"] == sorted(article["tags"])
    assert article["updated_at"].endswith("Z")


@ROUTES
def test_author_representation(api_client, seeded, prefix):
    author = api_client.get(f"{prefix}authors/").json()["results"][0]
    assert set(author) == {"id", "name", "email", "version", "updated_at"}


def test_tag_representation(api_client, seeded):
    tags = api_client.get("/api/tags/").json()["results"]
    assert set(tags[0]) == {"id", "name"} and [t["name"] for t in tags] == sorted(t["name"] for t in tags)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("published=true", lambda a, author: a.published),
        ("published=false", lambda a, author: not a.published),
        ("author={author}", lambda a, author: a.published and a.author_id == author),
        ("tag=beta", lambda a, author: a.published and a.tags.filter(name="beta").exists()),
    ],
)
@ROUTES
def test_list_filters(staff, api_client, seeded, query, expected, prefix):
    author = Author.objects.order_by("id")[1].pk
    query = query.format(author=author)
    # Staff by HTTP Basic, which both routes read: they see the drafts that ?published=false selects.
    staff_client = APIClient(HTTP_AUTHORIZATION="Basic ZGVtbzpkZW1v")  # demo:demo
    client = staff_client if "published" in query else api_client
    ids = [a["id"] for a in client.get(f"{prefix}articles/?{query}&page_size=100").json()["results"]]
    assert ids == [a.pk for a in Article.objects.order_by("id") if expected(a, author)]
    assert ids


@pytest.mark.parametrize(
    "parameter, value",
    [
        ("published", "maybe"),
        ("published", ""),
        ("published", "true\x00"),
        ("author", "abc"),
        ("author", ""),
        ("author", "-1"),
        ("author", "1.0"),
        # Digits to str.isdigit(), not to int(): a superscript, a circled digit.
        ("author", "\u00b2"),
        ("author", "\u2460"),
        # A digit to int() as well, but not an id anyone writes: Arabic-Indic three.
        ("author", "\u0663"),
        # Beyond any id a bigint column can hold.
        ("author", "9" * 20),
        ("author", "1\x00"),
        # PostgreSQL cannot hold a NUL in text: no tag can be named so.
        ("tag", "a\x00b"),
        ("tag", "\x00"),
    ],
)
@ROUTES
def test_invalid_filters_are_400_in_drfs_error_shape(api_client, seeded, parameter, value, prefix):
    response = api_client.get(f"{prefix}articles/", {parameter: value})
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize("parameter", ["ordering", "page", "page_size"])
@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "9" * 20, "a\x00b"])
@ROUTES
def test_other_list_parameters_never_answer_500(api_client, article, parameter, value, prefix):
    # An unknown ordering is ignored, a page that is no page is DRF's 404, a page size falls back to the default.
    assert api_client.get(f"{prefix}articles/", {parameter: value}).status_code in (200, 404)


@pytest.mark.parametrize("ordering", ["id", "-id", "title", "-title", "updated_at", "-updated_at"])
@ROUTES
def test_ordering(api_client, seeded, ordering, prefix):
    results = api_client.get(f"{prefix}articles/?ordering={ordering}&page_size=100").json()["results"]
    key = ordering.lstrip("-")
    values = [r[key] for r in results]
    assert values == sorted(values, reverse=ordering.startswith("-"))


@ROUTES
def test_pagination_defaults_and_maximum(api_client, seeded, prefix):
    page = api_client.get(f"{prefix}articles/").json()
    assert len(page["results"]) == 20 and page["count"] == Article.objects.filter(published=True).count()
    assert page["next"] == f"http://testserver{prefix}articles/?page=2" and page["previous"] is None
    assert len(api_client.get(f"{prefix}articles/?page_size=1000").json()["results"]) == 48  # capped at 100


@ROUTES
def test_authors_ordering_by_name(api_client, seeded, prefix):
    names = [a["name"] for a in api_client.get(f"{prefix}authors/?ordering=-name").json()["results"]]
    assert names == sorted(names, reverse=True)


def test_tags_are_read_only(staff_client, seeded):
    assert staff_client.post("/api/tags/", {"name": "new"}, format="json").status_code == 405
    assert not Tag.objects.filter(name="new").exists()


@pytest.mark.parametrize("credentials", [None, "basic", "session"])
@pytest.mark.parametrize(
    "url",
    [
        "/api/articles/",
        "/api/articles/{article}/",
        "/api/authors/",
        "/api/tags/",
        "/plain/articles/{article}/",
        "/ninja/articles/",
        "/ninja/articles/{article}/",
        "/ninja/authors/",
    ],
)
def test_cache_control_is_no_cache_with_private_added_when_authenticated(staff, article, url, credentials):
    client = APIClient()
    if credentials == "basic":
        client.credentials(HTTP_AUTHORIZATION="Basic ZGVtbzpkZW1v")  # demo:demo
    elif credentials == "session":
        client.force_login(staff)
    ok = client.get(url.format(article=article.pk))
    not_modified = client.get(url.format(article=article.pk), HTTP_IF_NONE_MATCH=ok.headers["ETag"])
    assert (ok.status_code, not_modified.status_code) == (200, 304)
    for response in (ok, not_modified):
        assert response.headers["Cache-Control"] == ("no-cache, private" if credentials else "no-cache")


@ROUTES
@pytest.mark.parametrize("path", ["articles/{article}/", "articles/", "authors/{author}/", "authors/"])
def test_a_304_costs_one_query_on_either_route(api_client, article, prefix, path, django_assert_num_queries):
    url = prefix + path.format(article=article.pk, author=article.author_id)
    etag = api_client.get(url)["ETag"]
    with django_assert_num_queries(1):
        assert api_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


@ROUTES
@pytest.mark.parametrize(
    "headers, status", [({}, 428), ({"HTTP_IF_MATCH": '"stale"'}, 412), ({"HTTP_IF_MATCH": "garbage"}, 400)]
)
def test_a_refused_write_costs_the_same_on_either_route(
    staff, article, prefix, headers, status, django_assert_num_queries
):
    client = APIClient(HTTP_AUTHORIZATION="Basic ZGVtbzpkZW1v")  # demo:demo
    # The user HTTP Basic names, then the row's validator: no serializer, no schema, no claim.
    with django_assert_num_queries(2):
        response = client.patch(f"{prefix}articles/{article.pk}/", {"title": "x"}, format="json", **headers)
    assert response.status_code == status


@pytest.mark.parametrize(
    "url, queries",
    [
        # The article with its author, its tags, then its validator again: the body shows one state.
        ("/api/articles/{article}/", 3),
        # Ninja reads the validator before its function too: one more small query.
        ("/ninja/articles/{article}/", 4),
        # The counts, the COUNT, the page, its tags, the counts again.
        ("/api/articles/", 5),
        ("/ninja/articles/", 5),
    ],
)
def test_what_a_200_costs_on_each_route(api_client, article, url, queries, django_assert_num_queries):
    with django_assert_num_queries(queries):
        assert api_client.get(url.format(article=article.pk)).status_code == 200


@pytest.mark.parametrize("url", ["/api/articles/", "/api/articles/{article}/", "/plain/articles/{article}/"])
def test_a_page_loads_no_bookkeeping_column_of_its_authors_and_tags(seeded, api_client, url):
    """They are shown nowhere: left in the database, and never fetched one row at a time either."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    article = Article.objects.filter(published=True, tags__isnull=False).first()
    with CaptureQueriesContext(connection) as page:
        assert api_client.get(url.format(article=article.pk)).status_code == 200
    related = [f'"{Author._meta.db_table}"', f'"{Tag._meta.db_table}"']
    for query in page.captured_queries:
        for table in related:
            for column in ("version", "updated_at", "last_modified"):
                assert f'{table}."{column}"' not in query["sql"]
    assert len(page.captured_queries) <= 5
