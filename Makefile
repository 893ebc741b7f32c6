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

.PHONY: install setup demo demo-down test benchmark

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

## make test: the suite's own tests (plugins, and every check proven both ways on a private sandbox)
test: setup
	@cd selftests && ../$(PYTEST) -q

## make benchmark: the suite against the manual's own bash, side by side
benchmark: setup
	@scripts/sandbox.sh up
	@$(VENV)/bin/python scripts/benchmark.py --no-sandbox --runs $(BENCHMARK_RUNS)
