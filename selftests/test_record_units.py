"""The record shows change over time: values in human units (plugins/units.py), since when each failing check
fails and whether it is new, new findings first, and the results file's hash (plugins/outputs/record/).

The formatting is tested as a function; the record as a mini project's run (its cells, its summary), with the
since-when data set by hand where the history would fill it, so that the display is tested on its own.
"""

import datetime as dt
import hashlib
import html
import json
import re
import time
import textwrap

import pytest

from conftest import REPO, run_pytest
from plugins.outputs.record import cells as record_cells, environment as record_environment, summary as record_summary
from plugins.outcomes.run import CheckOutcome, Run
from plugins.units import FORMATTERS, UNITS, human, unit_of_key, units_of

GIB = 1024**3


# --- the formatting ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, unit, expected", [
    (1073741824, "bytes", "1.0 GiB"),
    (2147483648, "bytes", "2.0 GiB"),
    (300 * 1024**2, "bytes", "300.0 MiB"),
    (1536, "bytes", "1.5 KiB"),
    (512, "bytes", "512 B"),
    (0, "bytes", "0 B"),
    (-3 * GIB // 2, "bytes", "-1.5 GiB"),
    (5 * 1024**4, "bytes", "5.0 TiB"),
    (3 * 1024**6, "bytes", "3.0 EiB"),
    (10**30, "bytes", "867361737988.4 EiB"),  # huge: still one number with the largest unit, never raises
    (85, "pct", "85 %"),
    (41.25, "pct", "41.2 %"),
    (91.0, "pct", "91 %"),
    (85.0, "pct", "85 %"),
    (0, "pct", "0 %"),
    (-2.5, "pct", "-2.5 %"),
    (0.0213, "s", "21 ms"),
    (0.125, "s", "125 ms"),
    (0.0042, "s", "4.2 ms"),
    (0.00004, "s", "0.04 ms"),
    (0, "s", "0 ms"),
    (0.9996, "s", "1 s"),  # not "1000 ms"
    (1.0, "s", "1 s"),
    (1.25, "s", "1.2 s"),
    (2.5, "s", "2.5 s"),
    (30, "s", "30 s"),
    (250, "s", "4.2 min"),
    (9000, "s", "2.5 h"),
    (-0.5, "s", "-500 ms"),
    (24, "h", "24 h"),
    (26.47, "h", "26.5 h"),
    (0.05, "h", "3 min"),
    (0.001, "h", "3.6 s"),
    (0.0, "h", "0 h"),
    (26.0, "h", "26 h"),
    (21.3, "ms", "21 ms"),
    (1500, "ms", "1.5 s"),
    (999.7, "ms", "1 s"),
    (30, "days", "30 days"),
    (12.5, "days", "12.5 days"),
    (1, "days", "1 day"),
    (0, "days", "0 days"),
    (0.5, "days", "12 h"),
    (-3.5, "days", "-3.5 days"),
    (-1, "days", "-1 day"),
    (3, "number", "3"),
    (0.123456, "number", "0.1235"),
])
def test_a_number_is_shown_in_its_unit(value, unit, expected):
    """A number in a known unit is shown in the largest human unit that fits.

    Manual: Resource Monitoring, "Container Memory: >2GB"; Monitoring Dashboard, "response time <1s".
    """
    assert human(value, unit) == expected, f"human({value!r}, {unit!r}) = {human(value, unit)!r}, expected {expected!r}"


