"""One ETag, one body (RFC 9110 §8.8.3): a 200's validator describes exactly the bytes it carries.

The validator is read in one statement and the body in others: a write
committing in between must not leave new bytes under the old ETag. Each
view here lets a write land at that point, as a concurrent writer would;
whatever the adapter and shape, the 200 then carries the ETag a fresh GET
gives for those same bytes, or none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework import generics, pagination, serializers

from conditional_api import conditional
from conditional_api.drf import ConditionalListMixin, ConditionalRetrieveMixin
from tests.testapp.models import Label, Note, Post, Writer

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

#: The write that lands between the validator's statement and the body's.
BETWEEN: list[Callable[[], None]] = []


def _meanwhile() -> None:
    while BETWEEN:
        BETWEEN.pop()()


@conditional(Note)
def note_detail(request: HttpRequest, pk: int) -> JsonResponse:
    _meanwhile()
    return JsonResponse({"text": Note.objects.get(pk=pk).text})


@conditional(Note.objects.order_by("key"), strategy="collection")
def note_list(request: HttpRequest) -> JsonResponse:
    _meanwhile()
    return JsonResponse({"results": list(Note.objects.order_by("key").values_list("text", flat=True))})


def _note_validator(request: HttpRequest, pk: int) -> Any:
    from conditional_api.strategies import VersionStrategy
    from conditional_api.validators import Variant

    note = Note.objects.filter(pk=pk).only("version", "last_modified").first()
    return None if note is None else VersionStrategy().validator(note, Variant(), "")


@conditional(validator=_note_validator)
def note_by_function(request: HttpRequest, pk: int) -> JsonResponse:
    _meanwhile()
    return JsonResponse({"text": Note.objects.get(pk=pk).text})


class _PostSerializer(serializers.ModelSerializer[Post]):
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = ["id", "title", "labels"]

    def get_labels(self, post: Post) -> list[str]:
        _meanwhile()  # after the row's statement, before its labels are read
        return sorted(label.name for label in post.labels.all())


class PostDetail(ConditionalRetrieveMixin, generics.GenericAPIView[Post]):
    queryset = Post.objects.all()
    serializer_class = _PostSerializer

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.retrieve(request, *args, **kwargs)


class _WriteFirst(pagination.PageNumberPagination):
    page_size = 10

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        _meanwhile()  # after the change counts were read, before the page and its COUNT
        return super().paginate_queryset(queryset, request, view)


class PostList(ConditionalListMixin, generics.GenericAPIView[Post]):
    queryset = Post.objects.order_by("pk")
    serializer_class = _PostSerializer
    pagination_class = _WriteFirst
    conditional_options = {"strategy": "collection"}

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.list(request, *args, **kwargs)


urlpatterns = [
    path("notes/<int:pk>/", note_detail),
    path("notes/", note_list),
    path("by-function/<int:pk>/", note_by_function),
    path("posts/<int:pk>/", PostDetail.as_view()),
    path("posts/", PostList.as_view()),
    path("", include("tests.urls")),
]


@pytest.fixture
def rows() -> dict[str, Any]:
    note = Note.objects.create(key="a", text="before")
    writer = Writer.objects.create(name="W", email="w@example.com")
    post = Post.objects.create(title="p", body="", writer=writer)
    label = Label.objects.create(name="before")
    post.labels.add(label)
    return {"note": note, "post": post, "label": label}


def _rename_note(rows: dict[str, Any]) -> None:
    Note.objects.filter(pk=rows["note"].pk).update(text="after")


def _rename_label(rows: dict[str, Any]) -> None:
    Label.objects.filter(pk=rows["label"].pk).update(name="after")


CASES = {
    "decorator detail": ("/notes/{note}/", _rename_note),
    "decorator list": ("/notes/", _rename_note),
    "decorator validator=": ("/by-function/{note}/", _rename_note),
    "DRF detail, a relation read after the row": ("/posts/{post}/", _rename_label),
    "DRF list, the page read after the counts": ("/posts/", _rename_label),
}


@pytest.mark.parametrize("precondition", [{}, {"HTTP_IF_NONE_MATCH": '"an old copy"'}], ids=["plain", "conditional"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_write_between_the_validator_and_the_body_never_leaves_the_old_etag_on_new_bytes(
    client, rows, case, precondition
):
    template, write = CASES[case]
    url = template.format(note=rows["note"].pk, post=rows["post"].pk)
    before = client.get(url)
    BETWEEN.append(lambda: write(rows))

    raced = client.get(url, **precondition)

    assert not BETWEEN, "the write must have landed inside the request"
    now = client.get(url)
    assert raced.status_code == 200 and raced.content == now.content != before.content
    assert raced.get("ETag") in (None, now["ETag"]), "an ETag on the raced 200 must be the one of its bytes"


def test_without_a_write_in_between_the_200_carries_its_etag(client, rows):
    for url in (f"/notes/{rows['note'].pk}/", "/notes/", f"/posts/{rows['post'].pk}/", "/posts/"):
        first, second = client.get(url), client.get(url)
        assert first.has_header("ETag") and first["ETag"] == second["ETag"], url


def test_a_drf_detail_built_from_one_statement_reads_no_validator_again(rows, django_assert_num_queries):
    from rest_framework.test import APIClient

    # The test app's writer detail serializes the row alone: its columns say which version it is.
    with django_assert_num_queries(1):
        response = APIClient().get(f"/test/writers/{rows['post'].writer_id}/")
    assert response.status_code == 200 and response.has_header("ETag")
