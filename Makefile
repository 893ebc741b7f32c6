# The README's commands. Each sets everything up itself (scripts/setup.sh is idempotent and quick the second time).
SHELL := /bin/bash
VENV := .venv
PYTEST := $(VENV)/bin/pytest
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The sandbox's compose project (never a real deployment's: scripts/sandbox.sh acts only on what carries its
# label). Another name runs a second sandbox beside a developer's demo, as the selftests do.
export SANDBOX_PROJECT ?= digitalme-sandbox
# Measured runs of each command in `make benchmark`.
BENCHMARK_RUNS ?= 7
# The fleet table's numbers of sandbox targets (one sandbox stack each); empty: `make benchmark` without it.
BENCHMARK_FLEET ?= 1,4,8,16
# The scale table's number of deployments (1, N healthy on the sandbox, N dead); empty: `make benchmark` without it.
BENCHMARK_SCALE ?= 32
# Measured runs of each in `make benchmark-scale` (the scale table alone, quickly).
BENCHMARK_SCALE_RUNS ?= 3
# A year of history synthesised and a monitor run timed against it (scripts/bench/history_year.py); empty: left out.
BENCHMARK_HISTORY ?= 1

# Worker processes of `make test` and `make test-quick` (pytest-xdist -n), measured on a 2-core machine (docs/
# benchmarks.md, "The suite's own tests"); each worker that needs the sandbox starts its own private stack.
TEST_WORKERS ?= 3

.PHONY: install setup demo demo-down test test-quick benchmark benchmark-fleet benchmark-scale verify-records docs docs-images reference

## make install: the suite alone (venv, Compose), e.g. on the production host
install:
	@scripts/setup.sh suite

## make setup: the suite, a Docker engine, the sandbox image and Chromium (what demo and test need)
setup:
	@scripts/setup.sh

## make demo: start the sandbox DigitalMe stack, run `pytest -m daily` against it, say where the record is
demo: setup
	@scripts/sandbox.sh up
	@scripts/demo.sh

## make demo-down: stop the sandbox and remove its containers, volumes and network (only what carries its label)
demo-down:
	@scripts/sandbox.sh down

## make test: the suite's own tests, every kind, in TEST_WORKERS parallel workers (a file stays on one worker):
## selftests/unit/ (functions, in-process), plugin/ (the plugins run in a throw-away project), sandbox/ (every
## check proven both ways on a private sandbox stack), bench/ (the benchmarks). A new selftest goes in the folder
## of the least it needs (docs/selftests.md).
test: setup
	@cd selftests && ../$(PYTEST) -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## make test-quick: the unit and plugin selftests only (no sandbox stack started): the loop while editing plugins/
test-quick: setup
	@cd selftests && ../$(PYTEST) -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder plugin unit

## make benchmark: the suite against the manual's own bash, side by side, then the scale table (BENCHMARK_SCALE:
## 1, 32 healthy and 32 dead deployments), the fleet table (BENCHMARK_FLEET) and a year of history
## (BENCHMARK_HISTORY=1, the default; empty leaves it out)
benchmark: setup
	@scripts/sandbox.sh up
	@$(VENV)/bin/python scripts/benchmark.py --no-sandbox --runs $(BENCHMARK_RUNS) --fleet '$(BENCHMARK_FLEET)' \
		--scale '$(or $(BENCHMARK_SCALE),0)'
	@if [ -n "$(BENCHMARK_HISTORY)" ]; then $(VENV)/bin/python scripts/bench/history_year.py --no-sandbox --runs $(BENCHMARK_RUNS); fi

## make benchmark-fleet: the fleet table alone: 1..16 sandbox targets, serial and -n auto (removed afterwards)
benchmark-fleet: setup
	@$(VENV)/bin/python scripts/benchmark.py --fleet-only --runs $(BENCHMARK_RUNS) --fleet '$(BENCHMARK_FLEET)'

## make benchmark-scale: the scale table alone (1, 32 healthy and 32 dead deployments, BENCHMARK_SCALE_RUNS runs each)
benchmark-scale: setup
	@$(VENV)/bin/python scripts/benchmark.py --scale-only --runs $(BENCHMARK_SCALE_RUNS) --scale '$(or $(BENCHMARK_SCALE),32)'

## make verify-records: check the report folder's records (DIR, else as the suite finds it: DIGITALME_REPORT_DIR,
## pytest.ini, reports): 0 intact; else every problem listed, and make's own exit 2 with the script's code in its
## "Error N" line (1 not intact, 2 usage, 3 nothing to verify): scripts/verify-records --help
verify-records:
	@scripts/verify-records $(if $(DIR),"$(DIR)")

## make docs: the documentation site (mkdocs.yml, docs/) built into site/ (git-ignored) with `mkdocs build --strict`:
## a broken link or anchor, or a page left out of the nav, fails it (selftests/unit/test_docs_site.py does the same).
## The generated reference pages are written first (make reference), so the site shows the code as it is.
docs:
	@scripts/setup.sh docs
	@$(VENV)/bin/python scripts/docs_reference.py
	@$(VENV)/bin/python scripts/docs_schemas.py
	@NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

## make docs-images: the docs' pictures (docs/images/record.png, history-index.png, fleet-record.png) retaken with
## headless Chromium from runs against a private sandbox stack, removed afterwards: scripts/docs_images.py --help
docs-images: setup
	@$(VENV)/bin/python scripts/docs_images.py

## make reference: write docs/reference/settings.md, checks.md and exit-codes.md from the code, results-file.md and
## alert-payload.md from docs/schemas/ (the selftests compare them byte for byte); `scripts/docs_reference.py
## --check` and `scripts/docs_schemas.py --check` only say what is stale (exit 1)
reference:
	@$(VENV)/bin/python scripts/docs_reference.py
	@$(VENV)/bin/python scripts/docs_schemas.py
