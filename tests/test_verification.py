"""Sampled self-verification catches a stale 304: a dependency broken on purpose, caught in production's way.

``tests.testapp.undeclared`` shows each reminder with its note owner's name
but does not declare ``note__owner``: renaming the owner changes the body,
not the ETag. With ``VERIFY_RATE`` 1 every 304 builds its 200 and compares
it with the one served under that ETag; the incident is logged, signalled
and counted, and with ``VERIFY_SERVE_200`` answered with the fresh 200.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client, override_settings
from model_bakery import baker
from prometheus_client import REGISTRY

from conditional_api import metrics, verification
from conditional_api.signals import stale_validator
from tests.settings import CONDITIONAL_API
from tests.testapp.models import Note, Reminder
from tests.testapp.undeclared import WRITE_WHILE_BUILDING

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.testapp.undeclared")]

URLS = {
    "decorator": ("/plain/reminders/{pk}/", "plain-reminder-detail"),
    "async": ("/async/reminders/{pk}/", "async-reminder-detail"),
    "drf": ("/drf/reminders/{pk}/", "reminder-detail"),
    "ninja": ("/ninja/reminders/{pk}/", "ninja-undeclared:reminder-detail"),
}


def verifying(rate: float = 1, serve_200: bool = False) -> Any:
    return override_settings(CONDITIONAL_API={**CONDITIONAL_API, "VERIFY_RATE": rate, "VERIFY_SERVE_200": serve_200})


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def incidents() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    stale_validator.connect(receiver)
    metrics.install()
    yield seen
    stale_validator.disconnect(receiver)


@pytest.fixture
def reminder() -> Reminder:
    owner = baker.make(User, username="ada")
    return baker.make(Reminder, text="call", note=baker.make(Note, key="n1", owner=owner))


def stale_count(view: str) -> float:
    return REGISTRY.get_sample_value("conditional_api_stale_validators_total", {"view": view}) or 0.0


def rename_owner(reminder: Reminder) -> None:
    owner = reminder.note.owner
    assert owner is not None
    owner.username = "grace"
    owner.save()


@pytest.mark.parametrize("adapter", URLS)
def test_a_stale_304_is_caught_logged_signalled_and_counted(adapter, reminder, incidents, caplog):
    url, view = URLS[adapter][0].format(pk=reminder.pk), URLS[adapter][1]
    client = Client()
    with verifying():
        served = client.get(url)
        assert served.json() == {"text": "call", "owner": "ada"}
        rename_owner(reminder)  # the validator does not see it: depends_on lacks note__owner
        before = stale_count(view)
        with caplog.at_level(logging.ERROR, logger="conditional_api"):
            response = client.get(url, HTTP_IF_NONE_MATCH=served["ETag"])

    assert response.status_code == 304  # answered as decided: VERIFY_SERVE_200 is off
    assert [incident["etag"] for incident in incidents] == [served["ETag"]]
    assert incidents[0]["view"] == view
    assert incidents[0]["url"] == f"http://testserver{url}"
    assert incidents[0]["served_digest"] != incidents[0]["current_digest"]
    assert stale_count(view) == before + 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert "Stale validator" in message and served["ETag"] in message and url in message
    assert incidents[0]["served_digest"] in message and incidents[0]["current_digest"] in message


@pytest.mark.parametrize("adapter", URLS)
def test_with_serve_200_the_stale_304_becomes_the_fresh_200_without_validators(adapter, reminder, incidents):
    url = URLS[adapter][0].format(pk=reminder.pk)
    client = Client()
    with verifying(serve_200=True):
        served = client.get(url)
        rename_owner(reminder)
        response = client.get(url, HTTP_IF_NONE_MATCH=served["ETag"])

    assert response.status_code == 200
    assert response.json() == {"text": "call", "owner": "grace"}
    assert "ETag" not in response  # the ETag is known to be wrong: the client must not keep it
    assert len(incidents) == 1


@pytest.mark.parametrize("adapter", URLS)
def test_a_sound_304_is_verified_and_stands(adapter, reminder, incidents, django_assert_num_queries):
    url = URLS[adapter][0].format(pk=reminder.pk)
    client = Client()
    with verifying():
        served = client.get(url)
        # The validator, the view's own query for the 200 it builds, and the validator again to confirm it.
        with django_assert_num_queries(3):
            response = client.get(url, HTTP_IF_NONE_MATCH=served["ETag"])
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == served["ETag"]
    assert incidents == []


@pytest.mark.parametrize("adapter", URLS)
def test_a_write_the_validator_sees_is_a_200_not_an_incident(adapter, reminder, incidents):
    url = URLS[adapter][0].format(pk=reminder.pk)
    client = Client()
    with verifying():
        served = client.get(url)
        reminder.text = "write"
        reminder.save()
        response = client.get(url, HTTP_IF_NONE_MATCH=served["ETag"])
    assert response.status_code == 200
    assert incidents == []


@pytest.mark.parametrize("adapter", URLS)
def test_at_rate_0_a_304_runs_one_query_and_nothing_is_recorded(adapter, reminder, django_assert_num_queries):
    url = URLS[adapter][0].format(pk=reminder.pk)
    client = Client()
    served = client.get(url)
    with django_assert_num_queries(1):
        assert client.get(url, HTTP_IF_NONE_MATCH=served["ETag"]).status_code == 304
    assert caches["default"].get(verification._key(f"http://testserver{url}", served["ETag"])) is None


@pytest.mark.parametrize("adapter", URLS)
def test_while_verifying_a_200_records_the_digest_of_its_bytes(adapter, reminder):
    url = URLS[adapter][0].format(pk=reminder.pk)
    with verifying(rate=0.01):
        served = Client().get(url)
    key = verification._key(f"http://testserver{url}", served["ETag"])
    assert caches["default"].get(key) == verification.digest(served.content)


def test_a_write_committed_while_the_200_is_built_is_no_incident(reminder, incidents):
    url = f"/plain/reminders/{reminder.pk}/"
    client = Client()
    with verifying(serve_200=True):
        served = client.get(url)
        WRITE_WHILE_BUILDING.append("moved on")
        response = client.get(url, HTTP_IF_NONE_MATCH=served["ETag"])
    assert WRITE_WHILE_BUILDING == []  # the sampled 304 did build its 200, after the write
    # The 304 was right when it was decided; the body built after the write is newer, not stale.
    assert response.status_code == 304
    assert incidents == []


def test_a_list_whose_tables_are_counted_sees_the_rename_itself(reminder, incidents):
    client = Client()
    with verifying():
        served = client.get("/drf/reminders/")
        rename_owner(reminder)  # auth_user is read by the list and counted: the list's ETag moves
        response = client.get("/drf/reminders/", HTTP_IF_NONE_MATCH=served["ETag"])
    assert response.status_code == 200
    assert response.json()["results"][0]["owner"] == "grace"
    assert incidents == []


def test_a_sampled_list_304_builds_its_page_and_stands(reminder, incidents):
    client = Client()
    with verifying():
        served = client.get("/drf/reminders/")
        response = client.get("/drf/reminders/", HTTP_IF_NONE_MATCH=served["ETag"])
    assert response.status_code == 304
    assert incidents == []


@pytest.mark.parametrize("rate, low, high", [(0, 0, 0), (0.01, 1, 40), (0.5, 400, 600), (1, 1000, 1000)])
def test_the_sample_is_the_rate_of_304s(rate, low, high):
    random.seed(12)
    with verifying(rate):
        chosen = sum(verification.sampled() for _ in range(1000))
    assert low <= chosen <= high
