"""The app's primary keys do not depend on the project's DEFAULT_AUTO_FIELD.

Each case runs in a fresh interpreter with a minimal project of its own: the
test settings set DEFAULT_AUTO_FIELD, which would hide the problem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = """
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "conditional_api"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {database!r}}}}}
SECRET_KEY = "not-secret"
USE_TZ = True
{extra}
"""

CHECK = """
import io, json, sys
import django
django.setup()
from django.core import checks
from django.core.management import call_command

messages = [(message.id, message.obj._meta.label if hasattr(message.obj, "_meta") else str(message.obj))
            for message in checks.run_checks()]
check_output = io.StringIO()
call_command("check", stdout=check_output, stderr=check_output)
migrations_output = io.StringIO()
try:
    call_command("makemigrations", "conditional_api", "--check", "--dry-run", stdout=migrations_output)
    new_migration = False
except SystemExit as exit:
    new_migration = exit.code != 0
print(json.dumps({"messages": messages, "check": check_output.getvalue(),
                  "new_migration": new_migration, "makemigrations": migrations_output.getvalue()}))
"""


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param("", id="no-DEFAULT_AUTO_FIELD"),
        pytest.param('DEFAULT_AUTO_FIELD = "django.db.models.AutoField"', id="AutoField"),
        pytest.param('DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"', id="BigAutoField"),
    ],
)
def test_no_auto_field_warning_and_no_new_migration(tmp_path, extra):
    (tmp_path / "minimal_settings.py").write_text(SETTINGS.format(database=str(tmp_path / "db.sqlite3"), extra=extra))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "minimal_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    ours = [(id, obj) for id, obj in report["messages"] if obj.startswith("conditional_api")]
    assert ("models.W042", "conditional_api.ChangeCounter") not in ours, report["check"]
    assert ours == [], report["check"]
    assert "System check identified no issues" in report["check"]
    assert not report["new_migration"], report["makemigrations"]
