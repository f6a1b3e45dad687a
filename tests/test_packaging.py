"""Django alone installs the package: only conditional_api.drf imports DRF, only conditional_api.ninja imports ninja."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import conditional_api

ROOT = Path(__file__).resolve().parent.parent

WITHOUT_FRAMEWORK = """
import sys
sys.modules[{framework!r}] = None  # any import of the framework now fails
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "conditional_api"],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
)
django.setup()
import conditional_api
for name in conditional_api.__all__:
    getattr(conditional_api, name)
import conditional_api.middleware, conditional_api.checks
try:
    import conditional_api.{adapter}
except ImportError as error:
    print("ok" if "conditional-api[{adapter}]" in str(error) else error)
"""


@pytest.mark.parametrize("adapter, framework", [("drf", "rest_framework"), ("ninja", "ninja")])
def test_everything_but_its_adapter_imports_without_a_framework(adapter, framework):
    script = WITHOUT_FRAMEWORK.format(adapter=adapter, framework=framework)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_runtime_dependencies_are_django_alone():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [dep.split(">")[0].split("<")[0] for dep in project["dependencies"]] == ["Django"]
    assert project["optional-dependencies"]["drf"] == ["djangorestframework>=3.16"]


def test_the_public_api_is_declared():
    assert sorted(conditional_api.__all__) == sorted(conditional_api._EXPORTS)
    assert all(getattr(conditional_api, name) for name in conditional_api.__all__)


def test_migrations_match_the_models(db):
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_version_is_defined_once_in_the_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "conditional_api.__version__"}


def test_classifiers_name_the_supported_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    classifiers = set(project["classifiers"])
    assert project["requires-python"] == ">=3.11"
    for python in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {python}" in classifiers
    assert project["dependencies"] == ["Django>=5.2,<7"]
    for django in ("5.2", "6.0", "6.1"):
        assert f"Framework :: Django :: {django}" in classifiers
    assert project["license"] == "BSD-3-Clause"
    assert not any(classifier.startswith("License ::") for classifier in classifiers)  # PEP 639: the expression alone
