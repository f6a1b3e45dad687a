from __future__ import annotations

import socket

import pytest
from django.contrib.auth.models import User
from django.db import connection
from model_bakery import baker
from rest_framework.test import APIClient

from example_project.blog.models import Article, Author
from tests.testapp import views as testapp_views
from tests.testapp.models import Label, Post, Writer

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: run with DATABASE_URL=postgres://... (CI does)"
)


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


requires_redis = pytest.mark.skipif(not redis_reachable(), reason="needs Redis on 127.0.0.1:6379 (CI runs it)")


@pytest.fixture(autouse=True)
def _reset_view_calls():
    testapp_views.CALLS.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("demo", password="demo", is_staff=True)


@pytest.fixture
def reader(db) -> User:
    return User.objects.create_user("reader", password="reader")


@pytest.fixture
def staff_client(staff) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def author(db) -> Author:
    return baker.make(Author, name="Ada", email="ada@example.com")


@pytest.fixture
def article(author) -> Article:
    article = baker.make(Article, title="Hello", body="World", published=True, author=author)
    article.tags.set([baker.make("blog.Tag", name="beta"), baker.make("blog.Tag", name="alpha")])
    return article


@pytest.fixture
def draft(author) -> Article:
    return baker.make(Article, title="Draft", body="Secret", published=False, author=author)


@pytest.fixture
def writer(db) -> Writer:
    return baker.make(Writer, name="Ada", email="ada@example.com")


@pytest.fixture
def post(writer) -> Post:
    """A published post with two labels, as ``article`` is for the example's tests."""
    post = baker.make(Post, title="Hello", body="World", published=True, writer=writer)
    post.labels.set([baker.make(Label, name="beta"), baker.make(Label, name="alpha")])
    return post


@pytest.fixture
def draft_post(writer) -> Post:
    return baker.make(Post, title="Draft", body="Secret", published=False, writer=writer)


def write_behind_the_orm(model, pk, **values) -> None:
    """A write the versioned QuerySet does not see, as raw SQL or another service would make."""
    from django.db.models import QuerySet

    assert QuerySet(model=model).filter(pk=pk).update(**values) == 1
