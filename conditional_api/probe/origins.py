"""Where the probe sends its requests: a server over HTTP, or this project in process.

Both give an :class:`Answer` and never raise for what the network does: a
timeout or a refused connection is an answer with an ``error``, which the
checks report as a finding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException, HTTPResponse, HTTPSConnection
from typing import Protocol
from urllib.parse import urlsplit

from django.test import Client

__all__ = ["IN_PROCESS", "Answer", "HttpOrigin", "InProcessOrigin", "Origin"]

#: The name the in-process origin goes by in reports.
IN_PROCESS = "in-process"


@dataclass(frozen=True)
class Answer:
    """One response as a client receives it; header names are lower case."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    @classmethod
    def failed(cls, error: str) -> Answer:
        return cls(status=None, error=error)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()

    @property
    def successful(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _joined(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Field lines by lower-case name, repeated lines joined with commas (RFC 9110 §5.3)."""
    headers: dict[str, str] = {}
    for name, value in fields:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class Origin(Protocol):
    """Something that answers a request for a path (with its query string)."""

    name: str

    def send(self, method: str, path: str, headers: Mapping[str, str]) -> Answer: ...


class HttpOrigin:
    """A server at ``base`` (``http://host:port`` and an optional path prefix), one connection per request.

    Redirects are not followed and no cookie is kept: every request is the
    same one a fresh client would send. ``host``, when given, is the Host
    header sent when the caller sends none (by default, the base's own).
    """

    def __init__(self, base: str, *, timeout: float, host: str | None = None) -> None:
        parts = urlsplit(base)
        self.name = base
        self.host = host
        self.scheme = parts.scheme
        self.netloc = parts.netloc
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout

    def _connection(self) -> HTTPConnection:
        if self.scheme == "https":
            return HTTPSConnection(self.netloc, timeout=self.timeout)
        return HTTPConnection(self.netloc, timeout=self.timeout)

    def send(self, method: str, path: str, headers: Mapping[str, str]) -> Answer:
        connection = self._connection()
        try:
            # Closed by the server after its answer, so that whatever it sends
            # after the header of a HEAD or 304 answer can be read to the end.
            sent = {**headers, "Connection": "close"}
            if self.host and not any(name.lower() == "host" for name in headers):
                sent["Host"] = self.host
            connection.request(method, self.prefix + path, headers=sent)
            response = connection.getresponse()
            return Answer(
                status=response.status, headers=_joined(response.getheaders()), body=self._content(method, response)
            )
        except TimeoutError:
            return Answer.failed(f"no answer from {self.name} within {self.timeout:g} s")
        except ConnectionRefusedError:
            return Answer.failed(f"connection to {self.name} refused")
        except OSError as error:
            return Answer.failed(f"cannot reach {self.name}: {error.strerror or error}")
        except HTTPException as error:
            return Answer.failed(f"{self.name} did not answer in HTTP: {type(error).__name__} {error}")
        finally:
            connection.close()

    def _content(self, method: str, response: HTTPResponse) -> bytes:
        if method != "HEAD" and response.status not in (204, 304) and response.status >= 200:
            return response.read()
        # http.client reads no content for these answers; any bytes the server
        # sent anyway follow the header on this connection, until it closes.
        try:
            return response.fp.read() if response.fp else b""
        except TimeoutError:
            return b""


class InProcessOrigin:
    """This project's URLconf through Django's request handler, as a WSGI server would run it.

    Django's test client does the work, with a fresh client for each
    request (no cookies carried over), view exceptions answered as a 500,
    and content removed from HEAD and 304 answers as servers remove it.
    ``host`` is the Host header sent when the caller sends none.
    """

    name = IN_PROCESS

    def __init__(self, host: str | None) -> None:
        self.host = host

    def send(self, method: str, path: str, headers: Mapping[str, str]) -> Answer:
        sent = dict(headers)
        if self.host and not any(name.lower() == "host" for name in sent):
            sent["Host"] = self.host
        response = Client(raise_request_exception=False).generic(method, path, headers=sent)
        return Answer(status=response.status_code, headers=_joined(response.items()), body=response.getvalue())
