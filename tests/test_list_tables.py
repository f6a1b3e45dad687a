"""A list's ETag follows every table its query reads: joins, subqueries, ordering, select_related, prefetches.

Each shape is a list a project writes in one line (often through
django-filter); each write changes the list's bytes without touching a row
of the list's own table. Whatever the adapter, a client holding the old
ETag must get the new bytes, never a 304.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework import generics, serializers

from conditional_api import conditional
from conditional_api.drf import ConditionalListMixin
from conditional_api.strategies import CollectionStrategy
from conditional_api.tables import tables_read
from conditional_api.validators import UNKNOWN_UNTIL_RENDERED, Variant
from tests.testapp.models import Label, Note, PinnedNote, Post, Writer

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@dataclass(frozen=True)
class Shape:
    """A list: the rows it selects, what it shows of each, and a write elsewhere that changes its bytes."""

    rows: Callable[[], Any]
    show: Callable[[Any], Any]
    write: Callable[[], None]


def _staff_notes() -> None:
    staff = Group.objects.create(name="staff")
    for name in ("ann", "bob"):
        user = User.objects.create(username=name)
        user.groups.add(staff)
        Note.objects.create(key=f"note-{name}", owner=user)


def _rename_user(username: str, to: str) -> None:
    User.objects.filter(username=username).update(username=to)


def _rename_user_by_save(username: str, to: str) -> None:
    user = User.objects.get(username=username)
    user.username = to
    user.save()


SHAPES: dict[str, Shape] = {
    "filtered through a reverse foreign key": Shape(
        rows=lambda: Writer.objects.filter(posts__title="hello").order_by("pk"),
        show=lambda writer: writer.name,
        write=lambda: Post.objects.filter(title="hello").update(title="bye"),
    ),
    "scoped through a user's groups (M2M links of a model that is not versioned)": Shape(
        rows=lambda: Note.objects.filter(owner__groups__name="staff").order_by("key"),
        show=lambda note: note.key,
        write=lambda: User.objects.get(username="ann").groups.clear(),
    ),
    "select_related of a model that is not versioned": Shape(
        rows=lambda: Note.objects.select_related("owner").order_by("key"),
        show=lambda note: [note.key, note.owner.username if note.owner else None],
        write=lambda: _rename_user("ann", "anne"),
    ),
    "saved through save()": Shape(
        rows=lambda: Note.objects.select_related("owner").order_by("key"),
        show=lambda note: [note.key, note.owner.username if note.owner else None],
        write=lambda: _rename_user_by_save("bob", "robert"),
    ),
    "ordered over a relation": Shape(
        rows=lambda: Note.objects.order_by("owner__username", "key"),
        show=lambda note: note.key,
        write=lambda: _rename_user("ann", "zed"),
    ),
    "annotated with a count over a relation": Shape(
        rows=lambda: Note.objects.annotate(groups=Count("owner__groups")).order_by("key"),
        show=lambda note: [note.key, note.groups],
        write=lambda: User.objects.get(username="bob").groups.add(Group.objects.create(name="extra")),
    ),
    "filtered by an Exists subquery": Shape(
        rows=lambda: Note.objects.filter(Exists(Post.objects.filter(title=OuterRef("key")))).order_by("key"),
        show=lambda note: note.key,
        write=lambda: Post.objects.filter(title="note-ann").update(title="other"),
    ),
    "prefetching a relation of a relation": Shape(
        rows=lambda: Note.objects.select_related("owner").prefetch_related("owner__groups").order_by("key"),
        show=lambda note: [note.key, [group.name for group in note.owner.groups.all()] if note.owner else []],
        write=lambda: Group.objects.filter(name="staff").update(name="crew"),
    ),
    "prefetching with a Prefetch queryset": Shape(
        rows=lambda: Writer.objects.prefetch_related(
            Prefetch("posts", queryset=Post.objects.filter(published=True).order_by("pk"))
        ).order_by("pk"),
        show=lambda writer: [writer.name, [post.title for post in writer.posts.all()]],
        write=lambda: Post.objects.filter(title="hello").update(published=False),
    ),
    "filtered through raw SQL naming a table": Shape(
        rows=lambda: Note.objects.extra(where=["owner_id IN (SELECT user_id FROM auth_user_groups)"]).order_by("key"),
        show=lambda note: note.key,
        write=lambda: User.objects.get(username="ann").groups.clear(),
    ),
    "counting links, a row deleted with its links (no signal for them)": Shape(
        rows=lambda: Label.objects.annotate(uses=Count("posts")).order_by("pk"),
        show=lambda label: [label.name, label.uses],
        write=lambda: Post.objects.get(title="hello").delete(),
    ),
    "counting links, one created through the through model": Shape(
        rows=lambda: Label.objects.annotate(uses=Count("posts")).order_by("pk"),
        show=lambda label: [label.name, label.uses],
        write=lambda: Post.labels.through.objects.create(
            post=Post.objects.get(title="note-ann"), label=Label.objects.get(name="l1")
        ),
    ),
    "counting links, some deleted through the through model": Shape(
        rows=lambda: Label.objects.annotate(uses=Count("posts")).order_by("pk"),
        show=lambda label: [label.name, label.uses],
        write=lambda: Post.labels.through.objects.filter(label__name="l1").delete(),
    ),
    "an inherited model, its parent's row updated": Shape(
        rows=lambda: PinnedNote.objects.order_by("key"),
        show=lambda note: [note.key, note.text],
        write=lambda: Note.objects.filter(key="pinned").update(text="changed"),
    ),
}


@pytest.fixture
def data() -> None:
    _staff_notes()
    writer = Writer.objects.create(name="Wanda", email="w@example.com")
    Post.objects.create(title="hello", body="", writer=writer, published=True).labels.add(
        Label.objects.create(name="l1")
    )
    Post.objects.create(title="note-ann", body="", writer=writer)
    PinnedNote.objects.create(key="pinned", text="before")


def _shape(request: HttpRequest) -> Shape:
    return SHAPES[request.GET["shape"]]


@conditional(lambda request: _shape(request).rows(), strategy="collection")
def decorated_list(request: HttpRequest) -> JsonResponse:
    shape = _shape(request)
    return JsonResponse({"results": [shape.show(row) for row in shape.rows()]})


class _ShownSerializer(serializers.BaseSerializer[Any]):
    def to_representation(self, instance: Any) -> Any:
        return _shape(self.context["request"]).show(instance)


class DrfList(ConditionalListMixin, generics.GenericAPIView[Any]):
    serializer_class = _ShownSerializer
    conditional_options = {"strategy": "collection"}
    pagination_class = None

    def get_queryset(self) -> Any:
        return _shape(self.request).rows()

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.list(request, *args, **kwargs)


urlpatterns = [path("decorated/", decorated_list), path("drf/", DrfList.as_view())]


@pytest.mark.usefixtures("data")
@pytest.mark.parametrize("adapter", ["decorated", "drf"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_write_to_any_table_the_list_reads_changes_its_etag(client, adapter, shape):
    url = f"/{adapter}/?shape={shape}"
    first = client.get(url)
    assert first.status_code == 200 and first.has_header("ETag")

    SHAPES[shape].write()

    fresh = client.get(url)
    assert fresh.content != first.content, "the write must change the list's bytes for this test to mean anything"
    revalidated = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 200 and revalidated.content == fresh.content


@pytest.mark.usefixtures("data")
@pytest.mark.parametrize("adapter", ["decorated", "drf"])
def test_a_list_over_joined_tables_still_answers_304_with_one_query(client, adapter, django_assert_num_queries):
    url = f"/{adapter}/?shape={'prefetching a relation of a relation'}"
    etag = client.get(url)["ETag"]
    with django_assert_num_queries(1):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_the_tables_a_list_reads_are_named_from_its_query():
    rows = Note.objects.filter(owner__groups__name="x").select_related("owner").prefetch_related("owner__groups")
    tables = tables_read(rows)
    assert tables is not None
    assert {model._meta.label for model in tables} == {"testapp.Note", "auth.User", "auth.Group", "auth.User_groups"}


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(lambda: Note.objects.extra(where=["id IN (SELECT 1 FROM no_such_table)"]), id="a raw table"),
        pytest.param(lambda: Note.objects.prefetch_related("not_a_relation"), id="a prefetch that is no relation"),
    ],
)
def test_a_list_whose_tables_cannot_all_be_named_is_validated_by_its_content(rows):
    assert tables_read(rows()) is None
    current = CollectionStrategy().read_collection(rows(), variant=Variant(), release="")
    assert current is UNKNOWN_UNTIL_RENDERED


def test_a_table_named_only_in_raw_sql_is_still_followed():
    rows = Note.objects.extra(where=["owner_id IN (SELECT user_id FROM auth_user_groups)"])
    tables = tables_read(rows)
    assert tables is not None and User.groups.through in tables
