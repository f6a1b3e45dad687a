"""What the package decided and what it found, for logs, metrics and alerts.

Both signals are sent with the strategy's class as ``sender``, so a receiver
can follow one strategy; every other argument is a keyword.

``decision_made``, once per answer of a conditional view (not for the
browsable API's pages, which carry no validators):

- ``request``: the ``HttpRequest``;
- ``view``: the URL name, or the view's dotted path when it has none;
- ``method``: ``"GET"``, ``"PUT"``, ...;
- ``outcome``: the status code answered: 304, 400, 412 or 428 when the
  package answered, else the view's own (200, 201, 204, 404, ...);
- ``strategy``: the strategy's name (``"version"``, ``"collection"``, ...);
- ``reason``: why the package answered, in a client developer's words
  (``""`` when the view answered);
- ``cached``: True when the validator came from the validator cache, False
  when the cache was asked and missed, None when it was not asked;
- ``seconds``: the time from the view's start to the decision (for the
  content strategy, which decides on the rendered bytes, the view's time
  included); None when nothing was decided (a GET without preconditions).

``stale_validator``, when sampled verification finds that a 304 stood for
bytes other than those served under its ETag (``conditional_api.verification``):
``request``, ``view``, ``url``, ``etag``, ``served_digest`` (of the 200 once
served under that ETag) and ``current_digest`` (of the 200 the view builds
now).
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["decision_made", "stale_validator"]

decision_made = Signal()
stale_validator = Signal()
