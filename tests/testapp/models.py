from __future__ import annotations

from typing import ClassVar

from django.db import models

from conditional_api.models import VersionedModel


class Note(VersionedModel):
    """A versioned model with a unique key, for bulk and upsert paths."""

    key = models.CharField(max_length=50, unique=True)
    text = models.TextField(default="")
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)


class Stamped(models.Model):
    """A model that is not versioned, only timestamped: the updated_at strategy's case."""

    text = models.TextField(default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.text


class PlainManaged(VersionedModel):
    """A versioned model whose manager forgets the versioned QuerySet (system check W001)."""

    # Deliberately not the VersionedManager the base class declares: the case the check reports.
    objects: ClassVar[models.Manager[PlainManaged]] = models.Manager()  # type: ignore[assignment]


class Triggered(VersionedModel):
    """A versioned model whose table carries the version triggers (see conditional_api.triggers)."""

    text = models.TextField(default="")
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)


class Shelf(VersionedModel):
    """Shows its books: a reverse foreign key dependency."""

    name = models.CharField(max_length=50, default="")

    depends_on = ("books",)


class Book(VersionedModel):
    title = models.CharField(max_length=50, default="")
    shelf = models.ForeignKey(Shelf, null=True, blank=True, on_delete=models.SET_NULL, related_name="books")


class BookProxy(Book):
    """Writes through a proxy are writes to its model's table."""

    class Meta:
        proxy = True


class PinnedNote(Note):
    """Multi-table inheritance: a child's writes change its parent's table too."""

    pinned_by = models.CharField(max_length=50, default="")
