"""Prometheus output: after each run, ``<DIGITALME_PROMETHEUS_DIR>/digitalme_<selection>.prom`` in the node_exporter
textfile format, written atomically with ``prometheus_client``. The metrics and why their labels are what they
are: docs/design.md, "Prometheus output"; for operators: docs/prometheus.md.
"""

import math
import os
import time

import pytest

from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import without_target
from plugins.outcomes.reachability import NOT_CHECKED
from plugins.outcomes.run import FAILING, owns_run
from plugins.units import unit_of_key, units_of

PROBLEM = pytest.StashKey[str]()  # why the file could not be written
STATUS_VALUES = {"ok": 0, "warning": 1, "critical": 2}


# a unit of plugins/units.py -> (the metric's suffix, what one of it is in the base unit: multiply, divide)
BASE_UNITS = {"s": ("_seconds", 1, 1), "ms": ("_seconds", 1, 1000), "h": ("_seconds", 3600, 1),
              "days": ("_seconds", 86400, 1), "bytes": ("_bytes", 1, 1), "pct": ("_ratio", 1, 100)}
VALUE_METRICS = {"_seconds": "a measured duration or age, in seconds", "_bytes": "a measured size, in bytes",
                 "_ratio": "a measured share, 0 to 1 (the record's percent / 100)",
                 "": "a measured count or other plain number"}
RESPONSE_CHECK = "test_endpoint_answers_within_time"  # tests_health/test_endpoints.py; its parameter: the endpoint
SEVERITY_LEVELS = {"warning": 1, "critical": 2}


def check_label(check):
    """The check's id without its target's parameter (the target is a label of its own)."""
    return without_target(check.id, check.target)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def measures(check):
    """(measure, metric suffix, value in base units) of each number the check recorded: ``measure`` is a dict's
    key (its own unit where its name says one: ``waited_s``), "" for a single number."""
    unit = units_of(check.unit)[0]
    entries = check.value.items() if isinstance(check.value, dict) else [("", check.value)]
    for key, value in entries:
        if is_number(value):
            suffix, times, per = BASE_UNITS.get(unit_of_key(key) or unit, ("", 1, 1))
            yield str(key), suffix, value * times / per


def response_time(check):
    """(endpoint, seconds) of an endpoint's timing check that got an answer, else None."""
    name, _, endpoint = check_label(check).split("::")[-1].partition("[")
    if name != RESPONSE_CHECK or not isinstance(check.value, dict) or not is_number(check.value.get("total_s")):
        return None
    return endpoint.rstrip("]"), check.value["total_s"]


def registry_of(run, duration_s):
    """The run's metrics, in a registry of their own (never the process-wide default one)."""
    from prometheus_client import CollectorRegistry, Gauge
    registry = CollectorRegistry()
    selection = run.slug  # as the run's files name it: daily, daily-or-weekly, all
    success = Gauge("digitalme_check_success",
                    "1 when the check passed (or its failure is waived), 0 when it failed or could not be checked",
                    ["check", "severity", "target", "selection"], registry=registry)
    applied = Gauge("digitalme_check_applied_severity",
                    "The severity the check alerts at this run (its declared one, or lowered): 2 critical, 1 warning",
                    ["check", "target", "selection"], registry=registry)
    waived = Gauge("digitalme_check_waived",
                   "1 when the check failed and an active waiver accepted it (plugins/outcomes/waivers.py): not alerted",
                   ["check", "target", "selection"], registry=registry)
    values = {suffix: Gauge(f"digitalme_check_value{suffix}", f"The check's {help_text}",
                            ["check", "measure", "target", "selection"], registry=registry)
              for suffix, help_text in VALUE_METRICS.items()}
    response = Gauge("digitalme_endpoint_response_seconds", "How long the endpoint took to answer (curl's total)",
                     ["endpoint", "target", "selection"], registry=registry)
    for check in run.checks:
        if check.outcome in ("skipped", NOT_CHECKED):
            continue
        labels = {"check": check_label(check), "target": check.target or "", "selection": selection}
        success.labels(severity=check.declared_severity, **labels).set(0 if check.outcome in FAILING else 1)
        applied.labels(**labels).set(SEVERITY_LEVELS[check.severity])
        if check.outcome == "waived":
            waived.labels(**labels).set(1)
        for measure, suffix, value in measures(check):
            values[suffix].labels(measure=measure, **labels).set(value)
        timed = response_time(check)
        if timed is not None:
            response.labels(endpoint=timed[0], target=labels["target"], selection=selection).set(timed[1])
    status = Gauge("digitalme_target_status", "Each target's status this run: 0 ok, 1 warning, 2 critical "
                   "(target empty without a targets file)", ["target", "selection"], registry=registry)
    for name, target_status in (run.targets or {"": run.status}).items():
        status.labels(name, selection).set(STATUS_VALUES[target_status])
    Gauge("digitalme_run_status", "The run's status: 0 ok, 1 warning, 2 critical", ["selection"],
          registry=registry).labels(selection).set(STATUS_VALUES[run.status])
    Gauge("digitalme_run_timestamp_seconds", "When the run finished (Unix time)", ["selection"],
          registry=registry).labels(selection).set(time.time())
    Gauge("digitalme_run_duration_seconds", "How long the run took, start-up to its last output", ["selection"],
          registry=registry).labels(selection).set(duration_s)
    return registry


def write(folder, run, duration_s):
    """Write ``digitalme_<selection>.prom`` into ``folder`` atomically; returns its path."""
    from prometheus_client import write_to_textfile
    path = os.path.join(folder, f"digitalme_{run.slug}.prom")
    write_to_textfile(path, registry_of(run, duration_s))
    return path


# --- hooks --------------------------------------------------------------------------------------

def pytest_digitalme_run_finished(config, run):
    """Write the run's metrics where DIGITALME_PROMETHEUS_DIR says; a failure is noted, never raised."""
    folder = config.stash[SETTINGS].prometheus_dir
    if not folder:
        return
    if not run.checks:  # `-m` matching nothing: a file saying "ok" would hide it; a stale timestamp shows it
        config.stash[PROBLEM] = f"DigitalMe: Prometheus file not written: no check ran (selection {run.selection!r})"
        return
    duration_s = time.time() - run.started_at.timestamp()
    try:
        write(folder, run, duration_s)
    except OSError as e:
        config.stash[PROBLEM] = (f"DigitalMe: Prometheus file not written: {folder} cannot be written "
                                 f"({e.strerror or e}); the run's other outputs are unaffected")


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter, config):
    """The one line saying the Prometheus file could not be written, first among the suite's last lines: a wrapper
    writes before every plain implementation runs (the waivers' tryfirst line, then plugins/pipeline.py's status
    line), whatever the order of conftest.py's SUITE_PLUGINS; pytest's terminal reporter, registered later, wraps
    it (its failures come before)."""
    if owns_run(config) and PROBLEM in config.stash:
        terminalreporter.write_line(config.stash[PROBLEM], yellow=True)
    return (yield)
