"""Every write path that changes what a post shows changes its validators: detail, list and plain view.

The post representation shows its writer's name and its labels, which the
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
from tests.conftest import write_behind_the_orm
from tests.testapp.models import Label, Note, Post, Writer

pytestmark = pytest.mark.django_db

URLS = {
    "detail": "/test/posts/{pk}/",
    "plain": "/test/plain-posts/{pk}/",
    "plain list": "/test/plain-posts/",
    "list": "/test/posts/",
    "label filter": "/test/posts/?label=alpha",
}


def _post(pk: int) -> Post:
    return Post.objects.get(pk=pk)


def _first_label(pk: int) -> Label:
    return Label.objects.filter(posts=pk).order_by("name").first()


def _rename_writer_by_save(pk: int) -> None:
    writer = _post(pk).writer
    writer.name = "Grace"
    writer.save()


def _rename_writer_by_update(pk: int) -> None:
    Writer.objects.filter(posts=pk).update(name="Grace")


def _rename_writer_by_bulk_update(pk: int) -> None:
    writer = _post(pk).writer
    writer.name = "Grace"
    Writer.objects.bulk_update([writer], ["name"])


def _rename_label_by_save(pk: int) -> None:
    label = _first_label(pk)
    label.name = "aardvark"
    label.save()


def _rename_label_by_update(pk: int) -> None:
    Label.objects.filter(posts=pk).update(name=Concat(F("name"), Value("-x")))


def _rename_label_by_bulk_update(pk: int) -> None:
    label = _first_label(pk)
    label.name = "aardvark"
    Label.objects.bulk_update([label], ["name"])


def _delete_label(pk: int) -> None:
    _first_label(pk).delete()


def _delete_labels_by_queryset(pk: int) -> None:
    Label.objects.filter(name="alpha").delete()


def _add_label(pk: int) -> None:
    _post(pk).labels.add(Label.objects.create(name="gamma"))


def _add_label_from_the_label(pk: int) -> None:
    Label.objects.create(name="gamma").posts.add(_post(pk))


def _add_label_by_get_or_create(pk: int) -> None:
    label, _ = Label.objects.get_or_create(name="gamma")
    _post(pk).labels.add(label)


def _remove_label(pk: int) -> None:
    post = _post(pk)
    post.labels.remove(_first_label(pk))


def _remove_label_from_the_label(pk: int) -> None:
    _first_label(pk).posts.remove(_post(pk))


def _clear_labels(pk: int) -> None:
    _post(pk).labels.clear()


def _clear_from_the_label(pk: int) -> None:
    _first_label(pk).posts.clear()


def _set_labels(pk: int) -> None:
    _post(pk).labels.set([Label.objects.create(name="gamma")])


def _set_from_the_label(pk: int) -> None:
    _first_label(pk).posts.set([])


def _move_to_another_writer(pk: int) -> None:
    Post.objects.filter(pk=pk).update(writer=baker.make(Writer, name="Linus"))


def _move_by_the_writers_related_manager(pk: int) -> None:
    # Django's reverse foreign key add() writes through the base manager.
    baker.make(Writer, name="Linus").posts.add(_post(pk))


def _save_post(pk: int) -> None:
    post = _post(pk)
    post.title = "Changed"
    post.save()


def _bulk_update_post(pk: int) -> None:
    post = _post(pk)
    post.title = "Changed"
    Post.objects.bulk_update([post], ["title"])


def _rename_writer_behind_the_orm(pk: int, name: str) -> None:
    """A raw SQL write, as another service would make it, then the touch that makes it visible."""
    from django.db import transaction

    table, column = connection.ops.quote_name(Writer._meta.db_table), connection.ops.quote_name("name")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [name, pk])
        Writer.objects.filter(pk=pk).touch()


def _raw_write_then_touch(pk: int) -> None:
    _rename_writer_behind_the_orm(_post(pk).writer_id, "Grace")


WRITES: dict[str, Callable[[int], None]] = {
    "writer save": _rename_writer_by_save,
    "writer QuerySet.update": _rename_writer_by_update,
    "writer bulk_update": _rename_writer_by_bulk_update,
    "label save": _rename_label_by_save,
    "label QuerySet.update": _rename_label_by_update,
    "label bulk_update": _rename_label_by_bulk_update,
    "label delete": _delete_label,
    "label QuerySet.delete": _delete_labels_by_queryset,
    "labels.add": _add_label,
    "label.posts.add": _add_label_from_the_label,
    "get_or_create + add": _add_label_by_get_or_create,
    "labels.remove": _remove_label,
    "label.posts.remove": _remove_label_from_the_label,
    "labels.clear": _clear_labels,
    "label.posts.clear": _clear_from_the_label,
    "labels.set": _set_labels,
    "label.posts.set": _set_from_the_label,
    "post moved to another writer": _move_to_another_writer,
    "writer.posts.add": _move_by_the_writers_related_manager,
    "post save": _save_post,
    "post bulk_update": _bulk_update_post,
    "raw SQL + touch()": _raw_write_then_touch,
}


@pytest.fixture
def shown(db) -> Post:
    """A published post with a writer and two labels, all written an hour ago."""
    writer = baker.make(Writer, name="Ada", email="ada@example.com")
    post = baker.make(Post, title="Hello", body="World", published=True, writer=writer)
    post.labels.set([baker.make(Label, name="alpha"), baker.make(Label, name="beta")])
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    # Written long ago, so Last-Modified is sent and If-Modified-Since can be tried.
    for model, pks in (
        (Post, [post.pk]),
        (Writer, [writer.pk]),
        (Label, list(post.labels.values_list("pk", flat=True))),
    ):
        for pk in pks:
            write_behind_the_orm(model, pk, last_modified=an_hour_ago)
    return post


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize("view", URLS.values(), ids=URLS.keys())
def test_a_write_through_any_path_changes_the_validators(client, shown, write, view):
    url = view.format(pk=shown.pk)
    before = client.get(url)
    assert before.status_code == 200
    write(shown.pk)
    after = client.get(url, HTTP_IF_NONE_MATCH=before.headers["ETag"])
    if after.status_code == 404:
        return  # the write took the post out of this view: nothing stale to serve
    assert after.status_code == 200, "a stale 304 after the write"
    if view == URLS["detail"] or view == URLS["plain"]:
        assert after.content != before.content
    if "Last-Modified" in before.headers:
        by_date = client.get(url, HTTP_IF_MODIFIED_SINCE=before.headers["Last-Modified"])
        assert by_date.status_code in (200, 404), "a stale 304 to If-Modified-Since after the write"


# Each write its own transaction, as in production: writes within the transaction that inserted a row keep its date.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_the_post_row_itself_is_bumped(shown, write):
    """What the detail's validator query reads moved, not just what the view renders."""
    before = Post.objects.values_list("version", "last_modified").get(pk=shown.pk)
    write(shown.pk)
    after = Post.objects.filter(pk=shown.pk).values_list("version", "last_modified").first()
    if after is None:
        return
    assert after[0] > before[0]
    assert after[1] > before[1]


