"""Every write path that changes what an article shows changes its validators: detail, list and plain view.

The article representation shows its author's name and its tags, which the
model declares with ``depends_on``. Each write below is made through one
path, on fresh instances, and the test revalidates with what a client held
before it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext
from django.utils.http import http_date
from model_bakery import baker

from conditional_api.changes import read_changes
from conditional_api.dependencies import declared_dependencies
from example_project.blog.maintenance import rename_author_behind_the_orm
from example_project.blog.models import Article, Author, Tag
from tests.conftest import write_behind_the_orm
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

URLS = {
    "detail": "/api/articles/{pk}/",
    "plain": "/plain/articles/{pk}/",
    "plain list": "/plain/articles/",
    "list": "/api/articles/",
    "tag filter": "/api/articles/?tag=alpha",
}


def _article(pk: int) -> Article:
    return Article.objects.get(pk=pk)


def _first_tag(pk: int) -> Tag:
    return Tag.objects.filter(articles=pk).order_by("name").first()


def _rename_author_by_save(pk: int) -> None:
    author = _article(pk).author
    author.name = "Grace"
    author.save()


def _rename_author_by_update(pk: int) -> None:
    Author.objects.filter(articles=pk).update(name="Grace")


def _rename_author_by_bulk_update(pk: int) -> None:
    author = _article(pk).author
    author.name = "Grace"
    Author.objects.bulk_update([author], ["name"])


def _rename_tag_by_save(pk: int) -> None:
    tag = _first_tag(pk)
    tag.name = "aardvark"
    tag.save()


def _rename_tag_by_update(pk: int) -> None:
    Tag.objects.filter(articles=pk).update(name=Concat(F("name"), Value("-x")))


def _rename_tag_by_bulk_update(pk: int) -> None:
    tag = _first_tag(pk)
    tag.name = "aardvark"
    Tag.objects.bulk_update([tag], ["name"])


def _delete_tag(pk: int) -> None:
    _first_tag(pk).delete()


def _delete_tags_by_queryset(pk: int) -> None:
    Tag.objects.filter(name="alpha").delete()


def _add_tag(pk: int) -> None:
    _article(pk).tags.add(Tag.objects.create(name="gamma"))


def _add_tag_from_the_tag(pk: int) -> None:
    Tag.objects.create(name="gamma").articles.add(_article(pk))


def _add_tag_by_get_or_create(pk: int) -> None:
    tag, _ = Tag.objects.get_or_create(name="gamma")
    _article(pk).tags.add(tag)


def _remove_tag(pk: int) -> None:
    article = _article(pk)
    article.tags.remove(_first_tag(pk))


def _remove_tag_from_the_tag(pk: int) -> None:
    _first_tag(pk).articles.remove(_article(pk))


def _clear_tags(pk: int) -> None:
    _article(pk).tags.clear()


def _clear_from_the_tag(pk: int) -> None:
    _first_tag(pk).articles.clear()


def _set_tags(pk: int) -> None:
    _article(pk).tags.set([Tag.objects.create(name="gamma")])


def _set_from_the_tag(pk: int) -> None:
    _first_tag(pk).articles.set([])


def _move_to_another_author(pk: int) -> None:
    Article.objects.filter(pk=pk).update(author=baker.make(Author, name="Linus"))


def _move_by_the_authors_related_manager(pk: int) -> None:
    # Django's reverse foreign key add() writes through the base manager.
    baker.make(Author, name="Linus").articles.add(_article(pk))


def _save_article(pk: int) -> None:
    article = _article(pk)
    article.title = "Changed"
    article.save()


def _bulk_update_article(pk: int) -> None:
    article = _article(pk)
    article.title = "Changed"
    Article.objects.bulk_update([article], ["title"])


def _raw_write_then_touch(pk: int) -> None:
    rename_author_behind_the_orm(_article(pk).author_id, "Grace")


WRITES: dict[str, Callable[[int], None]] = {
    "author save": _rename_author_by_save,
    "author QuerySet.update": _rename_author_by_update,
    "author bulk_update": _rename_author_by_bulk_update,
    "tag save": _rename_tag_by_save,
    "tag QuerySet.update": _rename_tag_by_update,
    "tag bulk_update": _rename_tag_by_bulk_update,
    "tag delete": _delete_tag,
    "tag QuerySet.delete": _delete_tags_by_queryset,
    "tags.add": _add_tag,
    "tag.articles.add": _add_tag_from_the_tag,
    "get_or_create + add": _add_tag_by_get_or_create,
    "tags.remove": _remove_tag,
    "tag.articles.remove": _remove_tag_from_the_tag,
    "tags.clear": _clear_tags,
    "tag.articles.clear": _clear_from_the_tag,
    "tags.set": _set_tags,
    "tag.articles.set": _set_from_the_tag,
    "article moved to another author": _move_to_another_author,
    "author.articles.add": _move_by_the_authors_related_manager,
    "article save": _save_article,
    "article bulk_update": _bulk_update_article,
    "raw SQL + touch()": _raw_write_then_touch,
}


@pytest.fixture
def shown(db) -> Article:
    """A published article with an author and two tags, all written an hour ago."""
    author = baker.make(Author, name="Ada", email="ada@example.com")
    article = baker.make(Article, title="Hello", body="World", published=True, author=author)
    article.tags.set([baker.make(Tag, name="alpha"), baker.make(Tag, name="beta")])
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    # Written long ago, so Last-Modified is sent and If-Modified-Since can be tried.
    for model, pks in (
        (Article, [article.pk]),
        (Author, [author.pk]),
        (Tag, list(article.tags.values_list("pk", flat=True))),
    ):
        for pk in pks:
            write_behind_the_orm(model, pk, last_modified=an_hour_ago)
    return article


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize("view", URLS.values(), ids=URLS.keys())
def test_a_write_through_any_path_changes_the_validators(client, shown, write, view):
    url = view.format(pk=shown.pk)
    before = client.get(url)
    assert before.status_code == 200
    write(shown.pk)
    after = client.get(url, HTTP_IF_NONE_MATCH=before.headers["ETag"])
    if after.status_code == 404:
        return  # the write took the article out of this view: nothing stale to serve
    assert after.status_code == 200, "a stale 304 after the write"
    if view == URLS["detail"] or view == URLS["plain"]:
        assert after.content != before.content
    if "Last-Modified" in before.headers:
        by_date = client.get(url, HTTP_IF_MODIFIED_SINCE=before.headers["Last-Modified"])
        assert by_date.status_code in (200, 404), "a stale 304 to If-Modified-Since after the write"


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_the_article_row_itself_is_bumped(shown, write):
    """What the detail's validator query reads moved, not just what the view renders."""
    before = Article.objects.values_list("version", "last_modified").get(pk=shown.pk)
    write(shown.pk)
    after = Article.objects.filter(pk=shown.pk).values_list("version", "last_modified").first()
    if after is None:
        return
    assert after[0] > before[0]
    assert after[1] > before[1]