@pytest.mark.parametrize("value, unit, expected", [
    (None, "bytes", ""),
    (None, None, ""),
    ("present", "bytes", "present"),
    ("a valid compose file", "s", "a valid compose file"),
    (True, "pct", "yes"),
    (False, None, "no"),
    (float("nan"), "pct", "nan"),
    (float("inf"), "s", "inf"),
    ([1024, 2048], "bytes", "1.0 KiB, 2.0 KiB"),
    ({"/": 41.5, "/data": 91}, "pct", "/: 41.5 %, /data: 91 %"),
    ({"total_s": 0.0213, "connect_s": 0.004}, "s", "total: 21 ms, connect: 4.0 ms"),
    # curl's timers: each label without the unit word its value now carries (never `dns_s: 1.2 ms`)
    ({"dns_s": 0.0012, "first_byte_s": 0.02}, "s", "dns: 1.2 ms, first byte: 20 ms"),
    ({"newest": "pre-restart-1.db", "age_h": 0.5}, "h", "newest: pre-restart-1.db, age: 30 min"),
    ({"healthy": False, "waited_s": 12.3, "docker": "running", "up_s_when_healthy": None}, "s",
     "healthy: no, waited: 12.3 s, docker: running, up when healthy: none"),
    # a key naming its own unit wins over the check's (bytes entries, a percentage among them)
    ({"mem_available": 5 * GIB, "limit": None, "used_pct": 41.2}, "bytes",
     "mem_available: 5.0 GiB, limit: none, used: 41.2 %"),
    ([None, 0.5], "s", "none, 500 ms"),
    ({"load5": 0.52, "cpus_seen": 2, "busy_pct_now": 37.5}, "number", "load5: 0.52, cpus_seen: 2, busy now: 37.5 %"),
    ({"health": "starting", "since start s": 12.3, "start period s": 40}, "s",
     "health: starting, since start: 12.3 s, start period: 40 s"),
    ({"outer": {"size_bytes": 2048, "n": 3}}, "number", "outer: size: 2.0 KiB, n: 3"),
    # no unit, or one not known: as the record always showed values
    (1073741824, None, "1073741824"),
    (0.123456, None, "0.1235"),
    ({"a": 0.123456, "b": None, "used_pct": 40}, None, "a: 0.1235, b: none, used_pct: 40"),
    ([1, 2], None, "1, 2"),
    # never a Python repr: lists, tuples, empty ones, booleans and None inside a value as words
    (("exited", 137), None, "exited, 137"),
    ({"name": "localhost", "certificate names": ["localhost", "127.0.0.1"]}, None,
     "name: localhost; certificate names: localhost, 127.0.0.1"),
    ({"privileged": False, "docker socket mounts": []}, None, "privileged: no, docker socket mounts: none"),
    ({"containers": {"app-1": "running", "db-1": "exited"}, "declared": ["app"]}, None,
     "containers: app-1: running, db-1: exited; declared: app"),
    ({"strict-transport-security": None}, None, "strict-transport-security: none"),
    ({}, None, "none"),
    (5, "furlongs", "5"),
])
def test_anything_else_is_shown_as_it_is_and_dicts_per_entry(value, unit, expected):
    """Strings and numbers without a (known) unit are shown as recorded; dicts and lists entry by entry, a key
    naming its own unit in that unit and without its unit's word; no Python repr (lists, tuples, True, None).

    Manual: Performance Monitoring, `docker exec digitalme-digitalme-1 cat /proc/meminfo | grep MemAvailable`.
    """
    assert human(value, unit) == expected, f"human({value!r}, {unit!r}) = {human(value, unit)!r}, expected {expected!r}"


def test_a_unit_names_the_value_and_the_threshold_apart():
    """``bytes|pct``: the value in bytes, the threshold a percentage; one unit names both; none, neither.

    Manual: Performance Monitoring (MemAvailable, held to the memory percentage).
    """
    cases = {"bytes|pct": ("bytes", "pct"), "pct": ("pct", "pct"), "|pct": (None, "pct"), "bytes|": ("bytes", None),
             None: (None, None), "": (None, None)}
    for unit, expected in cases.items():
        assert units_of(unit) == expected, f"units_of({unit!r}) = {units_of(unit)!r}, expected {expected!r}"
    keys = {"waited_s": "s", "busy_pct_now": "pct", "since start s": "s", "age_days": "days", "mem_available": None,
            "/data": None, "status": None, 3: None}
    for key, expected in keys.items():
        assert unit_of_key(key) == expected, f"unit_of_key({key!r}) = {unit_of_key(key)!r}, expected {expected!r}"
    assert set(UNITS) == set(FORMATTERS), f"units listed {UNITS}, formatted {sorted(FORMATTERS)}"


def test_a_long_cell_is_cut():
    """A cell stays one short line: a long value is cut with an ellipsis.

    Manual: Daily Health Check (the record read at a glance).
    """
    cell = record_cells.shown({f"/mnt/{n}": 50.0 for n in range(100)}, "pct")
    assert len(cell) == record_cells.CELL_MAX_CHARS + 3 and cell.endswith("..."), f"{len(cell)} characters: {cell[-40:]!r}"


