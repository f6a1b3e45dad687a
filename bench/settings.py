"""Settings of the benchmark: the example project's, with its own URLs and database.

The database comes from ``BENCH_WORKER_DATABASE_URL``, which ``python -m
bench`` sets for each worker process (a temporary SQLite file, or the
PostgreSQL database it checked). DEBUG stays off: with it on, Django keeps
every query in memory and the timings would include that.
"""

import os

import dj_database_url

from example_project.settings import *  # noqa: F403
from example_project.settings import ALLOWED_HOSTS, CONDITIONAL_API

DEBUG = False
# RequestFactory's requests name this host.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
ROOT_URLCONF = "bench.urls"
# Persistent connections, as production servers keep them (or a pool does).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("BENCH_WORKER_DATABASE_URL", "sqlite:///:memory:"), conn_max_age=None
    )
}
# The example's options for the article views, the only ones bench.urls
# mounts (a key for a view it does not route is conditional_api.E003); the
# validator cache contenders: their own URL names, the example's options
# plus cache_validators, in the example's default cache (local memory).
example_views = CONDITIONAL_API["VIEWS"]
CONDITIONAL_API = {
    **CONDITIONAL_API,
    "CACHE": "default",
    # BENCH_VERIFY_RATE: the share of 304s that sampled verification rebuilds (what it costs).
    "VERIFY_RATE": float(os.environ.get("BENCH_VERIFY_RATE", "0")),
    "VIEWS": {
        **{name: example_views[name] for name in ("article-detail", "article-list", "plain-article-detail")},
        "article-cached-detail": {**example_views["article-detail"], "cache_validators": True},
        "article-cached-list": {**example_views["article-list"], "cache_validators": True},
        "plain-article-cached-detail": {**example_views["plain-article-detail"], "cache_validators": True},
        "plain-article-cached-list": {"cache_validators": True},
    },
}
