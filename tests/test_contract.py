"""The example project, served as its contract says, passes the shared contract smoke check.

gunicorn, DATABASE_URL and seed_demo, as an outside check would run it. The
smoke script lives beside the repository (../shared/contract-smoke); where it
is missing, the test says so and skips.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import global_settings
from django.core.management import call_command

from tests.live import gunicorn_url

__all__ = ["gunicorn_url"]  # the fixture, imported so that pytest finds it here

SMOKE = Path(__file__).resolve().parent.parent.parent / "shared" / "contract-smoke"

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


@pytest.mark.skipif(not SMOKE.exists(), reason=f"the shared contract smoke check is not at {SMOKE}")
def test_the_served_example_passes_the_contract_smoke_check(gunicorn_url, settings):
    # The server checks passwords with Django's default hashers, not the
    # test settings' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    call_command("seed_demo", articles=40, stdout=io.StringIO())
    result = subprocess.run([sys.executable, str(SMOKE), gunicorn_url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all contract smoke checks passed" in result.stdout
