"""The README's quickstart, as a reader copies it (``tests/quickstart``): it does what the README says."""

from __future__ import annotations

import pytest
from django.test import Client
from model_bakery import baker
from rest_framework.test import APIClient

from tests.quickstart.models import Blogger, Entry

pytestmark = pytest.mark.django_db

DETAILS = {"drf": "/quickstart/api/entries/{pk}/", "decorator": "/quickstart/plain/entries/{pk}/"}


@pytest.fixture
def entry() -> Entry:
    return baker.make(Entry, title="Hello", blogger=baker.make(Blogger, name="Ada"))


@pytest.mark.parametrize("adapter", DETAILS)
def test_a_detail_revalidates_with_304_after_one_query_and_sees_a_related_write(
    adapter, entry, django_assert_num_queries
):
    url = DETAILS[adapter].format(pk=entry.pk)
    client = Client()
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"].startswith('"') and first["Last-Modified"]
    with django_assert_num_queries(1):
        assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    Blogger.objects.filter(pk=entry.blogger_id).update(name="Grace")  # depends_on = ("blogger",)
    renamed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert renamed.status_code == 200 and "Grace" in renamed.content.decode()


def test_writes_need_if_match_and_lose_no_update(entry, staff):
    client = APIClient()
    client.force_authenticate(staff)
    url = DETAILS["drf"].format(pk=entry.pk)
    etag = client.get(url)["ETag"]
    assert client.patch(url, {"title": "x"}, format="json").status_code == 428  # "require_precondition": True
    assert client.patch(url, {"title": "Mine"}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    stale = client.patch(url, {"title": "Theirs"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412 and stale["ETag"] == client.get(url)["ETag"]
    assert Entry.objects.get(pk=entry.pk).title == "Mine"


def test_the_list_revalidates_and_sees_a_new_entry(entry, django_assert_num_queries):
    client = Client()
    first = client.get("/quickstart/api/entries/")
    with django_assert_num_queries(1):  # "strategy": "collection": the tables' change counts
        assert client.get("/quickstart/api/entries/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    baker.make(Entry, blogger=entry.blogger)
    assert client.get("/quickstart/api/entries/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
