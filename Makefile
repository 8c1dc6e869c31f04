# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Tests talk to real PostgreSQL and Redis; these defaults match the project's machines.
TEST_DATABASE_URL ?= postgres://postgres@localhost:5432/integration_portal
TEST_REDIS_URL ?= redis://localhost:6379/5

.PHONY: install lock test-tools bench-tools run unit test faults bench lint typecheck check messages clean

# Installs the locked versions (requirements-dev.txt, hashes checked), then the project itself.
$(STAMP): pyproject.toml requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# After changing pyproject.toml's dependencies: resolve them again into the lock files
# (requirements.txt for the image, requirements-dev.txt for the venv), with uv.
UV_VERSION := 0.13.9
LOCK := --universal --python-version 3.11 --generate-hashes --quiet
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet 'uv==$(UV_VERSION)'
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK) -o requirements.txt
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev $(LOCK) -o requirements-dev.txt

# The bench drives its load with Debian's wrk (tests/test_bench_smoke.py runs a tiny bench too).
bench-tools:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk (Debian package) for the bench's load"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# The suite validates docker-compose.yml with Debian's docker-compose (it needs no engine), its
# browser tests drive Debian's Chromium (Playwright's own browser downloads are not used), its
# slow-client tests run Debian's nginx with the proxy configuration compose ships, and its alerting
# tests run promtool (Debian's prometheus) on deploy/prometheus.
test-tools: bench-tools
	@command -v docker-compose >/dev/null 2>&1 || { \
		echo "installing docker-compose (Debian package) for the compose file check"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	@test -x /usr/bin/chromium || { \
		echo "installing chromium (Debian package) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x /usr/sbin/nginx || { \
		echo "installing nginx (Debian package): the slow-client tests run the shipped proxy"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
	@command -v promtool >/dev/null 2>&1 || { \
		echo "installing prometheus (Debian package): promtool checks and unit-tests the alert rules"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py runportal

# The fast tier: the pure tests (tests/unit) in seconds, with PostgreSQL and Redis pointed at a
# closed port and the suite's own conftest not loaded, so none of them can lean on a service.
unit: install
	DATABASE_URL=postgres://unit@127.0.0.1:1/unreachable REDIS_URL=redis://127.0.0.1:1/0 \
		$(PY) -m pytest -q -p no:cacheprovider --confcutdir=tests/unit tests/unit

test: install test-tools unit
	rm -rf var/test-metrics
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/test-metrics \
		$(PY) -m pytest $(PYTEST_ARGS)

# Kill, flush and starve the real processes mid-batch; print what was sent, delivered and lost.
faults: install
	$(PY) -m harness.faults

# CPU per event per process group, throughput and latency of the production processes against a
# 50 ms stand-in Mindbox; results go to bench/results/. Not a test: nothing fails on speed.
# BENCH_DATABASE_URL, BENCH_MINDBOX_DELAY and the BENCH_* sizes in harness/bench.py change the run.
bench: install bench-tools
	$(PY) -m harness.bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck test

# Regenerate the Russian catalogue after changing msgids (needs GNU gettext).
messages: install
	$(PY) manage.py makemessages -l ru --ignore '.venv/*' --no-obsolete
	$(PY) manage.py compilemessages -l ru --ignore '.venv/*'

clean:
	rm -rf $(VENV) var
