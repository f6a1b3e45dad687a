"""The example project under a real gunicorn, pointed at pytest-django's test database.

Tests that talk to a server must commit what they create, so they use
``transactional_db``; the ``gunicorn_url`` fixture below asks for it itself::

    @pytest.mark.server
    def test_something(gunicorn_url):
        article = baker.make(Article, published=True)
        httpx.get(f"{gunicorn_url}/api/articles/{article.pk}/")

or, for several servers or other options, the context manager::

    with gunicorn_server(workers=1, release="r1", hashseed="7") as base_url:
        ...

The server process reads ``example_project.settings``; only the database
(``DATABASE_URL``), the validator cache (``CACHE_URL``), the ETag salt (``CONDITIONAL_API_RELEASE``) and the hash
seed (``PYTHONHASHSEED``) come from here. Everything is on loopback.

Users: the test settings hash passwords with MD5, a hasher the server's
settings do not list, so a user made with ``create_user`` in the test
process cannot log in to the server. :func:`make_server_user` stores a hash
the server's default hasher accepts as is (no rehash on login).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import pytest
from django.db import DatabaseError, connection

__all__ = [
    "LOOPBACK",
    "GunicornServer",
    "basic_auth",
    "database_url",
    "free_port",
    "gunicorn_server",
    "gunicorn_url",
    "make_server_user",
    "session_auth",
]

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RELEASE = "live-test-1"
#: How long a server may take to answer its first request.
START_TIMEOUT = 20.0
#: How long it may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
#: The server's default password hasher (Django's PBKDF2PasswordHasher).
SERVER_PASSWORD_HASHER = "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict[str, Any] | None = None) -> str:
    """A ``DATABASE_URL`` (dj-database-url syntax) for the database the tests use.

    Read after pytest-django has set up the test database, ``NAME`` is the
    test database's name: for SQLite the ``TEST["NAME"]`` file of
    tests/settings.py, for PostgreSQL ``test_<name>``.
    """
    settings_dict = settings_dict or connection.settings_dict
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine.endswith("sqlite3"):
        if name == ":memory:" or name.startswith("file:memorydb") or "mode=memory" in name:
            raise RuntimeError(
                "The SQLite test database is in memory, which a server process cannot open: "
                "set DATABASES['default']['TEST']['NAME'] to a file (tests/settings.py does)."
            )
        return "sqlite:///" + os.path.abspath(name)
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = settings_dict.get("PASSWORD") or ""
        userinfo = f"{user}:{quote(password, safe='')}" if password else user
        host = quote(settings_dict.get("HOST") or "", safe="")
        port = settings_dict.get("PORT")
        netloc = f"{userinfo}@{host}" if userinfo else host
        if port:
            netloc += f":{port}"
        return f"postgres://{netloc}/{quote(name, safe='')}"
    raise RuntimeError(f"No DATABASE_URL for the {engine} backend: the live tests run on SQLite and PostgreSQL.")


class GunicornServer:
    """One gunicorn master (and its workers) serving example_project on loopback.

    ``start()`` returns at once, ``wait_ready()`` blocks until the server
    answers, so several servers can boot side by side; ``stop()`` ends it.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        threads: int = 1,
        release: str = DEFAULT_RELEASE,
        hashseed: str | int = "random",
        preload: bool = False,
        debug: bool | None = None,
        db_url: str | None = None,
        cache_url: str = "",
        start_timeout: float = START_TIMEOUT,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.workers = workers
        self.threads = threads
        self.release = release
        self.hashseed = str(hashseed)
        self.preload = preload
        # DEBUG on makes Django log a 500's traceback (into log()); set
        # LIVE_SERVER_DEBUG=1 to see why a server answered 500.
        self.debug = os.environ.get("LIVE_SERVER_DEBUG") == "1" if debug is None else debug
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.db_url = db_url or database_url()
        self.application_name = None
        if self.db_url.startswith("postgres://"):
            # Names the server's sessions, so that stop() can wait until they are gone.
            self.application_name = f"conditional-api-live-{os.getpid()}-{self.port}"
            self.db_url += f"?application_name={self.application_name}"
        #: The example's CACHE_URL: with one, detail views keep validators in that cache.
        self.cache_url = cache_url
        self.start_timeout = start_timeout
        #: More of the example's settings from the environment (DJANGO_CORS_ALLOWED_ORIGINS, ...).
        self.extra_environment = dict(environment or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "example_project.wsgi:application",
            "--bind",
            f"{LOOPBACK}:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--timeout",
            "30",
            "--graceful-timeout",
            "3",
            "--log-level",
            "info",
            "--chdir",
            str(REPO_ROOT),
        ]
        if self.preload:
            command.append("--preload")
        return command

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            # The server's settings come from here, not from the pytest process.
            if key
            not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CACHE_URL", "CONDITIONAL_API_RELEASE", "DJANGO_DEBUG"}
        }
        pythonpath = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env.update(
            DJANGO_SETTINGS_MODULE="example_project.settings",
            DATABASE_URL=self.db_url,
            CACHE_URL=self.cache_url,
            CONDITIONAL_API_RELEASE=self.release,
            PYTHONHASHSEED=self.hashseed,
            DJANGO_DEBUG="1" if self.debug else "0",
            PYTHONPATH=os.pathsep.join(pythonpath),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_environment)
        return env

    def start(self) -> GunicornServer:
        if self.process is not None:
            raise RuntimeError("This server was started already.")
        self._log = tempfile.TemporaryFile(prefix="gunicorn-", suffix=".log")
        self.process = subprocess.Popen(
            self.command(),
            cwd=REPO_ROOT,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def _fail(self, why: str) -> None:
        log = self.log()
        self.stop()
        raise RuntimeError(f"gunicorn on {self.base_url}: {why}\n--- its log ---\n{log[-4000:]}")

    def wait_ready(self) -> str:
        """Block until this very server answers over HTTP; its base URL."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + self.start_timeout
        listening = f"Listening at: {self.base_url}"
        # First its own log must say it holds the port (so no other process
        # that grabbed the port in the meantime can answer for it), then it
        # must answer a request (a worker has loaded the project).
        while listening not in self.log():
            if self.process.poll() is not None:
                self._fail(f"exited with status {self.process.returncode} before listening")
            if time.monotonic() > deadline:
                self._fail(f"not listening after {self.start_timeout:.0f} s")
            time.sleep(0.05)
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail(f"exited with status {self.process.returncode} before answering")
            try:
                response = httpx.get(f"{self.base_url}/api/", timeout=max(0.5, deadline - time.monotonic()))
            except httpx.TransportError as error:
                last_error = error
                time.sleep(0.1)
                continue
            if response.headers.get("server", "").startswith("gunicorn") and response.status_code < 500:
                return self.base_url
            self._fail(f"answered the readiness check with {response.status_code}: {response.text[:500]}")
        self._fail(f"no answer within {self.start_timeout:.0f} s (last error: {last_error!r})")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        if process is not None:
            self._wait_for_database_sessions_to_end()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait_for_database_sessions_to_end(self, timeout: float = STOP_TIMEOUT) -> None:
        """PostgreSQL ends a backend a moment after its client is gone; pytest-django
        cannot flush or drop the test database while one is still there."""
        if self.application_name is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [self.application_name]
                    )
                    (sessions,) = cursor.fetchone()
            except DatabaseError:
                return  # the test's own error matters more than this wait
            if not sessions or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def __enter__(self) -> str:
        self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def gunicorn_server(
    *,
    workers: int = 2,
    threads: int = 1,
    release: str = DEFAULT_RELEASE,
    hashseed: str | int = "random",
    preload: bool = False,
    environment: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Serve example_project on a free loopback port for the ``with`` block; yields the base URL.

    Call it inside a test that uses ``transactional_db`` (the test database
    must exist, and what the test writes must be committed to be seen).
    """
    with GunicornServer(
        workers=workers, threads=threads, release=release, hashseed=hashseed, preload=preload, environment=environment
    ) as url:
        yield url


@pytest.fixture
def gunicorn_url(transactional_db: None) -> Iterator[str]:
    """A two-worker server for one test; the base URL, such as ``http://127.0.0.1:41234``.

    Asks for ``transactional_db`` itself, so the server is stopped before
    pytest-django empties the tables after the test.
    """
    with gunicorn_server() as url:
        yield url


@lru_cache(maxsize=8)
def _server_password_hash(password: str) -> str:
    # Instantiated directly: the test settings do not list this hasher, the
    # server's (Django's defaults) list it first. Its own iteration count, so
    # the server finds nothing to upgrade and writes nothing on login.
    from django.utils.module_loading import import_string

    hasher = import_string(SERVER_PASSWORD_HASHER)()
    return hasher.encode(password, hasher.salt())


def make_server_user(username: str = "demo", password: str = "demo", *, is_staff: bool = True) -> Any:
    """``create_user``, with a password hash the server process can check."""
    from django.contrib.auth.models import User

    user = User.objects.create_user(username, password=password, is_staff=is_staff)
    user.password = _server_password_hash(password)
    user.save(update_fields=["password"])
    return user


def basic_auth(username: str = "demo", password: str = "demo") -> httpx.BasicAuth:
    return httpx.BasicAuth(username, password)


CSRF_SECRET = "liveTestCsrfSecret0123456789abcd"


def session_auth(user: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Cookies and headers that log ``user`` in through DRF's SessionAuthentication.

    For tests whose requests must not each spend the ~0.5 s of a PBKDF2 check:
    the session is stored in the test database (same SECRET_KEY as the
    server), and CSRF is satisfied with a matching cookie and header.
    """
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    assert len(CSRF_SECRET) == 32 and CSRF_SECRET.isalnum()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    cookies = {settings.SESSION_COOKIE_NAME: session.session_key, settings.CSRF_COOKIE_NAME: CSRF_SECRET}
    headers = {"X-CSRFToken": CSRF_SECRET}
    return cookies, headers
