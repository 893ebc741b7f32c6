"""A pytest plugin for scripts/benchmark.py's fleet table: when each phase of a run ended, written as JSON.

Loaded with ``-p bench_phases`` (scripts/bench on PYTHONPATH) into every measured fleet run; it writes
``BENCH_PHASES_FILE``. A few clock reads per run and one per check (the target of each check's start, for the
per-target spans of a serial run): far below a millisecond, so the figures are the suite's own.

Times are ``time.time()`` (the benchmark notes the same clock when it starts the process):

- ``configured``: after every plugin's ``pytest_configure`` (interpreter, imports, settings, the targets file)
- ``loop_start`` / ``loop_end``: ``pytest_runtestloop`` (serial: the checks; xdist: workers' start-up,
  collection and checks, as the controller sees them)
- ``finish_start`` / ``finish_end``: ``pytest_sessionfinish`` (alerts, results file, record, history)
- ``unconfigured``: the last hook before the interpreter exits
- ``target_start``: {target: time its first check started} (serial runs; on xdist the workers start them)
"""

import json
import os
import time

import pytest

_times = {"target_start": {}}


def _worker(config):
    return hasattr(config, "workerinput")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    _times["configured"] = time.time()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session):
    _times["loop_start"] = time.time()
    try:
        return (yield)
    finally:
        _times["loop_end"] = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    callspec = getattr(item, "callspec", None)  # the target is the check's "target" parameter in a fleet run
    if callspec is not None and "target" in callspec.params:
        _times["target_start"].setdefault(str(callspec.params["target"]), time.time())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    _times["finish_start"] = time.time()
    try:
        return (yield)
    finally:
        _times["finish_end"] = time.time()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    path = os.environ.get("BENCH_PHASES_FILE")
    if not path or _worker(config):
        return
    _times["unconfigured"] = time.time()
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_times, f)
