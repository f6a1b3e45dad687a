"""Sampled self-verification: catch, in production, a 304 that stood for bytes that had changed.

A validator that misses a write path (a relation ``depends_on`` does not
name, a table written by raw SQL, a field computed from the clock) is silent
by nature: clients keep their old copy and nobody sees an error. With
``CONDITIONAL_API["VERIFY_RATE"]`` above 0:

- every 200 that carries an ETag records a digest of its bytes in the cache,
  keyed by the URL (without its query: the ETag already names every
  parameter the bytes depend on) and the ETag;
- that share of 304s (0.01: one in a hundred) also builds the 200 it stands
  for and compares its digest with the recorded one. A difference is a
  stale-validator incident: logged at ERROR on ``conditional_api`` with the
  URL, the ETag and both digests, sent as the ``stale_validator`` signal
  (the metrics count it), and, with ``VERIFY_SERVE_200``, answered with that
  200, without validators, instead of the 304.

A write that commits while the sampled 200 is built moves the validator; the
flow reads it again and drops the comparison then, so a race is never an
incident. The digests live in ``CONDITIONAL_API["CACHE"]`` (else Django's
``default`` cache) for a week; with one local-memory cache per process a
304 is compared only with the 200s its own process served. A cache that is
down skips the comparison, never the answer.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass

from django.core.cache import BaseCache, caches
from django.http import HttpRequest

from .conf import api_settings

__all__ = ["Incident", "compare", "record", "recording", "sampled"]

logger = logging.getLogger(__name__)

#: How long a served 200's digest is kept.
DIGEST_SECONDS = 7 * 24 * 3600

_PREFIX = "conditional_api:served"


@dataclass(frozen=True)
class Incident:
    """A 304's ETag was served with other bytes than the view builds now."""

    url: str
    etag: str
    served_digest: str
    current_digest: str


def recording() -> bool:
    """Whether 200s record their digests: whenever 304s are sampled."""
    return bool(api_settings.VERIFY_RATE)


def sampled() -> bool:
    """Whether this 304 is one of the share that is verified."""
    rate = api_settings.VERIFY_RATE
    return bool(rate) and random.random() < rate


def _cache() -> BaseCache:
    return caches[api_settings.CACHE or "default"]


def _url(request: HttpRequest) -> str:
    return request.build_absolute_uri(request.path)


def _key(url: str, etag: str) -> str:
    return f"{_PREFIX}:" + hashlib.blake2b(f"{url}\0{etag}".encode(), digest_size=16).hexdigest()


def digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def record(request: HttpRequest, etag: str, body: bytes) -> None:
    """Remember the digest of the bytes a 200 served under ``etag``."""
    try:
        _cache().set(_key(_url(request), etag), digest(body), DIGEST_SECONDS)
    except Exception:
        logger.warning("conditional_api: could not record a served digest for verification", exc_info=True)


def compare(request: HttpRequest, etag: str, body: bytes) -> Incident | None:
    """The incident, when ``body`` is not what was served under ``etag``; None when it is, or nothing was recorded."""
    try:
        url = _url(request)
        served = _cache().get(_key(url, etag))
    except Exception:
        logger.warning("conditional_api: could not read a served digest for verification", exc_info=True)
        return None
    if served is None:
        return None
    current = digest(body)
    return None if current == served else Incident(url, etag, served, current)