def test_a_write_that_shows_nowhere_else_touches_nothing(shown):
    """An author's other fields are not shown by the article, but every write of a shown row counts: no guessing."""
    other = baker.make(Tag, name="unused")
    version = _article(shown.pk).version
    other.name = "still-unused"
    other.save()
    assert _article(shown.pk).version == version


def test_deleting_the_author_cascades_and_counts_the_articles(client, shown):
    before = client.get("/api/articles/")
    changes = read_changes(Article)
    shown.author.delete()
    assert not Article.objects.filter(pk=shown.pk).exists()
    assert read_changes(Article) > changes
    assert client.get("/api/articles/", HTTP_IF_NONE_MATCH=before.headers["ETag"]).status_code == 200


def test_set_null_on_delete_bumps_the_referring_rows(db):
    """SET_NULL rewrites the foreign key with a bare UPDATE; the rows it rewrites are bumped first."""
    owner = User.objects.create_user("owner")
    note = baker.make(Note, key="k", owner=owner)
    version = note.version
    owner.delete()
    note.refresh_from_db()
    assert note.owner_id is None
    assert note.version > version


def test_an_m2m_write_through_the_serializer_renders_the_version_the_etag_names(db):
    """tags.set() inside a serializer's update bumps the row; the body must show that version, not the save's."""
    from rest_framework.test import APIClient

    staff = User.objects.create_user("staff", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    article = baker.make(Article, published=True, author=baker.make(Author))
    etag = client.get(f"/api/articles/{article.pk}/").headers["ETag"]
    patched = client.patch(f"/api/articles/{article.pk}/", {"tags": ["x", "y"]}, format="json", HTTP_IF_MATCH=etag)
    fresh = client.get(f"/api/articles/{article.pk}/")
    assert patched.headers["ETag"] == fresh.headers["ETag"]
    assert patched.json() == fresh.json()


def test_touch_bumps_the_rows_that_show_the_touched_ones(shown):
    version = _article(shown.pk).version
    Author.objects.filter(pk=shown.author_id).touch()
    assert _article(shown.pk).version > version


def test_the_example_declares_what_the_article_shows():
    assert {(d.path, d.related) for d in declared_dependencies(Article)} == {("author", Author), ("tags", Tag)}


def test_a_dependency_touch_costs_one_update_per_relation(shown):
    author = _article(shown.pk).author
    author.name = "Grace"
    with CaptureQueriesContext(connection) as queries:
        author.save()
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "blog_article" in q["sql"]
    ]
    assert len(updates) == 1, updates


