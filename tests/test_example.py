"""example_project keeps the shared contract: seed data, filters, ordering, pagination, shapes."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from example_project.blog.models import Article, Author, Tag

pytestmark = pytest.mark.django_db


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


def test_article_representation(api_client, seeded):
    article = api_client.get("/api/articles/?page_size=1").json()["results"][0]
    assert set(article) == {"id", "title", "body", "published", "author", "tags", "version", "updated_at"}
    assert set(article["author"]) == {"id", "name"}
    assert article["tags"] == sorted(article["tags"])
    assert article["updated_at"].endswith("Z")


def test_author_and_tag_representations(api_client, seeded):
    assert set(api_client.get("/api/authors/").json()["results"][0]) == {"id", "name", "email", "version", "updated_at"}
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
def test_list_filters(staff_client, api_client, seeded, query, expected):
    author = Author.objects.order_by("id")[1].pk
    query = query.format(author=author)
    client = staff_client if "published" in query else api_client
    ids = [a["id"] for a in client.get(f"/api/articles/?{query}&page_size=100").json()["results"]]
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
def test_invalid_filters_are_400_in_drfs_error_shape(api_client, seeded, parameter, value):
    response = api_client.get("/api/articles/", {parameter: value})
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize("parameter", ["ordering", "page", "page_size"])
@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "9" * 20, "a\x00b"])
def test_other_list_parameters_never_answer_500(api_client, article, parameter, value):
    # An unknown ordering is ignored, a page that is no page is DRF's 404, a page size falls back to the default.
    assert api_client.get("/api/articles/", {parameter: value}).status_code in (200, 404)


@pytest.mark.parametrize("ordering", ["id", "-id", "title", "-title", "updated_at", "-updated_at"])
def test_ordering(api_client, seeded, ordering):
    results = api_client.get(f"/api/articles/?ordering={ordering}&page_size=100").json()["results"]
    key = ordering.lstrip("-")
    values = [r[key] for r in results]
    assert values == sorted(values, reverse=ordering.startswith("-"))


def test_pagination_defaults_and_maximum(api_client, seeded):
    page = api_client.get("/api/articles/").json()
    assert len(page["results"]) == 20 and page["count"] == Article.objects.filter(published=True).count()
    assert page["next"].endswith("/api/articles/?page=2") and page["previous"] is None
    assert len(api_client.get("/api/articles/?page_size=1000").json()["results"]) == 48  # capped at 100


def test_authors_ordering_by_name(api_client, seeded):
    names = [a["name"] for a in api_client.get("/api/authors/?ordering=-name").json()["results"]]
    assert names == sorted(names, reverse=True)


def test_tags_are_read_only(staff_client, seeded):
    assert staff_client.post("/api/tags/", {"name": "new"}, format="json").status_code == 405
    assert not Tag.objects.filter(name="new").exists()


@pytest.mark.parametrize("credentials", [None, "basic", "session"])
@pytest.mark.parametrize(
    "url", ["/api/articles/", "/api/articles/{article}/", "/api/authors/", "/api/tags/", "/plain/articles/{article}/"]
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
