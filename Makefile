# Two commands: `make demo` serves the example API, `make test` runs the suite.
# Each sets up its own virtualenv (.venv) from pyproject.toml first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

venv: $(BIN)/.installed

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: venv
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	@$(BIN)/python manage.py demo_curl --base http://$(HOST):$(PORT)
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

clean:
	rm -rf $(VENV) .venv-* db.sqlite3 .pytest_cache
