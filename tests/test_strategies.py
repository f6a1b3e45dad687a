"""The built-in strategies: the columns that name a row's state, and what each reads for a request."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from conditional_api.strategies import CollectionStrategy, ContentStrategy, UpdatedAtStrategy, VersionStrategy
from conditional_api.validators import UNKNOWN_UNTIL_RENDERED, RowLookup, Variant, whole_seconds

BASE = dict(variant=Variant(media_type="application/json"), release="r1")


@pytest.mark.django_db
def test_strategies_read_their_columns():
    from tests.testapp.models import Note

    note = Note.objects.create(key="a")
    version = VersionStrategy().validator(note, **BASE)
    stamped = UpdatedAtStrategy().validator(note, **BASE)
    assert version.state == {"version": 1, "last_modified": note.last_modified}
    assert stamped.state == {"updated_at": note.updated_at, "last_modified": note.last_modified}
    assert version.last_modified == stamped.last_modified == whole_seconds(note.last_modified)
    assert version.etag != stamped.etag


def _never_found(columns: object) -> None:
    raise AssertionError("the row was looked up")


@pytest.mark.django_db
class TestWhatEachStrategyReads:
    """Adapters ask the strategy what a request names; these are its answers."""

    @pytest.fixture
    def notes(self):
        from tests.testapp.models import Note

        Note.objects.create(key="a")
        return Note.objects.order_by("key")

    @pytest.mark.parametrize("strategy", [VersionStrategy(), UpdatedAtStrategy(), CollectionStrategy()])
    def test_with_no_row_named_a_versioned_list_is_read_as_a_collection(self, notes, strategy):
        current = strategy.read(notes, None, **BASE)
        expected = CollectionStrategy().read_collection(notes, **BASE).validator
        assert current.known and current.validator == expected and current.claim is None

    def test_the_collection_strategy_reads_the_collection_even_when_a_row_is_named(self, notes):
        lookup = RowLookup(_never_found)
        assert CollectionStrategy().read(notes, lookup, **BASE).validator.etag.startswith('"')

    def test_a_row_strategy_reads_the_named_row_and_can_claim_it(self, notes):
        row = notes.get()
        current = VersionStrategy().read(notes, RowLookup(lambda columns: row), **BASE)
        assert current.validator == VersionStrategy().validator(row, **BASE) and current.claim is not None

    def test_a_missing_row_is_no_representation(self, notes):
        current = VersionStrategy().read_row(RowLookup(lambda columns: None), **BASE)
        assert current.known and current.validator is None

    def test_a_table_whose_writes_are_not_counted_is_validated_by_content(self):
        from django.contrib.sessions.models import Session

        assert CollectionStrategy().read_collection(Session.objects.all(), **BASE) is UNKNOWN_UNTIL_RENDERED

    def test_a_model_that_is_not_versioned_is_counted_and_read_as_a_collection(self):
        from tests.testapp.models import Stamped

        current = CollectionStrategy().read_collection(Stamped.objects.all(), **BASE)
        assert current.known and current.validator is not None

    @pytest.mark.parametrize("strategy", [ContentStrategy(), CollectionStrategy()])
    def test_strategies_that_read_no_row_wait_for_the_bytes(self, notes, strategy):
        assert strategy.read_row(RowLookup(_never_found), **BASE) is UNKNOWN_UNTIL_RENDERED

    def test_the_content_strategy_reads_nothing_before_the_view(self, notes):
        assert ContentStrategy().read(notes, None, **BASE) is UNKNOWN_UNTIL_RENDERED

    @pytest.mark.parametrize("strategy", [VersionStrategy(), CollectionStrategy()])
    def test_a_strategy_that_reads_rows_needs_a_queryset(self, strategy):
        with pytest.raises(ImproperlyConfigured, match="needs a model or queryset"):
            strategy.read(None, None, **BASE)