def test_a_write_that_shows_nowhere_else_touches_nothing(shown):
    """A writer's other fields are not shown by the post, but every write of a shown row counts: no guessing."""
    other = baker.make(Label, name="unused")
    version = _post(shown.pk).version
    other.name = "still-unused"
    other.save()
    assert _post(shown.pk).version == version


def test_deleting_the_writer_cascades_and_counts_the_posts(client, shown):
    before = client.get("/test/posts/")
    changes = read_changes(Post)
    shown.writer.delete()
    assert not Post.objects.filter(pk=shown.pk).exists()
    assert read_changes(Post) > changes
    assert client.get("/test/posts/", HTTP_IF_NONE_MATCH=before.headers["ETag"]).status_code == 200


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
    """labels.set() inside a serializer's update bumps the row; the body must show that version, not the save's."""
    from rest_framework.test import APIClient

    staff = User.objects.create_user("staff", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    post = baker.make(Post, published=True, writer=baker.make(Writer))
    etag = client.get(f"/test/posts/{post.pk}/").headers["ETag"]
    patched = client.patch(f"/test/posts/{post.pk}/", {"labels": ["x", "y"]}, format="json", HTTP_IF_MATCH=etag)
    fresh = client.get(f"/test/posts/{post.pk}/")
    assert patched.headers["ETag"] == fresh.headers["ETag"]
    assert patched.json() == fresh.json()


def test_touch_bumps_the_rows_that_show_the_touched_ones(shown):
    version = _post(shown.pk).version
    Writer.objects.filter(pk=shown.writer_id).touch()
    assert _post(shown.pk).version > version


def test_the_model_declares_what_the_post_shows():
    assert {(d.path, d.related) for d in declared_dependencies(Post)} == {("writer", Writer), ("labels", Label)}


def test_a_dependency_touch_costs_one_update_per_relation(shown):
    writer = _post(shown.pk).writer
    writer.name = "Grace"
    with CaptureQueriesContext(connection) as queries:
        writer.save()
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "testapp_post" in q["sql"]
    ]
    assert len(updates) == 1, updates


