# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Tests talk to real PostgreSQL and Redis; these defaults match the project's machines.
TEST_DATABASE_URL ?= postgres://postgres@localhost:5432/integration_portal
TEST_REDIS_URL ?= redis://localhost:6379/5

.PHONY: install run test lint typecheck check messages clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py runportal

test: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck test

# Regenerate the Russian catalogue after changing msgids (needs GNU gettext).
messages: install
	$(PY) manage.py makemessages -l ru --ignore '.venv/*' --no-obsolete
	$(PY) manage.py compilemessages -l ru --ignore '.venv/*'

clean:
	rm -rf $(VENV) var
