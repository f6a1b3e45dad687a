"""GZip that keeps ETags strong, so If-Match keeps working behind compression.

Django's ``GZipMiddleware`` turns ``ETag: "x"`` into ``W/"x"`` when it
compresses, because its output carries random padding (a BREACH mitigation)
and so differs on every response. If-Match compares strongly (RFC 9110
§13.1.1), and a weak tag never matches: every conditional write fails.

This middleware compresses responses that carry a strong ETag
deterministically (no padding, gzip mtime 0), so the compressed bytes of one
state are always the same, and gives them their own strong tag, ``"x-gzip"``,
as §8.8.3 asks of a different content-coding. Whether a response is
compressed depends on Accept-Encoding alone, so its 304 names the same tag. The precondition layer reads
``"x-gzip"`` as the gzip representation of ``"x"``. Responses without a
strong ETag get Django's behaviour, padding included.

Use it in place of Django's: ``"conditional_api.middleware.GZipMiddleware"``.
A view that sets its own Content-Encoding is left alone; its 304 cannot
tell, so do not combine such a view's own encoding with a strong ETag.
Leaving out the padding matters only for responses that reflect both a secret
and attacker-chosen input; an API answer validated by a row version rarely
does, but weigh it for yours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import cast

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.middleware import gzip
from django.utils.cache import patch_vary_headers
from django.utils.text import compress_sequence, compress_string

from .preconditions import CODING_SUFFIXES

__all__ = ["GZipMiddleware", "accepts_gzip"]

GZIP_SUFFIX = CODING_SUFFIXES["gzip"]


def _gzip_tag(etag: str) -> str:
    return etag[:-1] + GZIP_SUFFIX + '"'


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether Accept-Encoding admits gzip (RFC 9110 §12.5.3): listed, or ``*``, with a weight above 0.

    ``gzip;q=0`` refuses it, and so does ``*;q=0`` when gzip is not listed;
    ``x-gzip`` is gzip (§8.4.1.3). A member whose weight is not a qvalue is
    ignored.
    """
    weights: dict[str, float] = {}
    for member in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in member.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = -1.0
        if coding and 0.0 <= weight <= 1.0:
            weights[{"x-gzip": "gzip"}.get(coding.lower(), coding.lower())] = weight
    weight = weights.get("gzip", weights.get("*", 0.0))
    return weight > 0.0


class GZipMiddleware(gzip.GZipMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        accepted = accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING", ""))
        etag = response.get("ETag")
        if not (etag and etag.startswith('"')):
            if accepted:
                return super().process_response(request, response)
            patch_vary_headers(response, ("Accept-Encoding",))
            return response
        if response.has_header("Content-Encoding"):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        # The coding depends on Accept-Encoding alone (no size threshold, no
        # "only if smaller"), so a 304 can name the tag its 200 carried.
        if not accepted:
            return response
        if response.status_code == 304:
            response.headers["ETag"] = _gzip_tag(etag)
            return response
        # ``streaming`` tells the two kinds of response apart, as in Django's own middleware.
        if response.streaming:
            _compress_stream(cast(StreamingHttpResponse, response))
        else:
            whole = cast(HttpResponse, response)
            whole.content = compress_string(whole.content, max_random_bytes=0)
            whole.headers["Content-Length"] = str(len(whole.content))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["ETag"] = _gzip_tag(etag)
        return response


def _compress_stream(response: StreamingHttpResponse) -> None:
    """Compress a streaming response without padding: the same chunks, the same bytes."""
    # ``is_async`` says which kind of iterator ``streaming_content`` is.
    if response.is_async:
        chunks = cast("AsyncIterator[bytes]", response.streaming_content)

        async def compressed() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield compress_string(chunk, max_random_bytes=0)

        response.streaming_content = compressed()
    else:
        response.streaming_content = compress_sequence(
            cast("Iterator[bytes]", response.streaming_content), max_random_bytes=0
        )
    del response.headers["Content-Length"]
