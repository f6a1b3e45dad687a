"""``ETagField``: the ETag a list shows for each item is the one its detail URL serves, and If-Match takes it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from model_bakery import baker
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from conditional_api.drf_fields import ETagField, detail_options
from tests.testapp.api import PostWithETagSerializer
from tests.testapp.models import Label, Post

pytestmark = pytest.mark.django_db

#: The list's ``?detail=``, and the detail URL whose ETag each item shows.
DETAILS = {"drf": ("", "/test/posts/{pk}/"), "decorator": ("plain", "/test/plain-posts/{pk}/")}


@pytest.fixture
def posts(writer) -> list[Post]:
    made = baker.make(Post, published=True, writer=writer, _quantity=3)
    made[0].labels.set([baker.make(Label, name="alpha")])
    return made


@pytest.mark.parametrize("detail", DETAILS)
@pytest.mark.parametrize("accept", ["application/json", "*/*"])
def test_each_item_shows_the_etag_its_detail_url_serves(detail, accept, posts, api_client):
    query, template = DETAILS[detail]
    page = api_client.get(f"/test/posts-with-etags/?detail={query}&page_size=10", HTTP_ACCEPT=accept).json()
    shown = {item["id"]: item["etag"] for item in page["results"]}
    served = {post.pk: api_client.get(template.format(pk=post.pk), HTTP_ACCEPT=accept)["ETag"] for post in posts}
    assert shown == served
    assert len(set(shown.values())) == len(posts)


def test_a_client_changes_an_item_it_saw_in_a_list_without_fetching_it(posts, staff_client):
    item = staff_client.get("/test/posts-with-etags/").json()["results"][1]
    response = staff_client.patch(
        f"/test/posts/{item['id']}/", {"title": "new"}, format="json", HTTP_IF_MATCH=item["etag"]
    )
    assert response.status_code == 200
    # The list it came from is stale now: its copy of the item's ETag no longer holds.
    again = staff_client.patch(f"/test/posts/{item['id']}/", {"title": "x"}, format="json", HTTP_IF_MATCH=item["etag"])
    assert again.status_code == 412


def test_a_write_to_a_related_row_moves_the_items_etag_too(posts, api_client):
    before = api_client.get("/test/posts-with-etags/").json()["results"][0]["etag"]
    Label.objects.filter(name="alpha").get().save()  # the first post shows its labels
    after = api_client.get("/test/posts-with-etags/").json()["results"][0]
    assert after["etag"] != before
    assert after["etag"] == api_client.get(f"/test/posts/{after['id']}/")["ETag"]


def test_the_etags_cost_no_query(posts, api_client):
    def queries(url: str) -> int:
        api_client.get(url)  # routes and options are resolved once per process
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get(url).status_code == 200
        return len(captured)

    assert queries("/test/posts-with-etags/") == queries("/test/posts/")


def test_the_browsable_api_shows_no_etag_since_its_detail_has_none(posts, api_client):
    response = api_client.get("/test/posts-with-etags/?format=api")
    assert response.status_code == 200
    assert "&quot;etag&quot;: null" in response.content.decode()


def test_a_detail_name_no_view_has_is_a_clear_error():
    detail_options.cache_clear()
    request = Request(APIRequestFactory().get("/"))
    request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    field = ETagField(detail="nowhere")
    field.bind("etag", PostWithETagSerializer(context={"request": request}))
    with pytest.raises(ImproperlyConfigured, match="ETagField\\(detail='nowhere'\\)"):
        field.to_representation(Post())
