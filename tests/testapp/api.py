"""DRF views for the integration's tests: object permissions and a plain generic view."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from rest_framework import filters, generics, permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from conditional_api.drf import ConditionalModelViewSet, ConditionalRetrieveMixin, ConditionalUpdateMixin

from .models import Label, Note, Post, Writer

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


class WriterReferenceField(serializers.PrimaryKeyRelatedField):
    """Written as an id, shown as ``{"id", "name"}``: the post shows its writer's name."""

    def use_pk_only_optimization(self) -> bool:
        return False

    def to_representation(self, value: Writer) -> dict[str, Any]:
        return {"id": value.pk, "name": value.name}


class LabelNamesField(serializers.ListField):
    """Labels as a sorted list of names; unknown names are created on write."""

    child = serializers.CharField(max_length=50)

    def to_representation(self, value: Any) -> list[str]:
        return sorted(label.name for label in value.all())


class PostSerializer(serializers.ModelSerializer):
    writer = WriterReferenceField(queryset=Writer.objects.all())
    labels = LabelNamesField(required=False)

    class Meta:
        model = Post
        fields = ["id", "title", "body", "published", "writer", "labels", "version", "updated_at"]
        read_only_fields = ["version", "updated_at"]

    def _set_labels(self, post: Post, names: list[str] | None) -> None:
        if names is None:
            return
        post.labels.set([Label.objects.get_or_create(name=name)[0] for name in dict.fromkeys(names)])

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> Post:
        names = validated_data.pop("labels", None)
        post = super().create(validated_data)
        self._set_labels(post, names)
        return post

    @transaction.atomic
    def update(self, instance: Post, validated_data: dict[str, Any]) -> Post:
        names = validated_data.pop("labels", None)
        post = super().update(instance, validated_data)
        self._set_labels(post, names)
        return post


class LabelFilter(filters.BaseFilterBackend):
    """``?label=`` on the list only: a detail URL names one post whatever the query string."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if getattr(view, "action", None) == "list" and "label" in request.query_params:
            queryset = queryset.filter(labels__name=request.query_params["label"])
        return queryset


class PostViewSet(ConditionalModelViewSet):
    """Posts with their writer and labels: staff see all of them, everyone else the published ones."""

    serializer_class = PostSerializer
    filter_backends = [LabelFilter]
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    def get_queryset(self) -> QuerySet[Post]:
        queryset = Post.objects.select_related("writer").prefetch_related("labels").order_by("id")
        if not self.request.user.is_staff:
            queryset = queryset.filter(published=True)
        return queryset