def test_a_304_with_dependencies_stays_one_query(client, shown):
    url = f"/api/articles/{shown.pk}/"
    etag = client.get(url).headers["ETag"]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert len(queries) == 1


def test_if_modified_since_after_a_dependency_write_in_the_same_second(client, shown):
    """The author's write moves the article's own Last-Modified past the date the client holds."""
    url = f"/api/articles/{shown.pk}/"
    held = client.get(url).headers["Last-Modified"]
    _rename_author_by_save(shown.pk)
    article = _article(shown.pk)
    assert http_date(article.last_modified.timestamp()) != held
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=held).status_code == 200


@pytest.mark.parametrize(("paths", "message"), [(("nope",), "not a field"), (("title",), "not a relation")])
def test_a_declared_path_that_is_no_relation_fails_the_system_check(monkeypatch, paths, message):
    from django.core import checks

    monkeypatch.setattr(Article, "depends_on", paths)
    errors = [m for m in checks.run_checks() if m.id == "conditional_api.E002"]
    assert [e.obj for e in errors] == [Article] and message in errors[0].msg


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("one_transaction", [True, False], ids=["one transaction", "autocommit"])
def test_links_set_with_the_save_share_its_last_modified_second(one_transaction):
    """A save and its M2M links committed together are one state: one Last-Modified second, not two."""
    from contextlib import nullcontext

    from django.db import transaction

    article = baker.make(Article, author=baker.make(Author))
    tag = baker.make(Tag)
    with transaction.atomic() if one_transaction else nullcontext():
        article.title = "New"
        article.save()
        saved = (article.version, article.last_modified)
        article.tags.add(tag)
    stored = Article.objects.get(pk=article.pk)
    assert stored.version == article.version > saved[0]
    assert (stored.last_modified == saved[1]) is one_transaction


def test_a_save_rolled_back_with_its_savepoint_does_not_keep_last_modified(client, shown):
    """The links change after the savepoint that saved the instance rolled back: a new state, a new second."""
    from django.db import transaction

    url = f"/api/articles/{shown.pk}/"
    held = client.get(url).headers["Last-Modified"]
    article, other = _article(shown.pk), baker.make(Article, published=True, author=shown.author)
    with transaction.atomic():
        other.title = "another row of the table"
        other.save()
        with pytest.raises(RuntimeError), transaction.atomic():
            article.title = "rolled back"
            article.save()
            raise RuntimeError
        article.tags.add(Tag.objects.create(name="gamma"))
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=held).status_code == 200
