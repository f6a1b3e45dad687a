"""The article's JSON shape, shared by the DRF serializer and the plain view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .models import Article


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, as DRF renders datetimes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def article_representation(article: Article) -> dict[str, Any]:
    return {
        "id": article.pk,
        "title": article.title,
        "body": article.body,
        "published": article.published,
        "author": {"id": article.author.pk, "name": article.author.name},
        "tags": sorted(tag.name for tag in article.tags.all()),
        "version": article.version,
        "updated_at": timestamp(article.updated_at),
    }
