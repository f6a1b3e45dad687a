"""DRF views for the integration's tests: object permissions and a plain generic view."""

from __future__ import annotations

from typing import Any

from rest_framework import generics, permissions, serializers
from rest_framework.exceptions import NotFound

from conditional_api.drf import ConditionalModelViewSet, ConditionalRetrieveMixin, ConditionalUpdateMixin

from .models import Note

SERIALIZED: list[int] = []


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "key", "text", "version", "updated_at"]
        read_only_fields = ["version", "updated_at"]

    def to_representation(self, instance: Note) -> dict[str, Any]:
        SERIALIZED.append(instance.pk)
        return super().to_representation(instance)


class IsOwner(permissions.BasePermission):
    def has_object_permission(self, request: Any, view: Any, obj: Note) -> bool:
        return obj.owner_id == request.user.pk


class OwnedNoteViewSet(ConditionalModelViewSet):
    """Object permissions: only the owner may read or write a note."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [permissions.IsAuthenticated, IsOwner]
    permission_fields = ("owner_id",)


class NoteDetailView(ConditionalRetrieveMixin, ConditionalUpdateMixin, generics.GenericAPIView):
    """The mixins on a plain generic view, no router, options in code."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [permissions.AllowAny]
    lookup_field = "key"
    conditional_options = {"strategy": "updated_at", "cache_control": "private, no-cache"}

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.retrieve(request, *args, **kwargs)

    def put(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.update(request, *args, **kwargs)


class GuardedNoteView(ConditionalRetrieveMixin, ConditionalUpdateMixin, generics.GenericAPIView):
    """Access rules in an overridden get_object(), a common DRF pattern."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get_object(self) -> Note:
        note = super().get_object()
        if note.owner_id != self.request.user.pk:
            raise NotFound()
        return note

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.retrieve(request, *args, **kwargs)

    def put(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.update(request, *args, **kwargs)
