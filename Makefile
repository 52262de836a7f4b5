# PrintFair — `make run` starts the whole product locally, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install run test bench lint format chromium clean contracts

help:
	@echo "make run    start PrintFair locally (installs what is missing, seeds a demo)"
	@echo "make test   run every test"
	@echo "make bench  run the benchmarks under bench/"
	@echo "make lint   ruff and mypy"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# Not `npm ci`: the registry here has only the linux-x64 build of anvil, so the lock cannot list
# the other platforms' optional packages and `npm ci` refuses it. `npm install` installs the
# locked versions all the same.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
# Certificate PDFs embed DejaVu Sans (fonts-dejavu-core) so that every name prints as given.
chromium:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	test -z "$$missing" || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo --port $(PORT)
	@# supervisord.dev.conf lists the processes; supervisord restarts one that dies.
	PRINTFAIR_PORT=$(PORT) $(VENV)/bin/supervisord -c supervisord.dev.conf

test: install chromium
	$(PY) -m pytest

bench: install
	$(PY) -m bench.upload
	$(PY) -m bench.chain
	$(PY) -m bench.bids
	$(PY) -m bench.design_get
	$(PY) -m bench.records

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Rebuilds the committed contract artifacts; tests/ledger/test_build.py fails until they match.
contracts: node_modules/.installed
	node ledger/contracts/compile.mjs

clean:
	rm -rf var/db.sqlite3 var/media var/celery var/staticfiles
