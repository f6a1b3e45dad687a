"""Test settings: the example project plus a test app, on SQLite or DATABASE_URL.

The SQLite test database is a file, not memory, so that a server process
started by a test can open it too.
"""

import os
import tempfile
from typing import Any, cast

from example_project.settings import *  # noqa: F403
from example_project.settings import CONDITIONAL_API, DATABASES, INSTALLED_APPS
from tests.quickstart.settings import CONDITIONAL_API as QUICKSTART

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp", "tests.quickstart"]
# The test app's posts, writers and labels are configured as the example's
# articles, authors and tags are; the example's own entries stay, and the
# README quickstart's (tests/quickstart) join them.
CONDITIONAL_API = {
    **CONDITIONAL_API,
    "VIEWS": {
        **cast("dict[str, Any]", CONDITIONAL_API["VIEWS"]),
        **cast("dict[str, Any]", QUICKSTART["VIEWS"]),
        "post-detail": {"strategy": "version", "require_precondition": True, "query_params": []},
        "plain-post-detail": {"strategy": "version", "query_params": []},
        "writer-detail": {"strategy": "updated_at", "query_params": []},
        "post-list": {"strategy": "collection"},
        "writer-list": {"strategy": "collection"},
        "label-list": {"strategy": "collection"},
    },
}
ROOT_URLCONF = "tests.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test's threads close what they open; nothing outlives the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        # One file per test run, so that concurrent runs cannot share it.
        "NAME": os.path.join(tempfile.gettempdir(), f"conditional_api_tests_{os.getpid()}.sqlite3")
    }
