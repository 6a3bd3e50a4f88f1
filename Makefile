# Two commands on a fresh clone: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
HAVE_NODE := $(shell command -v npm >/dev/null 2>&1 && echo yes)
WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts -type f 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: run test setup web chromium lint fmt test-unit test-e2e bench bench-quick clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

# The web UI is built when Node is present; without it the server says how to build it.
web/dist/index.html: $(WEB_SOURCES)
	cd web && npm ci --no-audit --no-fund && npm run build

web:
ifeq ($(HAVE_NODE),yes)
	@if [ -f web/package.json ]; then $(MAKE) --no-print-directory web/dist/index.html; fi
else
	@echo "node/npm not found: skipping the web UI build (the API still works)"
endif

run: setup web
	$(VENV)/bin/scrobbler run

test: setup web chromium
ifeq ($(HAVE_NODE),yes)
	@if [ -f web/package.json ]; then cd web && npm run check && npm test; fi
endif
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

BENCH_STAMP := $(VENV)/.bench-$(shell cksum < pyproject.toml | cut -d' ' -f1)
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@rm -f $(VENV)/.bench-*
	@touch $@

bench: setup web chromium $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup $(BENCH_STAMP)
	$(PY) -m bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) web/node_modules web/dist data .pytest_cache .mypy_cache .ruff_cache

# Debian's Chromium for the web e2e test and the dashboard first-render figure (never a download).
chromium:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } || echo "chromium not installed: the web e2e test will skip"
