from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers

from .models import Article, Author, Tag


class NamedReferenceField(serializers.PrimaryKeyRelatedField):
    """A related row written as its id and shown as ``{"id", "name"}`` (an article's author)."""

    def use_pk_only_optimization(self) -> bool:
        return False

    def to_representation(self, value: Any) -> dict[str, Any]:
        return {"id": value.pk, "name": value.name}

    def get_choices(self, cutoff: int | None = None) -> dict[Any, str]:
        """The browsable API's choices, keyed by the id this field accepts on write.

        DRF keys them by ``to_representation()``, which here is a dict: no key
        at all (the page answered 500), and no value the form could post back.
        """
        queryset = self.get_queryset()
        if queryset is None:
            return {}
        if cutoff is not None:
            queryset = queryset[:cutoff]
        return {item.pk: self.display_value(item) for item in queryset}


class TagNamesField(serializers.ListField):
    """Tags as a sorted list of names; unknown names are created on write."""

    child = serializers.CharField(max_length=50)

    def to_representation(self, value: Any) -> list[str]:
        return sorted(tag.name for tag in value.all())


class ArticleSerializer(serializers.ModelSerializer):
    author = NamedReferenceField(queryset=Author.objects.all())
    tags = TagNamesField(required=False)

    class Meta:
        model = Article
        fields = ["id", "title", "body", "published", "author", "tags", "version", "updated_at"]
        read_only_fields = ["version", "updated_at"]

    def _set_tags(self, article: Article, names: list[str] | None) -> None:
        if names is None:
            return
        tags = [Tag.objects.get_or_create(name=name)[0] for name in dict.fromkeys(names)]
        article.tags.set(tags)

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> Article:
        names = validated_data.pop("tags", None)
        article = super().create(validated_data)
        self._set_tags(article, names)
        return article

    @transaction.atomic
    def update(self, instance: Article, validated_data: dict[str, Any]) -> Article:
        names = validated_data.pop("tags", None)
        article = super().update(instance, validated_data)
        self._set_tags(article, names)
        return article


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name", "email", "version", "updated_at"]
        read_only_fields = ["version", "updated_at"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name"]
