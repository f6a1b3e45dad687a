"""Prometheus metrics of the decisions: ``pip install 'conditional-api[metrics]'`` and ``"METRICS": True``.

With ``CONDITIONAL_API["METRICS"]`` on, the app's ``ready()`` connects these
counters to the package's signals:

- ``conditional_api_responses_total{view, method, outcome}``: every answer
  of a conditional view by its status code; the 304:200 ratio of an
  endpoint is ``sum(rate(...{view="article-detail", outcome="304"}[5m])) /
  sum(rate(...{view="article-detail", outcome="200"}[5m]))``;
- ``conditional_api_decision_seconds{view}``: how long reading the
  validator and deciding took, a histogram;
- ``conditional_api_validator_cache_total{view, result}``: validator cache
  ``hit`` and ``miss``, for views that use it;
- ``conditional_api_stale_validators_total{view}``: 304s that sampled
  verification found stale (``conditional_api.verification``).

Serve them with :func:`metrics_view` (``path("metrics", metrics_view)``), or
from your own exporter: they live in ``prometheus_client``'s default
registry. Under a server with several worker processes, set
``PROMETHEUS_MULTIPROC_DIR`` as ``prometheus_client`` documents; the view
then merges every worker's samples.
"""

from __future__ import annotations

import os
from typing import Any

try:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "conditional_api.metrics needs prometheus_client: pip install 'conditional-api[metrics]'."
    ) from error

from django.http import HttpRequest, HttpResponse

from .signals import decision_made, stale_validator

__all__ = ["CACHE_LOOKUPS", "DECISION_SECONDS", "RESPONSES", "STALE_VALIDATORS", "install", "metrics_view"]

RESPONSES = Counter(
    "conditional_api_responses",
    "Answers of conditional views, by view, method and status code.",
    ["view", "method", "outcome"],
)
DECISION_SECONDS = Histogram(
    "conditional_api_decision_seconds",
    "Time from the view's start to the precondition decision.",
    ["view"],
    # A decision is one small query or a cache read: milliseconds, not seconds.
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
CACHE_LOOKUPS = Counter(
    "conditional_api_validator_cache",
    "Validator cache lookups of conditional views, by result (hit or miss).",
    ["view", "result"],
)
STALE_VALIDATORS = Counter(
    "conditional_api_stale_validators",
    "304s that sampled verification found to stand for changed bytes.",
    ["view"],
)


def count_decision(
    sender: Any, *, view: str, method: str, outcome: int, cached: bool | None, seconds: float | None, **kwargs: Any
) -> None:
    RESPONSES.labels(view, method, str(outcome)).inc()
    if seconds is not None:
        DECISION_SECONDS.labels(view).observe(seconds)
    if cached is not None:
        CACHE_LOOKUPS.labels(view, "hit" if cached else "miss").inc()


def count_incident(sender: Any, *, view: str, **kwargs: Any) -> None:
    STALE_VALIDATORS.labels(view).inc()


def install() -> None:
    """Connect the counters to the package's signals (from the app's ``ready()`` when ``METRICS`` is on)."""
    decision_made.connect(count_decision, dispatch_uid="conditional_api.metrics.count_decision")
    stale_validator.connect(count_incident, dispatch_uid="conditional_api.metrics.count_incident")


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus's text format; every worker's with ``PROMETHEUS_MULTIPROC_DIR``."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
