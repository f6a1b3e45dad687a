"""manage.py conditional_probe: in process against the test app, over HTTP against broken and real origins.

The command runs through ``call_command`` with the arguments a shell would
pass; what it prints, its JSON and its exit status are what is checked.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from model_bakery import baker

from conditional_api.probe import Answer, check_one_body, check_release_change, parse_headers
from example_project.blog.models import Article, Author, Tag
from tests.live import LOOPBACK, GunicornServer, database_url, free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@dataclass(frozen=True)
class Probed:
    output: str
    status: int
    error: str = ""


def probe(*args: str) -> Probed:
    """The command as ``manage.py conditional_probe ARGS`` runs it: its output and exit status."""
    out = io.StringIO()
    try:
        call_command("conditional_probe", *args, stdout=out)
    except CommandError as error:
        return Probed(out.getvalue(), error.returncode, str(error))
    return Probed(out.getvalue(), 0)


def make_article(title: str = "Probed") -> Article:
    # One transaction, one state: a second write moves Last-Modified a second on.
    with transaction.atomic():
        author = baker.make(Author, name="Barbara", email="barbara@example.com")
        article = baker.make(Article, title=title, body="Same bytes everywhere", published=True, author=author)
        article.tags.set([Tag.objects.get_or_create(name=name)[0] for name in ("probe", "replay")])
    return article


# -- in process -------------------------------------------------------------------


@pytest.mark.django_db
def test_sound_urls_in_process_have_no_findings(article, post):
    targets = [
        f"/api/articles/{article.pk}/",  # DRF, version strategy
        f"article-detail:{article.pk}",  # a URL name with its argument
        f"plain-article-detail:pk={article.pk}",  # the decorator, a keyword argument
        f"author-detail:{article.author_id}",  # updated_at strategy
        "article-list?published=true&page_size=5",  # collection strategy, a query string
        "/api/tags/",
        f"/test/plain-posts/{post.pk}/",
        "probe-target:sound",
    ]
    result = probe(*targets)
    assert result.status == 0, result.output
    assert "8 URL(s) at 1 origin(s): no findings." in result.output
    assert "FAIL" not in result.output
    for path in (f"/api/articles/{article.pk}/", f"/plain/articles/{article.pk}/", "/api/articles/?published=true"):
        assert re.search(rf"^{re.escape(path)}.*in-process\s+GET\s+ok\s+200, ETag \"", result.output, re.M), path
    # Each check ran: revalidation with both validators where there is a date, and HEAD.
    assert len(re.findall(r"If-None-Match\s+ok\s+304", result.output)) == 8
    assert len(re.findall(r"If-Modified-Since\s+ok\s+304", result.output)) == 6  # the two lists have no date
    assert len(re.findall(r"HEAD\s+ok\s+200, as GET", result.output)) == 8


@pytest.mark.parametrize(
    "flaw, finding",
    [
        ("missing", "GET answered 404, not 2xx: nothing to revalidate"),
        ("no-etag", "GET 200 has no ETag"),
        ("weak-etag", 'ETag W/"probe" is weak where a strong one is expected'),
        ("unquoted-etag", "ETag 'probe' is not a quoted entity-tag"),
        ("no-304", "If-None-Match answered 200, not 304"),
        ("304-without-vary", "If-None-Match has no Vary (GET: Accept)"),
        ("304-other-etag", 'If-Modified-Since ETag "other" differs from GET\'s "probe"'),
        ("head-differs", "HEAD Content-Type text/html differs from GET's text/html; charset=utf-8"),
    ],
)
@pytest.mark.django_db
def test_a_broken_answer_in_process_is_a_finding_and_exit_status_1(flaw, finding):
    result = probe(f"probe-target:{flaw}")
    assert result.status == 1, result.output
    assert f"FAIL  {finding}" in result.output
    assert re.search(r"finding\(s\) on 1 URL\(s\)", result.error)


@pytest.mark.django_db
def test_weak_etags_pass_with_allow_weak():
    assert probe("probe-target:weak-etag", "--allow-weak").status == 0


@pytest.mark.django_db
def test_in_process_sends_a_host_that_allowed_hosts_admit(settings, article):
    # No "testserver", and DEBUG off: a Host outside ALLOWED_HOSTS would be a 400.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [".api.example.com"]
    assert probe(f"article-detail:{article.pk}").status == 0
    settings.ALLOWED_HOSTS = ["api.example.com"]
    result = probe(f"article-detail:{article.pk}", "--header", "Host: elsewhere.example.com")
    assert result.status == 1
    assert "GET answered 400 (a Host that ALLOWED_HOSTS refuses answers 400" in result.output
    settings.ALLOWED_HOSTS = []
    result = probe(f"article-detail:{article.pk}")
    assert result.status == 2
    assert "settings.ALLOWED_HOSTS names no host" in result.error


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "No URL to probe"),
        (["article-detial:5"], "No URL pattern matches 'article-detial:5'"),
        (["article-detail"], "No URL pattern matches 'article-detail'"),
        (["article-detail:x=1,2"], "No URL pattern matches"),
        (["http://127.0.0.1:8000/api/articles/"], "is a full URL: give its path, and its origin with --base"),
        (["/api/tags/", "--header", "Accept"], "--header 'Accept' is not 'Name: value'"),
        (["/api/tags/", "--header", "Bad Name: x"], "is not 'Name: value'"),
        (["/api/tags/", "--header", "If-None-Match: *"], "the probe sends its own conditional headers"),
        (["/api/tags/", "--header", "Authorization: Basic é"], "has a character outside ASCII"),
        (["/api/tags/", "--base", "127.0.0.1:8000"], "--base '127.0.0.1:8000' is not an http:// or https:// origin"),
        (["/api/tags/", "--base", "ftp://127.0.0.1"], "is not an http:// or https:// origin"),
        (["/api/tags/", "--base", "http://127.0.0.1:80a"], "--base 'http://127.0.0.1:80a'"),
        (["/api/tags/", "--base", "http://a.test", "--base", "http://a.test/"], "The same --base is given twice"),
        (["/api/tags/", "--expect-change", "--base", "http://a.test"], "give exactly two --base, not 1"),
        (["/api/tags/", "--expect-change"], "give exactly two --base, not 0"),
        (["/api/tags/", "--file", "/nonexistent/urls.txt"], "--file '/nonexistent/urls.txt' cannot be read"),
    ],
)
def test_bad_arguments_are_a_command_error_with_exit_status_2(args, message):
    result = probe(*args)
    assert result.status == 2
    assert message in result.error
    assert result.output == ""


def test_the_last_header_of_a_name_wins_whatever_its_case():
    headers = parse_headers(["accept: text/html", "Authorization: Basic ZGVtbzpkZW1v", "Accept:  application/json "])
    assert headers == {"Authorization": "Basic ZGVtbzpkZW1v", "Accept": "application/json"}


def test_a_timeout_that_is_not_positive_is_refused():
    result = probe("/api/tags/", "--timeout", "0")
    assert result.status != 0
    assert "is not a number of seconds above zero" in result.error


@pytest.mark.django_db
def test_urls_come_from_a_file_too(tmp_path, article):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# the article and the tags\narticle-detail:{article.pk}\n\n   /api/tags/  \n")
    result = probe("/api/authors/", "--file", str(urls))
    assert result.status == 0, result.output
    assert "3 URL(s) at 1 origin(s)" in result.output
    assert [line.split()[0] for line in result.output.splitlines() if line.startswith("/")] == [
        "/api/authors/",
        f"/api/articles/{article.pk}/",
        "/api/tags/",
    ]


@pytest.mark.django_db
def test_json_has_the_documented_shape(article):
    result = probe("--json", f"article-detail:{article.pk}", "probe-target:304-without-vary")
    assert result.status == 1
    report = json.loads(result.output)
    assert report.keys() == {"ok", "findings", "origins", "expect_change", "urls"}
    assert (report["ok"], report["findings"], report["origins"], report["expect_change"]) == (
        False,
        2,  # If-None-Match and If-Modified-Since each answered without Vary
        ["in-process"],
        False,
    )
    sound, broken = report["urls"]
    assert sound.keys() == {"target", "path", "ok", "answers", "checks"}
    assert (sound["target"], sound["path"], sound["ok"]) == (
        f"article-detail:{article.pk}",
        f"/api/articles/{article.pk}/",
        True,
    )
    (answer,) = sound["answers"]
    assert answer.keys() == {"origin", "status", "etag", "last_modified", "digest", "error"}
    assert answer["origin"] == "in-process" and answer["status"] == 200 and answer["error"] is None
    assert answer["etag"].startswith('"') and re.fullmatch(r"sha256:[0-9a-f]{64}", answer["digest"])
    assert [check["check"] for check in sound["checks"]] == ["GET", "If-None-Match", "If-Modified-Since", "HEAD"]
    assert all(check.keys() == {"check", "origin", "ok", "findings"} for check in sound["checks"])
    failed = [check for check in broken["checks"] if not check["ok"]]
    assert [(check["check"], check["findings"]) for check in failed] == [
        ("If-None-Match", ["If-None-Match has no Vary (GET: Accept)"]),
        ("If-Modified-Since", ["If-Modified-Since has no Vary (GET: Accept)"]),
    ]


# -- the rules that compare origins, on answers made by hand ---------------------


def answer(etag: str | None, body: bytes = b"{}") -> Answer:
    return Answer(status=200, headers={"etag": etag} if etag else {}, body=body)


@pytest.mark.parametrize(
    "first, second, findings",
    [
        (answer('"a"'), answer('"a"'), 0),
        (answer('"a"'), answer('"a"', b"[]"), 1),
        (answer('"a"'), answer('"b"', b"[]"), 0),
        (answer(None), answer(None, b"[]"), 0),
    ],
)
def test_one_etag_comes_with_one_body(first, second, findings):
    assert len(check_one_body({"old": first, "new": second})) == findings


@pytest.mark.parametrize(
    "first, second, findings",
    [(answer('"a"'), answer('"b"'), 0), (answer('"a"'), answer('"a"'), 1), (answer('"a"'), Answer.failed("down"), 0)],
)
def test_a_release_change_moves_every_etag(first, second, findings):
    assert len(check_release_change({"old": first, "new": second})) == findings


# -- broken origins over HTTP ---------------------------------------------------------


Responder = Callable[[str, dict[str, str]], bytes]


class _RawHandler(socketserver.StreamRequestHandler):
    responder: Responder

    def handle(self) -> None:
        method = self.rfile.readline().decode("latin-1").split(" ")[0]
        headers = {}
        while (line := self.rfile.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.wfile.write(self.responder(method, headers))


@contextmanager
def raw_origin(responder: Responder) -> Iterator[str]:
    """A server on loopback that writes whatever bytes ``responder`` returns, then closes the connection."""
    handler = type("Handler", (_RawHandler,), {"responder": staticmethod(responder)})
    with socketserver.ThreadingTCPServer((LOOPBACK, 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://{LOOPBACK}:{server.server_address[1]}"
        finally:
            server.shutdown()


def content_where_none_belongs(method: str, headers: dict[str, str]) -> bytes:
    """A 200 with an ETag, then a 304 and a HEAD answer that both carry content anyway."""
    fields = b'ETag: "raw"\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nConnection: close\r\n'
    if headers.get("if-none-match") == '"raw"':
        return b"HTTP/1.1 304 Not Modified\r\n" + fields + b"\r\nraw body"
    return b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 8\r\n\r\nraw body"


def test_content_in_a_304_and_a_head_answer_over_http_are_findings():
    with raw_origin(content_where_none_belongs) as base:
        result = probe("/raw/", "--base", base)
    assert result.status == 1
    assert "FAIL  If-None-Match 304 has content (8 bytes)" in result.output
    assert "FAIL  HEAD has content (8 bytes)" in result.output


def test_an_origin_that_refuses_connections_is_a_finding_not_a_traceback():
    base = f"http://{LOOPBACK}:{free_port()}"
    result = probe("/api/tags/", "--base", base)
    assert result.status == 1
    assert f"FAIL  GET: connection to {base} refused" in result.output


def test_an_origin_that_never_answers_is_a_timeout_finding():
    # It accepts connections (the kernel does, into the backlog) and reads nothing.
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(8)
        base = f"http://{LOOPBACK}:{silent.getsockname()[1]}"
        result = probe("/api/tags/", "--base", base, "--timeout", "0.3")
    assert result.status == 1
    assert f"FAIL  GET: no answer from {base} within 0.3 s" in result.output


# -- real origins: the example project under gunicorn ---------------------------------

#: Two replicas of one release with different hash seeds, and the next release.
RELEASES = {"replica": ("probe-r1", "1"), "other-replica": ("probe-r1", "4242"), "next-release": ("probe-r2", "1")}


@pytest.fixture(scope="module")
def origins(django_db_setup, django_db_blocker) -> Iterator[dict[str, str]]:
    """The three servers, booted side by side once for this module's tests; their base URLs by role."""
    servers = {
        role: GunicornServer(workers=1, release=release, hashseed=seed) for role, (release, seed) in RELEASES.items()
    }

    def stop(server: GunicornServer) -> None:
        # stop() waits, through the test database, for the server's sessions to end.
        with django_db_blocker.unblock():
            server.stop()

    with ExitStack() as stack:
        for server in servers.values():
            server.start()
            stack.callback(stop, server)
        yield {role: server.wait_ready() for role, server in servers.items()}