def test_the_settings_row_shows_sizes_durations_and_units_not_raw_numbers():
    """The environment table's settings read as they are written: `2.0 GiB`, `1h`, `80 %`, not 2147483648 or 3600.

    Manual: Escalation matrix and Resource Monitoring thresholds (the auditor reads what the run held them to).
    """
    from plugins.configuration.resolve import resolve

    class Config:
        def getini(self, name):
            return None

        def getoption(self, name):
            return None
    settings = resolve(Config(), {"DIGITALME_ALERT_REPEAT_WARNING": "90m", "DIGITALME_RESPONSE_TIME_MAX_S": "0.5"})
    row = record_environment.environment_of(settings, Run(started_at=dt.datetime.now(dt.timezone.utc), selection="daily",
                                              stem="x"), {})["Thresholds and settings"]
    for expected in ("container_memory_max=2.0 GiB", "db_size_max=1.0 GiB", "alert_repeat_critical=1h",
                     "alert_repeat_warning=90m", "escalate_after=30m", "disk_max_pct=80 %", "backup_max_age_h=26 h",
                     "backup_window_days=7 days", "response_time_max_s=500 ms", "backups_min=3"):
        assert expected in row, f"{expected!r} not in the settings row: {row}"
    assert not re.search(r"=\d{6,}", row), f"a raw number in the settings row: {row}"


# --- the summary, as a function ---------------------------------------------------------------------------

def outcome(name, severity, result="failed", since=None, runs=None, new=None):
    return CheckOutcome(id=f"tests_x/test_x.py::{name}", title=name.replace("_", " "), manual="", severity=severity,
                        declared_severity=severity, schedules=["daily"], outcome=result, message=f"{name} failed",
                        duration_s=0.1, failing_since=since, failing_runs=runs, new_finding=new)


def listed(summary):
    """The failing checks on top, in order: (is it marked NEW, severity, its title, its since-when)."""
    failing = summary[summary.index('id="digitalme-failing"'):].split("</ol>")[0]
    return [(bool(new), severity, title, since)
            for new, severity, title, since in re.findall(
                r'<li[^>]*>(<b class="new-finding"[^>]*>NEW</b> )?<b [^>]*>(\w+)</b> [^<]* <small>\(check: ([^;<]*);[^<]*</small>'
                r'(?: <small class="since">([^<]*)</small>)?</li>', failing)]


def test_new_findings_come_first_then_the_others_worst_first():
    """The summary lists the new failing checks first, then the others, critical first within each, each with
    since when it fails and in how many runs.

    Manual: Escalation Matrix (what is new since yesterday reaches the on-call first).
    """
    run = Run(started_at=dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc), selection="daily", stem="x", checks=[
        outcome("test_old_warning", "warning", since="2026-11-28T09:00:00+00:00", runs=3, new=False),
        outcome("test_passing", "critical", result="passed"),
        outcome("test_old_critical", "critical", result="error", since="2026-11-29T21:30:05+00:00", runs=2, new=False),
        outcome("test_new_warning", "warning", since="2026-11-30T09:00:00+00:00", runs=1, new=True),
        outcome("test_new_critical", "critical", since="2026-11-30T10:00:00+01:00", runs=1, new=True),
        outcome("test_unknown_history", "warning"),
    ])
    summary = "".join(record_summary.summary_of(run, []))
    assert listed(summary) == [
        (True, "CRITICAL", "test new critical", "failing since 2026-11-30 09:00 UTC (1 run)"),
        (True, "WARNING", "test new warning", "failing since 2026-11-30 09:00 UTC (1 run)"),
        (False, "CRITICAL", "test old critical", "failing since 2026-11-29 21:30 UTC (2 runs)"),
        (False, "WARNING", "test old warning", "failing since 2026-11-28 09:00 UTC (3 runs)"),
        (False, "WARNING", "test unknown history", ""),
    ], summary
    assert "Failing checks (2 new)</h3>" in summary, summary


def test_without_new_findings_the_order_is_by_severity_and_no_badge():
    """No new finding: no NEW badge, no "new" count, critical first as before.

    Manual: Escalation Matrix.
    """
    run = Run(started_at=dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc), selection="daily", stem="x", checks=[
        outcome("test_a", "warning", since="2026-11-28T09:00:00+00:00", runs=3, new=False),
        outcome("test_b", "critical", since="2026-11-29T09:00:00+00:00", runs=2, new=False),
        outcome("test_c", "warning", result="passed", new=True),  # a passing check is never a new finding
    ])
    summary = "".join(record_summary.summary_of(run, []))
    assert [(new, severity) for new, severity, _, _ in listed(summary)] == [(False, "CRITICAL"), (False, "WARNING")]
    assert "NEW</b>" not in summary and "Failing checks</h3>" in summary, summary


