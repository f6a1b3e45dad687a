"""Models that are not versioned: their writes are counted, and bump the versioned rows that show them."""

from __future__ import annotations

import pytest
from django.test import override_settings

from conditional_api.changes import read_changes
from conditional_api.counting import is_counted
from tests.testapp.models import Edition, Publisher

pytestmark = pytest.mark.django_db


def _version(edition: Edition) -> int:
    return Edition.objects.values_list("version", flat=True).get(pk=edition.pk)


def assert_publisher_update_is_seen() -> None:
    """Edition.depends_on names its publisher, a plain model: its QuerySet.update() is counted and bumps it."""
    publisher = Publisher.objects.create(name="Old")
    edition = Edition.objects.create(title="t", publisher=publisher)
    version, changes = _version(edition), read_changes(Publisher)
    assert Publisher.objects.filter(pk=publisher.pk).update(name="New") == 1
    assert _version(edition) == version + 1
    assert read_changes(Publisher) > changes


def test_a_queryset_update_of_a_shown_model_that_is_not_versioned_bumps_what_shows_it():
    assert_publisher_update_is_seen()


def test_a_publisher_no_edition_shows_is_updated_without_touching_editions():
    shown = Edition.objects.create(title="t", publisher=Publisher.objects.create(name="A"))
    other = Publisher.objects.create(name="B")
    version = _version(shown)
    Publisher.objects.filter(pk=other.pk).update(name="C")
    assert _version(shown) == version


@pytest.mark.parametrize(
    "label, counted",
    [("testapp.Publisher", True), ("testapp.Edition", True), ("sessions.Session", False)],
)
def test_which_models_are_counted(label, counted):
    from django.apps import apps

    assert is_counted(apps.get_model(label)) is counted


@pytest.mark.parametrize("rebuild", ["INSTALLED_APPS", "clear_cache"])
def test_writes_are_seen_after_django_rebuilds_the_app_registry(settings, rebuild):
    """Django rebuilds every model's managers when the app registry changes: the bumping QuerySets come back."""
    from django.apps import apps

    from tests.testapp.models import Book, Label, Post, Shelf, Writer

    if rebuild == "INSTALLED_APPS":
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS]):
            pass  # leaving it, Django drops every model's cached managers
    else:
        apps.clear_cache()  # as registering a model class at runtime does: no ready()
    assert_publisher_update_is_seen()

    shelf, book = Shelf.objects.create(), Book.objects.create(title="b")
    shelf_version = Shelf.objects.values_list("version", flat=True).get(pk=shelf.pk)
    shelf.books.add(book)  # the base manager's update(): Book is versioned, and Shelf shows its books
    assert Shelf.objects.values_list("version", flat=True).get(pk=shelf.pk) > shelf_version

    post = Post.objects.create(title="p", writer=Writer.objects.create(name="w"))
    post_version = Post.objects.values_list("version", flat=True).get(pk=post.pk)
    links = Post.labels.through
    links.objects.bulk_create([links(post=post, label=Label.objects.create(name="l"))])  # the through model's manager
    assert Post.objects.values_list("version", flat=True).get(pk=post.pk) > post_version
