"""Writes from outside the ORM, and how they stay visible to validators."""

from __future__ import annotations

from django.db import connection, transaction

from .models import Author


def rename_author_behind_the_orm(pk: int, name: str) -> None:
    """A raw SQL write, as another service would make it, then the touch that makes it visible."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE blog_author SET name = %s WHERE id = %s", [name, pk])
        Author.objects.filter(pk=pk).touch()