def test_the_results_files_hash_is_shown_only_when_known():
    """The top names the results file and its SHA-256 when the run wrote one; nothing when it did not.

    Manual: Monthly Maintenance (the record an audit reads; "has this file been altered").
    """
    run = Run(started_at=dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc), selection="daily", stem="x")
    digest = hashlib.sha256(b"x").hexdigest()
    shown = "".join(record_summary.summary_of(run, [], "20261130T090000Z-daily.json", digest))
    assert (f"Results file: <code>20261130T090000Z-daily.json</code> SHA-256 <code>{digest}</code>") in shown, shown
    for name, sha in (("20261130T090000Z-daily.json", None), (None, None)):
        assert "Results file:" not in "".join(record_summary.summary_of(run, [], name, sha))


# --- the record of a mini project's run ----------------------------------------------------------------

CHECKS = '''
import pytest


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Container Memory")
def test_container_memory_below_limit(check):
    """The container's memory is below its limit."""
    check.record(1073741824, 2147483648, unit="bytes")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Health Check Endpoints Reference: /health")
def test_endpoint_answers_within_time(check):
    """The endpoint answers within the limit."""
    check.record({"total_s": 0.0213, "connect_s": 0.004}, 1.0, unit="s")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_filesystems_below_disk_threshold(check):
    """Every filesystem is below the disk threshold."""
    check.record({"/": 41.5, "/data": 91.0}, 80, unit="pct")
    assert False, "/data at 91 % (required: below 80 %)"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Monthly Maintenance 1")
def test_certificate_valid_for_warning_days(check):
    """The certificate has enough days left."""
    check.record(12.5, 30, unit="days")
    assert False, "12.5 days left (required: at least 30 days)"


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check):
    """There are enough recent backups."""
    check.record(1, 3)
    assert False, "1 backup(s) (required: at least 3)"
'''

# The history's part, by hand: each failing check's since-when from FAKE_SINCE (set on the run's checks before
# the record's summary is made), and the results file's hash where the run did not set it (computed as written).
FAKE_HISTORY = '''
import hashlib as _hashlib
import json as _json
import os as _os

import pytest as _pytest


@_pytest.hookimpl(tryfirst=True)
def pytest_html_results_summary(prefix, summary, postfix, session):
    from plugins.outcomes.run import RUN
    from plugins.outputs.results import RESULTS_SHA256, paths_of
    fake = _json.loads(_os.environ.get("FAKE_SINCE", "{}"))
    for c in session.config.stash[RUN].checks:
        if c.id.split("::")[-1] in fake:
            c.failing_since, c.failing_runs, c.new_finding = fake[c.id.split("::")[-1]]
    if RESULTS_SHA256 not in session.config.stash:
        with open(paths_of(session.config)["json"], "rb") as f:
            session.config.stash[RESULTS_SHA256] = _hashlib.sha256(f.read()).hexdigest()
'''

FAKE_SINCE = {"test_filesystems_below_disk_threshold": ["2026-11-28T09:00:00+00:00", 3, False],
              "test_certificate_valid_for_warning_days": ["2026-11-30T06:00:00+00:00", 1, True],
              "test_enough_recent_backups": ["2026-11-30T06:00:00+00:00", 1, True]}


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """One daily run of the mini project: (its results file, the record's text, its rows' cells by check)."""
    project = tmp_path_factory.mktemp("units")
    (project / "tests_mini").mkdir()
    (project / "tests_mini" / "test_checks.py").write_text(textwrap.dedent(CHECKS))
    (project / "conftest.py").write_text((REPO / "conftest.py").read_text() + "\n" + FAKE_HISTORY)
    (project / "pytest.ini").write_text("[pytest]\ntestpaths = tests_mini\naddopts = --strict-markers -p no:cacheprovider\n")
    run = run_pytest(project, ["-m", "daily"], {"DIGITALME_ALERTS": "off", "FAKE_SINCE": json.dumps(FAKE_SINCE)},
                     project / "reports")
    assert run.returncode == 1, run
    text = (run.report_dir / "latest.html").read_text()
    data = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', text).group(1)))
    cells = {}
    for nodeid, results in data["tests"].items():
        row = " ".join(results[-1]["resultsTableRow"])
        cells[nodeid.split("::")[-1]] = {name: html.unescape(value) for name, value in
                                         re.findall(r'<td class="col-(measured|threshold)">([^<]*)</td>', row)}
    return run, text, cells


