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
# The validator cache contenders: their own URL names, the example's options
# plus cache_validators, in the example's default cache (local memory).
CONDITIONAL_API = {
    **CONDITIONAL_API,
    "CACHE": "default",
    "VIEWS": {
        **CONDITIONAL_API["VIEWS"],
        "article-cached-detail": {**CONDITIONAL_API["VIEWS"]["article-detail"], "cache_validators": True},
        "plain-article-cached-detail": {**CONDITIONAL_API["VIEWS"]["plain-article-detail"], "cache_validators": True},
    },
}
