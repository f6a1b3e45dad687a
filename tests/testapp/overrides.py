"""Views that customise the usual DRF and decorator hooks, as projects do; with their own URLs.

``ON`` lets a test run code at a named point of a request (another writer
committing, say), so races are reproduced in one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework import generics, permissions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.serializers import BaseSerializer

from conditional_api import conditional
from conditional_api.drf import ConditionalModelViewSet, ConditionalRetrieveMixin

from .api import NoteSerializer
from .models import Note

ON: dict[str, Callable[[], None]] = {}


def _at(point: str) -> None:
    if point in ON:
        ON.pop(point)()


class LooksAtTheObject(permissions.BasePermission):
    """A permission that loads the object in has_permission(), as parent and nested checks do."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if "pk" in view.kwargs:
            view.get_object()
            _at("after the permission")
        return True


class NoteViewSet(ConditionalModelViewSet):
    """perform_create() without super(), a permission that loads the object, a custom write action."""

    queryset = Note.objects.order_by("id")
    serializer_class = NoteSerializer
    permission_classes = [LooksAtTheObject]

    def perform_create(self, serializer: BaseSerializer[Note]) -> None:
        serializer.save(owner=None)

    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        def run(request: Request) -> Response:
            Note.objects.filter(pk=self.get_object().pk).update(text="published")
            return Response(self.get_serializer(self.get_object()).data)

        return self.conditional_write(run, request)


class OwnQueryNoteView(ConditionalRetrieveMixin, generics.GenericAPIView[Note]):
    """get_object() overridden without super(): its own query, every time."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer

    def get_object(self) -> Note:
        _at("get_object")
        return Note.objects.get(pk=self.kwargs["pk"])

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.retrieve(request, *args, **kwargs)


class OwnQueryContentNoteView(OwnQueryNoteView):
    conditional_options = {"strategy": "content"}


@conditional(Note.objects.filter(text="visible"), cache_control="public, max-age=600")
def scoped_note(request: HttpRequest, pk: int) -> JsonResponse:
    """Serves any note; the decorator's queryset says which ones have validators."""
    return JsonResponse({"text": Note.objects.get(pk=pk).text})


router = SimpleRouter()
router.register("notes", NoteViewSet, basename="override-note")

urlpatterns = [
    path("", include(router.urls)),
    path("own-query-notes/<int:pk>/", OwnQueryNoteView.as_view()),
    path("own-query-content-notes/<int:pk>/", OwnQueryContentNoteView.as_view()),
    path("scoped-notes/<int:pk>/", scoped_note),
]