def test_the_records_cells_are_in_human_units_and_the_results_file_raw(daily):
    """The record's Measured and Threshold cells read GiB, ms and %; the results file keeps the raw numbers and the
    unit, for machines.

    Manual: Resource Monitoring, `docker stats --no-stream` ("Container Memory: >2GB"); `df -h`.
    """
    run, _, cells = daily
    expected = {
        "test_container_memory_below_limit": {"measured": "1.0 GiB", "threshold": "2.0 GiB"},
        "test_endpoint_answers_within_time": {"measured": "total: 21 ms, connect: 4.0 ms", "threshold": "1 s"},
        "test_filesystems_below_disk_threshold": {"measured": "/: 41.5 %, /data: 91 %", "threshold": "80 %"},
        "test_certificate_valid_for_warning_days": {"measured": "12.5 days", "threshold": "30 days"},
        "test_enough_recent_backups": {"measured": "1", "threshold": "3"},  # counts: no unit
    }
    assert cells == expected, cells
    memory = run.check("test_container_memory_below_limit")
    assert (memory["value"], memory["threshold"], memory["unit"]) == (1073741824, 2147483648, "bytes"), memory
    timing = run.check("test_endpoint_answers_within_time")
    assert (timing["value"], timing["unit"]) == ({"total_s": 0.0213, "connect_s": 0.004}, "s"), timing
    assert run.check("test_enough_recent_backups")["unit"] is None


def test_the_records_summary_lists_new_findings_first_with_since_when(daily):
    """The failing checks on top: new ones first (NEW), then the others, each with since when it fails.

    Manual: Escalation Matrix (what is new since the previous run reaches the on-call first).
    """
    _, text, _ = daily
    assert listed(text) == [
        (True, "CRITICAL", "There are enough recent backups.", "failing since 2026-11-30 06:00 UTC (1 run)"),
        (True, "WARNING", "The certificate has enough days left.", "failing since 2026-11-30 06:00 UTC (1 run)"),
        (False, "WARNING", "Every filesystem is below the disk threshold.", "failing since 2026-11-28 09:00 UTC (3 runs)"),
    ], text[text.index('id="digitalme-failing"'):][:3000]


def test_the_record_shows_its_results_files_hash(daily):
    """The record names its results file and that file's SHA-256 as written.

    Manual: Monthly Maintenance (the audit's "has this file been altered since it was written").
    """
    run, text, _ = daily
    dated = run.report_dir / run.results["files"]["json"].rsplit("/", 1)[-1]
    digest = hashlib.sha256(dated.read_bytes()).hexdigest()
    found = re.search(r"Results file: <code>([^<]+)</code> SHA-256 <code>([0-9a-f]{64})</code>", text)
    assert found, "the record shows no results file hash"
    assert found.groups() == (dated.name, digest), f"record says {found.groups()}, the file is {dated.name} {digest}"


TWO_CHECKS = '''
import os
import pytest


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_filesystems_below_disk_threshold(check):
    """Every filesystem is below the disk threshold."""
    check.record({"/data": 91.0}, 80, unit="pct")
    assert False, "/data at 91 % (required: below 80 %)"


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check):
    """There are enough recent backups."""
    check.record(1, 3)
    assert not os.environ.get("FAIL_BACKUPS"), "1 backup(s) (required: at least 3)"
'''


def test_since_when_and_the_hash_come_from_the_history_of_the_selection(mini_project):
    """Without a hand's help: the second daily run's record lists the backups (new) before the disk (failing since
    the first run, 2 runs), and shows the hash of its own results file.

    Manual: Escalation Matrix; Monthly Maintenance (the audit's record).
    """
    run = mini_project(TWO_CHECKS)
    first = run("-m", "daily", env={"DIGITALME_ALERTS": "off"})
    assert first.returncode == 1, first
    stamp = first.results["started_at"]
    while dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds") <= stamp:
        time.sleep(0.05)  # one file per second: the second run gets its own stamp
    second = run("-m", "daily", env={"DIGITALME_ALERTS": "off", "FAIL_BACKUPS": "1"})
    assert second.returncode == 1, second
    text = (second.report_dir / "latest.html").read_text()
    since = dt.datetime.fromisoformat(stamp).astimezone(dt.timezone.utc)
    assert listed(text) == [
        (True, "CRITICAL", "There are enough recent backups.",
         f"failing since {second.results['started_at'][:16].replace('T', ' ')} UTC (1 run)"),
        (False, "WARNING", "Every filesystem is below the disk threshold.",
         f"failing since {since:%Y-%m-%d %H:%M} UTC (2 runs)"),
    ], text[text.index('id="digitalme-failing"'):][:3000]
    dated = second.report_dir / second.results["files"]["json"].rsplit("/", 1)[-1]
    digest = hashlib.sha256(dated.read_bytes()).hexdigest()
    assert f"Results file: <code>{dated.name}</code> SHA-256 <code>{digest}</code>" in text, "no or another hash"
