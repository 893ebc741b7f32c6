"""Prometheus output: after each run, ``<DIGITALME_PROMETHEUS_DIR>/digitalme_<selection>.prom`` in the node_exporter
textfile format, written atomically with ``prometheus_client`` (a temporary file renamed over the old one, so the
collector never reads half a file)::

    digitalme_check_success{check,severity,target,selection}   1 passed (or waived), 0 failed or could not be checked
    digitalme_check_waived{check,target,selection}             1 where a waiver accepted the check's failure
    digitalme_check_value{check,target,selection}              a check's measured value, where it is a number
    digitalme_run_status{selection}                            0 ok, 1 warning, 2 critical
    digitalme_run_timestamp_seconds{selection}                 when the run finished (Unix time)
    digitalme_run_duration_seconds{selection}                  how long it took

``check`` is the check's id without the target (``tests_health/test_endpoints.py::test_health_answers_healthy``),
``severity`` the one it alerts at, ``target`` the target's name in a fleet run and empty without a targets file.
Every series carries ``selection``: node_exporter merges all files of its folder, and a check of two schedules
(daily and monthly) would otherwise be the same series in two files, which fails the scrape. A skipped check has no
series: it was not judged, and neither 1 nor 0 would be true; nor has a check "not checked" because its target is
unreachable (the headline check, ``test_target_reachable``, is 0). A run in which no check ran (``-m`` matching none)
writes nothing, so that its file's timestamp goes stale as a run that never happened would. A folder that cannot
be written is one line at the end of the run; every other output is made as usual. ``prometheus_client`` is
imported only when the setting is set: a monitor run every 5 minutes pays nothing for it otherwise.
"""

import re
import time

import pytest

from plugins.outcomes import FAILING, owns_run
from plugins.reachability import NOT_CHECKED
from plugins.settings import SETTINGS

PROBLEM = pytest.StashKey[str]()  # why the file could not be written
STATUS_VALUES = {"ok": 0, "warning": 1, "critical": 2}


def selection_slug(run):
    """The run's selection as its files name it (``daily``, ``daily-or-weekly``, ``all``)."""
    return run.slug


def check_label(check):
    """The check's id without its target's parameter (the target is a label of its own)."""
    if not check.target:
        return check.id
    match = re.fullmatch(r"(.*)\[(.*)\]", check.id)
    if not match:
        return check.id
    name, params = match.groups()
    for rest in (params.removesuffix("-" + check.target), params.removeprefix(check.target + "-")):
        if rest != params:
            return f"{name}[{rest}]"
    return name if params == check.target else check.id


def registry_of(run, duration_s):
    """The run's metrics, in a registry of their own (never the process-wide default one)."""
    from prometheus_client import CollectorRegistry, Gauge
    registry = CollectorRegistry()
    selection = selection_slug(run)
    success = Gauge("digitalme_check_success",
                    "1 when the check passed (or its failure is waived), 0 when it failed or could not be checked",
                    ["check", "severity", "target", "selection"], registry=registry)
    waived = Gauge("digitalme_check_waived",
                   "1 when the check failed and an active waiver accepted it (plugins/waivers.py): not alerted",
                   ["check", "target", "selection"], registry=registry)
    value = Gauge("digitalme_check_value", "The check's measured value, where it is a number",
                  ["check", "target", "selection"], registry=registry)
    for check in run.checks:
        if check.outcome in ("skipped", NOT_CHECKED):
            continue
        labels = {"check": check_label(check), "target": check.target or "", "selection": selection}
        success.labels(severity=check.severity, **labels).set(0 if check.outcome in FAILING else 1)
        if check.outcome == "waived":
            waived.labels(**labels).set(1)
        if isinstance(check.value, (int, float)) and not isinstance(check.value, bool):
            value.labels(**labels).set(check.value)
    Gauge("digitalme_run_status", "The run's status: 0 ok, 1 warning, 2 critical", ["selection"],
          registry=registry).labels(selection).set(STATUS_VALUES[run.status])
    Gauge("digitalme_run_timestamp_seconds", "When the run finished (Unix time)", ["selection"],
          registry=registry).labels(selection).set(time.time())
    Gauge("digitalme_run_duration_seconds", "How long the run took, start-up to its last output", ["selection"],
          registry=registry).labels(selection).set(duration_s)
    return registry


def write(folder, run, duration_s):
    """Write ``digitalme_<selection>.prom`` into ``folder`` atomically; returns its path."""
    import os
    from prometheus_client import write_to_textfile
    path = os.path.join(folder, f"digitalme_{selection_slug(run)}.prom")
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


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter, config):
    """The one line saying the Prometheus file could not be written (before the status line)."""
    if owns_run(config) and PROBLEM in config.stash:
        terminalreporter.write_line(config.stash[PROBLEM], yellow=True)
