"""The browsable API's form for a reference shown as an object, and list filters that refuse what no column holds.

A reference field that shows ``{"id", "name"}`` cannot hand that dict to DRF's
``get_choices()`` as a key; the browsable API's form lists the choices for
staff, so the page answered 500 where the JSON answered 200.
"""

from __future__ import annotations

import pytest
from model_bakery import baker

from example_project.blog.models import Author
from tests.testapp.models import Writer

pytestmark = pytest.mark.django_db

DETAILS = [
    pytest.param("/api/articles/{pk}/", "article", "author", id="example-article"),
    pytest.param("/test/posts/{pk}/", "post", "writer", id="testapp-post"),
]


@pytest.mark.parametrize("url, fixture, reference", DETAILS)
@pytest.mark.parametrize("how", ["accept", "format"])
def test_staff_browsable_detail_lists_the_reference_choices(request, staff_client, url, fixture, reference, how):
    instance = request.getfixturevalue(fixture)
    model = {"author": Author, "writer": Writer}[reference]
    other = baker.make(model, name="Grace", email="grace@example.com")
    url = url.format(pk=instance.pk)
    if how == "accept":
        response = staff_client.get(url, HTTP_ACCEPT="text/html")
    else:
        response = staff_client.get(url, {"format": "api"})
    assert response.status_code == 200, response.content[-500:]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    # Each choice is keyed by the id the field accepts on write, labelled by the name.
    assert f'<option value="{other.pk}"' in page and ">Grace</option>" in page


@pytest.mark.parametrize("url, fixture, reference", DETAILS)
def test_the_json_representation_is_unchanged(request, staff_client, url, fixture, reference):
    instance = request.getfixturevalue(fixture)
    body = staff_client.get(url.format(pk=instance.pk), HTTP_ACCEPT="application/json").json()
    related = getattr(instance, reference)
    assert body[reference] == {"id": related.pk, "name": related.name}


@pytest.mark.parametrize(
    "parameter, value",
    [
        ("writer", "abc"),
        ("writer", ""),
        ("writer", "-1"),
        # Digits to str.isdigit(), not to int(): a superscript, a circled digit.
        ("writer", "\u00b2"),
        ("writer", "\u2460"),
        # A digit to int(), but no id a client writes: Arabic-Indic three.
        ("writer", "\u0663"),
        # Beyond any id a bigint column can hold.
        ("writer", "9" * 20),
        ("writer", "1\x00"),
        # PostgreSQL text cannot hold NUL: no label is named so.
        ("label", "a\x00b"),
        ("label", "\x00"),
    ],
)
def test_invalid_post_filters_are_400(api_client, post, parameter, value):
    response = api_client.get("/test/posts/", {parameter: value})
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize("parameter", ["writer", "label"])
def test_valid_post_filters_still_filter(api_client, post, writer, parameter):
    value = str(writer.pk) if parameter == "writer" else "beta"
    ids = [p["id"] for p in api_client.get("/test/posts/", {parameter: value}).json()["results"]]
    assert ids == [post.pk]
