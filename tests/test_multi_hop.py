"""``depends_on`` paths of several relations: a write at any hop bumps the rows that show it through the path.

Two paths of the test app:

- ``Story.depends_on = ("reporter__agency",)``: two forward foreign keys. An
  agency's writes bump the stories of its reporters; a reporter moved to
  another agency bumps its stories; a reporter's other fields are not shown.
- ``Agency.depends_on = ("reporters__beats",)``: a reverse foreign key, then a
  many-to-many relation. A beat's writes bump the agencies of its reporters;
  a reporter moved between agencies bumps both; its beat links bump its agency.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from django.db.models import Model
from model_bakery import baker

from conditional_api.changes import read_changes
from conditional_api.dependencies import declared_dependencies
from tests.testapp.models import Agency, Beat, Reporter, Story

pytestmark = pytest.mark.django_db


def _version(model: type[Model], pk: int) -> int | None:
    return model._default_manager.filter(pk=pk).values_list("version", flat=True).first()


@pytest.fixture
def newsroom() -> dict[str, Model]:
    """Two agencies; a reporter at the first with a beat and a story; a spare reporter and beat."""
    agency, other_agency = baker.make(Agency, name="Reuters"), baker.make(Agency, name="AP")
    reporter = baker.make(Reporter, name="Ada", agency=agency)
    beat, other_beat = baker.make(Beat, name="science"), baker.make(Beat, name="sport")
    reporter.beats.add(beat)
    spare = baker.make(Reporter, name="Linus", agency=other_agency)
    story = baker.make(Story, title="Hello", reporter=reporter)
    return {
        "agency": agency,
        "other_agency": other_agency,
        "reporter": reporter,
        "spare": spare,
        "beat": beat,
        "other_beat": other_beat,
        "story": story,
    }


def test_a_path_declares_every_hop():
    (story,) = declared_dependencies(Story)
    assert (story.path, story.related) == ("reporter__agency", Agency)
    assert [(hop.near, hop.far) for hop in story.hops] == [(Story, Reporter), (Reporter, Agency)]
    (agency,) = declared_dependencies(Agency)
    assert [(hop.near, hop.far) for hop in agency.hops] == [(Agency, Reporter), (Reporter, Beat)]


# -- Story: reporter__agency --------------------------------------------------------


def _rename_agency_by_save(room: dict[str, Model]) -> None:
    agency = Agency.objects.get(pk=room["agency"].pk)
    agency.name = "Reuters Ltd"
    agency.save()


def _move_reporter_by_save(room: dict[str, Model]) -> None:
    reporter = Reporter.objects.get(pk=room["reporter"].pk)
    reporter.agency = room["other_agency"]
    reporter.save()


def _move_reporter_by_bulk_update(room: dict[str, Model]) -> None:
    reporter = Reporter.objects.get(pk=room["reporter"].pk)
    reporter.agency = room["other_agency"]
    Reporter.objects.bulk_update([reporter], ["agency"])


STORY_WRITES: dict[str, Callable[[dict[str, Model]], None]] = {
    "agency save": _rename_agency_by_save,
    "agency QuerySet.update": lambda room: Agency.objects.filter(pk=room["agency"].pk).update(name="x"),
    "agency touch": lambda room: Agency.objects.filter(pk=room["agency"].pk).touch(),
    "reporter moved by save": _move_reporter_by_save,
    "reporter moved by QuerySet.update": lambda room: Reporter.objects.filter(pk=room["reporter"].pk).update(
        agency=room["other_agency"]
    ),
    "reporter moved by bulk_update": _move_reporter_by_bulk_update,
    "reporter moved by agency.reporters.add": lambda room: room["other_agency"].reporters.add(room["reporter"]),
    "reporter left without an agency": lambda room: Reporter.objects.filter(pk=room["reporter"].pk).update(agency=None),
}


@pytest.mark.parametrize("write", STORY_WRITES.values(), ids=STORY_WRITES.keys())
def test_a_write_at_any_hop_bumps_the_story_once(newsroom, write):
    story = newsroom["story"]
    version, changes = _version(Story, story.pk), read_changes(Story)
    with transaction.atomic():
        write(newsroom)
    assert _version(Story, story.pk) == version + 1
    assert read_changes(Story) > changes


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda room: Reporter.objects.filter(pk=room["reporter"].pk).update(name="Grace"), id="update"),
        pytest.param(lambda room: Reporter.objects.get(pk=room["reporter"].pk).save(), id="save"),
        pytest.param(
            lambda room: Agency.objects.filter(pk=room["other_agency"].pk).update(name="y"), id="other agency"
        ),
    ],
)
def test_a_write_the_path_does_not_show_leaves_the_story_alone(newsroom, write):
    story = newsroom["story"]
    version = _version(Story, story.pk)
    write(newsroom)
    assert _version(Story, story.pk) == version


def test_deleting_the_agency_bumps_the_story(newsroom):
    """The delete touches what shows the agency, and Django's SET_NULL then moves the reporter's link: at least once."""
    story = newsroom["story"]
    version = _version(Story, story.pk)
    Agency.objects.get(pk=newsroom["agency"].pk).delete()
    assert _version(Story, story.pk) > version


def test_a_story_moved_to_another_reporter_bumps_itself_once(newsroom):
    story = newsroom["story"]
    version = _version(Story, story.pk)
    Story.objects.filter(pk=story.pk).update(reporter=newsroom["spare"])
    assert _version(Story, story.pk) == version + 1


def test_an_agency_write_touches_the_stories_in_one_update(newsroom, django_assert_max_num_queries):
    baker.make(Story, reporter=newsroom["reporter"], _quantity=3)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        Agency.objects.filter(pk=newsroom["agency"].pk).update(name="x")
    story_updates = [
        q for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "testapp_story" in q["sql"]
    ]
    assert len(story_updates) == 1


# -- Agency: reporters__beats -------------------------------------------------------


def _rename_beat_by_save(room: dict[str, Model]) -> None:
    beat = Beat.objects.get(pk=room["beat"].pk)
    beat.name = "physics"
    beat.save()


AGENCY_WRITES: dict[str, Callable[[dict[str, Model]], None]] = {
    "beat save": _rename_beat_by_save,
    "beat QuerySet.update": lambda room: Beat.objects.filter(pk=room["beat"].pk).update(name="physics"),
    "beat delete": lambda room: Beat.objects.get(pk=room["beat"].pk).delete(),
    "reporter.beats.add": lambda room: room["reporter"].beats.add(room["other_beat"]),
    "reporter.beats.remove": lambda room: room["reporter"].beats.remove(room["beat"]),
    "reporter.beats.clear": lambda room: room["reporter"].beats.clear(),
    "beat.reporters.add": lambda room: room["other_beat"].reporters.add(room["reporter"]),
    "beat.reporters.clear": lambda room: room["beat"].reporters.clear(),
    "reporter deleted": lambda room: Reporter.objects.get(pk=room["reporter"].pk).delete(),
    "reporter created at the agency": lambda room: Reporter.objects.create(name="New", agency=room["agency"]),
}


@pytest.mark.parametrize("write", AGENCY_WRITES.values(), ids=AGENCY_WRITES.keys())
def test_a_write_at_any_hop_bumps_the_agency_once(newsroom, write):
    agency, other = newsroom["agency"], newsroom["other_agency"]
    before = _version(Agency, agency.pk), _version(Agency, other.pk)
    with transaction.atomic():
        write(newsroom)
    assert (_version(Agency, agency.pk), _version(Agency, other.pk)) == (before[0] + 1, before[1])


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(
            lambda room: Reporter.objects.filter(pk=room["reporter"].pk).update(agency=room["other_agency"]),
            id="QuerySet.update",
        ),
        pytest.param(_move_reporter_by_save, id="save"),
        pytest.param(lambda room: room["other_agency"].reporters.add(room["reporter"]), id="agency.reporters.add"),
    ],
)
def test_a_reporter_moved_between_agencies_bumps_both_once(newsroom, move):
    agency, other = newsroom["agency"], newsroom["other_agency"]
    before = _version(Agency, agency.pk), _version(Agency, other.pk)
    move(newsroom)
    assert (_version(Agency, agency.pk), _version(Agency, other.pk)) == (before[0] + 1, before[1] + 1)


def test_a_reporter_renamed_leaves_the_agency_alone(newsroom):
    agency = newsroom["agency"]
    version = _version(Agency, agency.pk)
    Reporter.objects.filter(pk=newsroom["reporter"].pk).update(name="Grace")
    assert _version(Agency, agency.pk) == version


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (("reporter__nope",), "not a field"),
        (("reporter__name",), "not a relation"),
        (("reporter__agency__",), "not a field"),
    ],
)
def test_a_path_with_a_hop_that_is_no_relation_fails_the_system_check(monkeypatch, paths, message):
    from django.core import checks

    monkeypatch.setattr(Story, "depends_on", paths)
    errors = [m for m in checks.run_checks() if m.id == "conditional_api.E002"]
    assert [e.obj for e in errors] == [Story] and message in errors[0].msg