def test_a_304_with_dependencies_stays_one_query(client, shown):
    url = f"/test/posts/{shown.pk}/"
    etag = client.get(url).headers["ETag"]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert len(queries) == 1


def test_if_modified_since_after_a_dependency_write_in_the_same_second(client, shown):
    """The writer's write moves the post's own Last-Modified past the date the client holds."""
    url = f"/test/posts/{shown.pk}/"
    held = client.get(url).headers["Last-Modified"]
    _rename_writer_by_save(shown.pk)
    post = _post(shown.pk)
    assert http_date(post.last_modified.timestamp()) != held
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=held).status_code == 200


@pytest.mark.parametrize(("paths", "message"), [(("nope",), "not a field"), (("title",), "not a relation")])
def test_a_declared_path_that_is_no_relation_fails_the_system_check(monkeypatch, paths, message):
    from django.core import checks

    monkeypatch.setattr(Post, "depends_on", paths)
    errors = [m for m in checks.run_checks() if m.id == "conditional_api.E002"]
    assert [e.obj for e in errors] == [Post] and message in errors[0].msg


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("one_transaction", [True, False], ids=["one transaction", "autocommit"])
def test_links_set_with_the_save_share_its_last_modified_second(one_transaction):
    """A save and its M2M links committed together are one state: one Last-Modified second, not two."""
    from contextlib import nullcontext

    from django.db import transaction

    post = baker.make(Post, writer=baker.make(Writer))
    label = baker.make(Label)
    with transaction.atomic() if one_transaction else nullcontext():
        post.title = "New"
        post.save()
        saved = (post.version, post.last_modified)
        post.labels.add(label)
    stored = Post.objects.get(pk=post.pk)
    assert stored.version == post.version > saved[0]
    assert (stored.last_modified == saved[1]) is one_transaction


def test_a_save_rolled_back_with_its_savepoint_does_not_keep_last_modified(client, shown):
    """The links change after the savepoint that saved the instance rolled back: a new state, a new second."""
    from django.db import transaction

    url = f"/test/posts/{shown.pk}/"
    held = client.get(url).headers["Last-Modified"]
    post, other = _post(shown.pk), baker.make(Post, published=True, writer=shown.writer)
    with transaction.atomic():
        other.title = "another row of the table"
        other.save()
        with pytest.raises(RuntimeError), transaction.atomic():
            post.title = "rolled back"
            post.save()
            raise RuntimeError
        post.labels.add(Label.objects.create(name="gamma"))
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=held).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", ["save", "delete"])
def test_a_related_model_that_is_not_versioned_can_be_written_outside_a_transaction(write):
    """Autocommit: no transaction to hold a row lock in, so none is asked for; the parents are still bumped."""
    from django.db import connection

    from tests.testapp.models import Edition, Publisher

    publisher = Publisher.objects.create(name="Old")
    edition = Edition.objects.create(title="First", publisher=publisher)
    assert not connection.in_atomic_block
    if write == "save":
        publisher.name = "New"
        publisher.save()
        assert Edition.objects.get(pk=edition.pk).version > edition.version
    else:
        publisher.delete()
        assert not Edition.objects.filter(pk=edition.pk).exists()
