# Two commands: `make demo` serves the example API, `make test` runs the suite.
# Each sets up its own virtualenv (.venv) from pyproject.toml first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint venv bench load clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

venv: $(BIN)/.installed

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# `make lint`: ruff's checks and formatting, then mypy (strict, with the Django and DRF plugins).
# mypy runs as `python -m mypy` so that the checkout comes first on sys.path: the Django plugin
# imports tests.settings, and a test dependency (sniffpy, through redbot) installs a top-level
# `tests` package that would shadow ours.
lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/python -m mypy

demo: venv
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	@$(BIN)/python manage.py demo_curl --base http://$(HOST):$(PORT)
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

# `make bench`: its own virtualenv (.venv-bench, with the pinned peers), then
# the benchmark on SQLite and, when reachable, PostgreSQL (BENCH_DATABASE_URL,
# default postgres://postgres@127.0.0.1:5432/bench); tables in docs/benchmarks.md.
$(VENV)-bench/bin/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)-bench
	$(VENV)-bench/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-bench/bin/python -m pip install --quiet -e ".[bench]"
	touch $@

bench: $(VENV)-bench/bin/.installed
	$(VENV)-bench/bin/python -m bench $(BENCH_ARGS)

# `make load`: the same virtualenv and wrk (apt-get installs it when missing), then
# the example under gunicorn on PostgreSQL (LOAD_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/load) and Redis (LOAD_CACHE_URL, default
# redis://127.0.0.1:6379/13), driven by wrk on a core of its own; about three and a
# half minutes; the tables in docs/benchmarks.md.
load: $(VENV)-bench/bin/.installed
	@command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
	$(VENV)-bench/bin/python -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .venv-* db.sqlite3 .pytest_cache .mypy_cache .ruff_cache
