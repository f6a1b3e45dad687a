"""Test settings: the example project plus a test app, on SQLite or DATABASE_URL.

The SQLite test database is a file, not memory, so that a server process
started by a test can open it too.
"""

import os
import tempfile

from example_project.settings import *  # noqa: F403
from example_project.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
ROOT_URLCONF = "tests.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test's threads close what they open; nothing outlives the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        # One file per test run, so that concurrent runs cannot share it.
        "NAME": os.path.join(tempfile.gettempdir(), f"conditional_api_tests_{os.getpid()}.sqlite3")
    }
