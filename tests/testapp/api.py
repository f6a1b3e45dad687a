"""DRF views for the integration's tests: object permissions, a plain generic view, posts, writers and labels."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from rest_framework import filters, generics, permissions, serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from conditional_api.drf import (
    ConditionalListMixin,
    ConditionalModelViewSet,
    ConditionalRetrieveMixin,
    ConditionalUpdateMixin,
)
from conditional_api.drf_fields import ETagField
from example_project.blog.filters import boolean_param, key_param, text_param
from example_project.blog.serializers import NamedReferenceField

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


class LabelNamesField(serializers.ListField):
    """Labels as a sorted list of names; unknown names are created on write."""

    child = serializers.CharField(max_length=50)

    def to_representation(self, value: Any) -> list[str]:
        return sorted(label.name for label in value.all())


class PostSerializer(serializers.ModelSerializer):
    writer = NamedReferenceField(queryset=Writer.objects.all())
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


class PostWithETagSerializer(PostSerializer):
    """Each post with the ETag its detail URL serves: a client can send If-Match for a post it saw in a list."""

    etag = ETagField(detail="post-detail")

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "etag"]


class PlainETagSerializer(PostSerializer):
    """The ETag of the decorator's detail view, whose variant names no media type."""

    etag = ETagField(detail="plain-post-detail")

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "etag"]


class WriterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Writer
        fields = ["id", "name", "email", "version", "updated_at"]
        read_only_fields = ["version", "updated_at"]


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name"]


class PostFilter(filters.BaseFilterBackend):
    """``?published=``, ``?writer=`` and ``?label=`` on the list only: a detail URL names one post."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if getattr(view, "action", None) != "list":
            return queryset
        params = request.query_params
        if "published" in params:
            queryset = queryset.filter(published=boolean_param("published", params["published"]))
        if "writer" in params:
            queryset = queryset.filter(writer_id=key_param(Post, "writer", "writer", params["writer"]))
        if "label" in params:
            queryset = queryset.filter(labels__name=text_param("label", params["label"], "a label name"))
        return queryset


class ListOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` on the list action only."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if getattr(view, "action", None) != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)


class PostViewSet(ConditionalModelViewSet):
    """Posts with their writer and labels: staff see all of them, everyone else the published ones."""

    serializer_class = PostSerializer
    filter_backends = [PostFilter, ListOrderingFilter]
    ordering_fields = ["id", "title", "updated_at"]
    ordering = ["id"]
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    def get_queryset(self) -> QuerySet[Post]:
        queryset = Post.objects.select_related("writer").prefetch_related("labels").order_by("id")
        if not self.request.user.is_staff:
            queryset = queryset.filter(published=True)
        return queryset


class WriterViewSet(ConditionalModelViewSet):
    """Writers: the settings give their detail the updated_at strategy."""

    serializer_class = WriterSerializer
    queryset = Writer.objects.order_by("id")
    filter_backends = [ListOrderingFilter]
    ordering_fields = ["id", "name"]
    ordering = ["id"]
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]


class PostWithETagViewSet(ConditionalListMixin, viewsets.GenericViewSet):
    """The post list, each post with its detail's ETag (``?detail=plain``: the decorator's)."""

    filter_backends = [PostFilter, ListOrderingFilter]
    ordering_fields = ["id", "title", "updated_at"]
    ordering = ["id"]

    def get_serializer_class(self) -> type[PostSerializer]:
        return PlainETagSerializer if self.request.query_params.get("detail") == "plain" else PostWithETagSerializer

    def get_queryset(self) -> QuerySet[Post]:
        queryset = Post.objects.select_related("writer").prefetch_related("labels").order_by("id")
        return queryset if self.request.user.is_staff else queryset.filter(published=True)


class LabelViewSet(ConditionalListMixin, viewsets.GenericViewSet):
    """A list and nothing else."""

    serializer_class = LabelSerializer
    queryset = Label.objects.order_by("name")
