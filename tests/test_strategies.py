"""The built-in strategies read the columns that name a row's state."""

from __future__ import annotations

import pytest

from conditional_api.strategies import UpdatedAtStrategy, VersionStrategy
from conditional_api.validators import Variant, whole_seconds

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
