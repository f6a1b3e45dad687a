"""Settings of the example project: the runnable showcase of conditional_api.

Read from the environment: DATABASE_URL (default SQLite at db.sqlite3 in the
repository root), CACHE_URL (``locmem://`` or ``redis://host:port/db``; when
set, the detail views keep their validators in that cache), CONDITIONAL_API_RELEASE
(the ETag salt), CONDITIONAL_API_VERIFY_RATE (the share of 304s verified,
default 0), DJANGO_CONN_MAX_AGE (seconds, default 60), DJANGO_DEBUG (1/0),
DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS (comma-separated, added to localhost
and 127.0.0.1) and DJANGO_CORS_ALLOWED_ORIGINS (comma-separated; unset, no
CORS).
"""

import os
from importlib.util import find_spec
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", *filter(None, os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","))]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    # The article list's filters, and their form on the browsable API.
    "django_filters",
    "conditional_api",
    "example_project.blog",
]
# The OpenAPI schema and its Swagger UI, served from local static files, when the openapi extra is installed.
if find_spec("drf_spectacular") is not None and find_spec("drf_spectacular_sidecar") is not None:
    INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# A browser app on the origins DJANGO_CORS_ALLOWED_ORIGINS names (comma-separated)
# may read the validators and send them back (django-cors-headers). Off without
# it: CORS adds Vary: Origin to every answer.
CORS_ORIGINS = os.environ.get("DJANGO_CORS_ALLOWED_ORIGINS", "")
if CORS_ORIGINS and find_spec("corsheaders") is not None:
    from corsheaders.defaults import default_headers

    INSTALLED_APPS.append("corsheaders")
    MIDDLEWARE.insert(0, "corsheaders.middleware.CorsMiddleware")
    CORS_ALLOWED_ORIGINS = CORS_ORIGINS.split(",")
    CORS_EXPOSE_HEADERS = ["ETag", "Last-Modified"]
    CORS_ALLOW_HEADERS = [*default_headers, "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# Persistent connections, checked before reuse, as production servers keep
# them: without, every request that queries opens one (DJANGO_CONN_MAX_AGE).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One cache per process by default; CACHE_URL=redis://... shares the
# validator cache between app servers (Django's own Redis backend).
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL.startswith(("redis://", "rediss://"))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

REST_FRAMEWORK = {
    # Basic first, so that an anonymous write gets 401 with WWW-Authenticate: Basic.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "example_project.blog.pagination.PageNumberPagination",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    **({"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"} if "drf_spectacular" in INSTALLED_APPS else {}),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "conditional_api example",
    "DESCRIPTION": "Articles, authors and tags with strong ETags, 304, 412 and 428.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The schema describes the JSON API, not the endpoints that serve it.
    "SERVE_INCLUDE_SCHEMA": False,
}

# The showcase configures validators in settings, not code: articles use the
# version counter (strong ETag and Last-Modified) and require a precondition
# on writes; authors use updated_at; lists use the table's change count.
# With CACHE_URL set, detail views read validators from that cache. Every
# answer names what it shows in Surrogate-Key, and each commit's keys are
# logged (blog/purges.py), where a CDN purge would go.
CONDITIONAL_API = {
    "RELEASE": os.environ.get("CONDITIONAL_API_RELEASE", "example-1"),
    "CACHE": "default" if CACHE_URL else None,
    # Decisions counted for /metrics when the metrics extra is installed.
    "METRICS": find_spec("prometheus_client") is not None,
    # The share of 304s that also build their 200 to catch a stale validator.
    "VERIFY_RATE": float(os.environ.get("CONDITIONAL_API_VERIFY_RATE", "0")),
    "SURROGATE_KEYS": "Surrogate-Key",
    "DEFAULTS": {"cache_control": "no-cache", "cache_validators": bool(CACHE_URL)},
    "VIEWS": {
        "article-detail": {"strategy": "version", "require_precondition": True, "query_params": []},
        "plain-article-detail": {"strategy": "version", "query_params": []},
        "author-detail": {"strategy": "updated_at", "query_params": []},
        "article-list": {"strategy": "collection"},
        "author-list": {"strategy": "collection"},
        "tag-list": {"strategy": "collection"},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"example_project.blog.purges": {"handlers": ["console"], "level": "INFO"}},
}
