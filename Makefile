# PrintFair — `make run` starts the whole product locally, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# Python writes and reuses compiled bytecode (__pycache__, ignored by git) even where the machine
# says not to (PYTHONDONTWRITEBYTECODE): every process the product and the tests start would
# otherwise compile each module it imports again, about half of a Django process's start (2.7 s
# to 1.4 s here) and of a pytest worker's.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install run test bench lint slither format chromium clean contracts lock

help:
	@echo "make run    start PrintFair locally (installs what is missing, seeds a demo;"
	@echo "           DEMO_PRINTER=1 adds a virtual printer that prints a part of a demo job)"
	@echo "make test   run every test"
	@echo "make bench  run the benchmarks under bench/"
	@echo "make lint   ruff, mypy, import-linter (imports run one way: docs/architecture.md), slither"
	@echo "make slither  static analysis of ledger/contracts (docs/static-analysis.md)"
	@echo "make lock   rewrite requirements/*.lock from pyproject.toml (server.lock: the image's)"

LOCK := requirements/dev.lock
# The lock holds the CLI's packages (pyproject's `dependencies`) and these extras: the server's and
# the tests' and tools'. The venv has all of them; `pip install .` alone gives a shop the CLI.
LOCK_EXTRAS := server opcua octoprint dev
# uv installs the venv from the lock and writes the lock (about 10 s for the whole lock where pip
# takes a minute); it lives in its own venv under var/, outside the project's.
UV_VERSION := 0.13.9
UV := var/tools/bin/uv
OCTOPRINT := var/octoprint/bin/octoprint

$(UV):
	$(PYTHON) -m venv var/tools
	var/tools/bin/python -m pip install --quiet uv==$(UV_VERSION)

# Exactly the lock (every package pinned, with hashes), then the project alone; check_lock fails,
# naming them, when pyproject.toml asks for packages the lock does not have yet (`make lock`).
$(VENV)/.installed: pyproject.toml $(LOCK) | $(UV)
	$(PYTHON) -m venv --without-pip $(VENV)
	$(UV) pip install --quiet --python $(PY) --require-hashes -r $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	$(PY) devtools/check_lock.py $(LOCK_EXTRAS)
	touch $@

# Rewrites the lock from pyproject.toml's dependencies and LOCK_EXTRAS: adds what is new and keeps
# the other pins where it can (delete the lock first to move them all to the newest releases).
# Resolved against PyPI, for this Python.
lock: | $(UV)
	$(UV) pip compile --quiet --python $(PYTHON) --generate-hashes $(LOCK_EXTRAS:%=--extra %) \
	  --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml
	$(UV) pip compile --quiet --python $(PYTHON) --generate-hashes --extra server \
	  --no-emit-index-url --no-emit-find-links -c $(LOCK) --output-file requirements/server.lock \
	  pyproject.toml
	$(UV) pip compile --quiet --python $(PYTHON) --generate-hashes --no-emit-index-url \
	  --no-emit-find-links --output-file requirements/octoprint.lock requirements/octoprint.in

# `npm ci` installs exactly the lock and never rewrites it. The lock lists every platform's anvil
# package (optional ones; npm installs this machine's); after changing package.json, run
# `npm install --package-lock-only` and commit the lock.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
# Certificate PDFs embed DejaVu Sans (fonts-dejavu-core) so that every name prints as given.
# tests/test_compose.py checks docker-compose.yml with Debian's docker-compose (`config -q`; not
# the Docker engine it recommends, which `config` does not need).
chromium:
	@command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	test -z "$$missing" || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }

# `make run DEMO_PRINTER=1` adds the demo's printer (README "The demo printer"): OctoPrint and its
# Virtual Printer on OCTOPRINT_PORT, the printer's agent, and a print of a part of a small job the
# demo's print farm wins (supervisord.printer.conf, which includes supervisord.dev.conf).
DEMO_PRINTER ?=
OCTOPRINT_PORT ?= 5000

run: install $(if $(DEMO_PRINTER),$(OCTOPRINT))
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo --port $(PORT)
	$(if $(DEMO_PRINTER),$(PY) manage.py demo_printer seed --port $(PORT) --octoprint-port $(OCTOPRINT_PORT))
	@# supervisord.dev.conf lists the processes; supervisord restarts one that dies.
	PRINTFAIR_PORT=$(PORT) $(VENV)/bin/supervisord -c supervisord.$(if $(DEMO_PRINTER),printer,dev).conf

# Every test on every core (devtools/run_tests): the suite under pytest-xdist, two workers per core
# (each has its own database, anvil, Redis database and temporary folder), and beside it the tests
# marked `serial`, which restart PostgreSQL, on a PostgreSQL cluster of their own.
test: install chromium $(OCTOPRINT)
	devtools/run_tests

# OctoPrint, the printer host `printfair agent` is tested against (tests/octoprint_host.py, its
# Virtual Printer), in a venv of its own: its pinned dependencies are not ours. The lock is
# requirements/octoprint.lock (`make lock` writes it from requirements/octoprint.in).
$(OCTOPRINT): requirements/octoprint.lock | $(UV)
	$(PYTHON) -m venv --without-pip --clear var/octoprint
	$(UV) pip install --quiet --python var/octoprint/bin/python --require-hashes \
	  -r requirements/octoprint.lock
	touch $@

bench: install
	$(PY) -m bench.upload
	$(PY) -m bench.chain
	$(PY) -m bench.auction_gas
	$(PY) -m bench.bids
	$(PY) -m bench.design_get
	$(PY) -m bench.records
	$(PY) -m bench.record_latency
	$(PY) -m bench.machines
	$(PY) -m bench.verify
	$(PY) -m bench.scaling
	$(PY) -m bench.walk_through
	$(PY) -m bench.summary

# mypy's cache lives outside the checkout, shared by every clone on the machine: a module whose
# path or modification time differs is taken from the cache only if its content's hash matches, so
# a fresh clone (CI's) rechecks only what changed: 30 s of one core down to about 4 here.
MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/printfair/mypy

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --cache-dir "$(MYPY_CACHE_DIR)" .
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory slither

# Slither over ledger/contracts/src (settings: ledger/contracts/slither.config.json), compiled by the
# pinned solc-js through ledger/contracts/solc-standard-json. Fails on any medium or high finding in
# the project's contracts that is not annotated in the source as a false positive; lists only those
# (about 10 s). docs/static-analysis.md: the triage.
# --disallow-partial (a hidden flag): a contract Slither cannot fully parse fails the target instead
# of being analysed in part, with an error in the log and findings missed or made up.
slither: install
	$(VENV)/bin/slither ledger/contracts/src --config-file ledger/contracts/slither.config.json \
	  --exclude-informational --exclude-low --exclude-optimization --disallow-partial

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Rebuilds the committed contract artifacts; tests/ledger/test_build.py fails until they match.
contracts: node_modules/.installed
	node ledger/contracts/compile.mjs

clean:
	rm -rf var/db.sqlite3 var/media var/celery var/staticfiles var/demo-printer var/demo-shops
