"""Validators are deterministic across processes and change whenever the bytes can."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.test import RequestFactory

from conditional_api.validators import Validator, Variant, make_etag, whole_seconds

MOMENT = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)
BASE = dict(variant=Variant(media_type="application/json"), release="r1")

SCRIPT = (
    "from datetime import datetime, timezone;"
    "from conditional_api.validators import Variant, make_etag;"
    "print(make_etag('blog.article', 7, 3, datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=timezone.utc),"
    " variant=Variant('application/json', (('page', '2'),)), release='r1'))"
)


def test_the_same_state_gives_the_same_etag_in_every_process():
    etags = {
        subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "12345")
    }
    local = make_etag("blog.article", 7, 3, MOMENT, variant=Variant("application/json", (("page", "2"),)), release="r1")
    assert etags == {local}


@pytest.mark.parametrize(
    "changed",
    [
        dict(parts=("blog.author", 7, 3, MOMENT)),
        dict(parts=("blog.article", 8, 3, MOMENT)),
        dict(parts=("blog.article", 7, 4, MOMENT)),
        dict(parts=("blog.article", 7, 3, MOMENT.replace(microsecond=123457))),
        dict(variant=Variant(media_type="application/json; indent=4")),
        dict(variant=Variant(media_type="application/json", query=(("page", "2"),))),
        dict(variant=Variant(media_type="application/json", headers=(("accept-language", "fr"),))),
        dict(release="r2"),
    ],
    ids=["model", "pk", "version", "updated_at", "media-type", "query", "header", "release"],
)
def test_every_input_changes_the_etag(changed):
    parts = changed.pop("parts", ("blog.article", 7, 3, MOMENT))
    assert make_etag(*parts, **{**BASE, **changed}) != make_etag("blog.article", 7, 3, MOMENT, **BASE)


def test_etags_are_strong_and_quoted():
    etag = make_etag(1, **BASE)
    assert etag.startswith('"') and etag.endswith('"') and '"' not in etag[1:-1]


def test_variant_reads_only_the_shaping_query_parameters():
    request = RequestFactory().get("/?page=2&utm=x&page=3&b=1")
    assert Variant.from_request(request, query_params=frozenset({"page"})).query == (("page", "2"), ("page", "3"))
    assert Variant.from_request(request).query == (("b", "1"), ("page", "2"), ("page", "3"), ("utm", "x"))


@pytest.mark.parametrize(
    "one, other, same",
    [
        ("?size=5&size=1", "?size=1&size=5", False),  # a view reading getlist() sees them in order
        ("?a=1&b=2", "?b=2&a=1", True),  # different names: their order shapes nothing
        ("?a=1&b=2&a=3", "?a=1&a=3&b=2", True),
    ],
)
def test_the_order_of_a_repeated_parameter_counts(one, other, same):
    variants = [Variant.from_request(RequestFactory().get(f"/{query}")) for query in (one, other)]
    assert (variants[0] == variants[1]) is same


def test_last_modified_is_whole_seconds_in_utc():
    assert whole_seconds(MOMENT) == datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert Validator(last_modified=whole_seconds(MOMENT)).last_modified.microsecond == 0