def live_targets(article: Article) -> list[str]:
    return [
        f"article-detail:{article.pk}",
        f"/plain/articles/{article.pk}/",
        f"author-detail:{article.author_id}",
        "/api/articles/?published=true&ordering=-id",  # a list with a next link: one Host for all origins
        "/api/tags/",
    ]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "first, second, flags, status, finding",
    [
        ("replica", "other-replica", [], 0, None),
        ("replica", "next-release", [], 1, "FAIL  ETag differs between origins: "),
        ("replica", "next-release", ["--expect-change"], 0, None),
        (
            "replica",
            "other-replica",
            ["--expect-change"],
            1,
            "is the same on both releases: the release salt did not move",
        ),
    ],
    ids=["replicas-agree", "releases-differ", "release-moved", "release-did-not-move"],
)
def test_live_origins(origins, first, second, flags, status, finding):
    article = make_article()
    baker.make(Article, title="More", published=True, author=article.author, _quantity=25)
    result = probe(*flags, "--base", origins[first], "--base", origins[second], *live_targets(article))
    assert result.status == status, result.output
    if finding:
        assert result.output.count(finding) == 5, result.output
    else:
        assert "5 URL(s) at 2 origin(s): no findings." in result.output


def readme_commands() -> list[list[str]]:
    """The command lines of the README's probe section, as a shell splits them, after ``manage.py``."""
    section = README.read_text().split("### Replay and consistency probe", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```shell\n(.*?)```", section, flags=re.S)
    lines = [shlex.split(line) for line in block.splitlines() if line.startswith("python manage.py ")]
    assert lines and all(line[2] == "conditional_probe" for line in lines)
    return [line[3:] for line in lines]


#: The README's origins, and who plays them here.
README_ORIGINS = {
    "http://127.0.0.1:8001": "replica",
    "http://127.0.0.1:8002": "other-replica",
    "http://127.0.0.1:8003": "next-release",
}


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("args", readme_commands(), ids=lambda args: " ".join(args)[:60])
def test_the_readme_commands_pass(origins, args):
    make_article()
    baker.make(Article, title="More", published=True, _quantity=25)
    args = [origins[README_ORIGINS[arg]] if arg in README_ORIGINS else arg for arg in args]
    result = probe(*args)
    assert result.status == 0, result.output
    if "--json" in args:
        assert json.loads(result.output)["ok"] is True


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "args, status, said",
    [
        (["--base", "replica", "--base", "other-replica", "/api/tags/"], 0, "no findings"),
        (["--base", "replica", "--base", "next-release", "/api/tags/"], 1, "CommandError: 1 finding(s) on 1 URL(s)."),
        (["--base", "127.0.0.1:8001", "/api/tags/"], 2, "is not an http:// or https:// origin"),
        (["--timeout", "soon", "/api/tags/"], 2, "is not a number of seconds above zero"),
    ],
    ids=["agree", "disagree", "no-scheme", "bad-timeout"],
)
def test_manage_py_at_the_repository_root_exits_with_the_documented_status(origins, args, status, said):
    """The example's contract: ``python manage.py conditional_probe PATH... [--base URL ...]``, example settings."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["DATABASE_URL"] = database_url()
    args = [origins.get(arg, arg) for arg in args]
    result = subprocess.run(
        [sys.executable, "manage.py", "conditional_probe", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status, result.stdout + result.stderr
    assert said in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
