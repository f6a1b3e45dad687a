from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from django.db import models

from conditional_api.models import VersionedManager, VersionedModel


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


class Writer(VersionedModel):
    """What a post shows of its writer: a foreign key dependency."""

    name = models.CharField(max_length=100)
    email = models.EmailField()

    def __str__(self) -> str:
        return self.name


class Label(VersionedModel):
    """What a post shows of its labels: a many-to-many dependency."""

    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Post(VersionedModel):
    """Shows its writer's name and its labels' names, so their writes bump it."""

    title = models.CharField(max_length=200)
    body = models.TextField()
    published = models.BooleanField(default=False)
    writer = models.ForeignKey(Writer, on_delete=models.CASCADE, related_name="posts")
    labels = models.ManyToManyField(Label, related_name="posts", blank=True)

    depends_on = ("writer", "labels")

    def __str__(self) -> str:
        return self.title


class Publisher(models.Model):
    """A related model that is not versioned: its own writes bump nothing of its own."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Edition(VersionedModel):
    """Shows its publisher, which is not versioned."""

    title = models.CharField(max_length=100)
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="editions")

    depends_on = ("publisher",)


class Reminder(VersionedModel):
    """Shows its note, which may be a pinned note (multi-table inheritance): writes through the child count."""

    text = models.CharField(max_length=100, default="")
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="reminders")

    depends_on = ("note",)


class FeaturedPost(Post):
    """A child of a model with dependencies: the parent's ``depends_on`` covers its rows too."""

    blurb = models.CharField(max_length=100, default="")


class Beat(VersionedModel):
    """What a reporter covers: the last hop of an agency's ``reporters__beats``."""

    name = models.CharField(max_length=50)


class Agency(VersionedModel):
    """Shows the beats of its reporters: a path of a reverse foreign key, then a many-to-many relation."""

    name = models.CharField(max_length=50)

    depends_on = ("reporters__beats",)


class Reporter(VersionedModel):
    """The middle of both paths; shown by no one itself, so only its links matter."""

    name = models.CharField(max_length=50)
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.SET_NULL, related_name="reporters")
    beats = models.ManyToManyField(Beat, related_name="reporters", blank=True)


class Story(VersionedModel):
    """Shows its reporter's agency: a path of two forward foreign keys."""

    title = models.CharField(max_length=100, default="")
    reporter = models.ForeignKey(Reporter, on_delete=models.CASCADE, related_name="stories")

    depends_on = ("reporter__agency",)


class Desk(VersionedModel):
    """Shows its members, linked through a through model of the project's own."""

    name = models.CharField(max_length=50, default="")
    members = models.ManyToManyField(Reporter, through="Membership", related_name="desks", blank=True)

    depends_on = ("members",)


class Membership(models.Model):
    """An explicit through model: Django sends its save and delete signals, as for any model."""

    desk = models.ForeignKey(Desk, on_delete=models.CASCADE)
    reporter = models.ForeignKey(Reporter, on_delete=models.CASCADE)
    role = models.CharField(max_length=50, default="")

    def __str__(self) -> str:
        return f"{self.reporter_id} at {self.desk_id}"


class MissingIsNullField(models.CharField):  # type: ignore[type-arg]  # the stubs' CharField is generic
    """A reference that may be missing, stored as NULL: an empty one is no reference, as ``None`` is."""

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(value) or None


class OpenTicketManager(VersionedManager["Ticket"]):
    """The default manager: closed tickets are hidden everywhere it is used."""

    def get_queryset(self) -> models.QuerySet[Ticket]:
        return super().get_queryset().filter(closed=False)


class Ticket(VersionedModel):
    """A UUID primary key, a nullable unique reference, decimal and JSON columns, and a filtering default manager."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(unique=True)
    reference = MissingIsNullField(max_length=20, null=True, blank=True, unique=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    data = models.JSONField(default=dict)
    closed = models.BooleanField(default=False)

    objects: ClassVar[OpenTicketManager] = OpenTicketManager()
    every = VersionedManager["Ticket"]()


class Badge(VersionedModel):
    """A primary key the application chooses: text."""

    code = models.CharField(primary_key=True, max_length=20)


class Lot(VersionedModel):
    """A decimal primary key: one row has many spellings ("1.5", "1.50")."""

    number = models.DecimalField(primary_key=True, max_digits=6, decimal_places=2)


class Medal(Badge):
    """A child whose parent link is a text key."""

    metal = models.CharField(max_length=20, default="")


class GoldMedal(Medal):
    """The third table of a multi-table inheritance chain."""

    carats = models.IntegerField(default=0)
