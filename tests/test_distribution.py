"""What users install: the sdist and wheel built from this checkout, the wheel installed with Django alone.

One test, because every step needs the one before it: build (in a copy of the
checkout, so the build leaves nothing behind), inspect both archives, install
the wheel into a fresh virtualenv (pip pulls Django from the package index,
and nothing else of this repository is on the path), and import the package
there under minimal settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

# Run in the fresh virtualenv with -I: neither this checkout nor PYTHONPATH is on sys.path.
SNIPPET = """
import importlib.metadata, importlib.util, json
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "conditional_api"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
)
django.setup()
import conditional_api, conditional_api.decorators, conditional_api.models, conditional_api.preconditions
from django.core.management import call_command
call_command("migrate", verbosity=0)  # the migrations are in the wheel and apply
result = {
    "version": conditional_api.__version__,
    "distribution_version": importlib.metadata.version("conditional-api"),
    "file": conditional_api.__file__,
    "drf_installed": importlib.util.find_spec("rest_framework") is not None,
    "drf_error": None,
}
try:
    import conditional_api.drf
except ImportError as error:
    result["drf_error"] = f"{type(error).__name__}: {error}"
print(json.dumps(result))
"""


def run(*args: str | Path, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result


def index_reachable(tmp_path: Path) -> bool:
    """Whether pip can get Django, which the wheel's install needs: one quick try, no retries."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "0", "--timeout", "10"]
    probe = subprocess.run(
        [*pip, "--dest", str(tmp_path / "probe"), "Django>=5.2,<7"], capture_output=True, text=True, timeout=60
    )
    return probe.returncode == 0


def test_the_wheel_installs_and_imports_with_django_alone(tmp_path):
    if not index_reachable(tmp_path):
        pytest.skip("pip cannot reach a package index: building (setuptools) and installing (Django) need one")

    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "*.py[cod]", ".*_cache", ".hypothesis"
        ),
    )
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, source, timeout=180)  # the sdist, then the wheel from it

    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    version = wheel.name.split("-")[1]
    assert wheel.name == f"conditional_api-{version}-py3-none-any.whl"
    assert sdist.name == f"conditional_api-{version}.tar.gz"

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"conditional_api-{version}.dist-info/METADATA").decode()
    assert "conditional_api/py.typed" in names
    assert "conditional_api/migrations/0001_initial.py" in names
    assert f"conditional_api-{version}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: BSD-3-Clause" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    assert f"Version: {version}" in metadata.splitlines()
    assert {name.split("/")[0] for name in names} == {"conditional_api", f"conditional_api-{version}.dist-info"}

    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in ("README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "conditional_api/__init__.py"):
        assert wanted in members
    assert "conditional_api/py.typed" in members
    tops = {name.split("/")[0] for name in members}
    assert not tops & {"tests", "example_project", "bench", "docs"}, sorted(tops)
    assert not [name for name in members if "__pycache__" in name or name.endswith(".pyc")]

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel, timeout=180)

    result = run(python, "-I", "-c", SNIPPET, cwd=tmp_path)
    installed = json.loads(result.stdout)
    assert Path(installed["file"]).is_relative_to(venv), installed["file"]
    assert installed["version"] == version
    assert installed["distribution_version"] == version
    assert not installed["drf_installed"]
    assert installed["drf_error"] is not None, "conditional_api.drf imported without DRF installed"
    assert "conditional-api[drf]" in installed["drf_error"], installed["drf_error"]  # says what to install
