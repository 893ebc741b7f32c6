"""The record shows change over time: values in human units (plugins/units.py), since when each failing check
fails and whether it is new, new findings first, and the results file's hash (plugins/outputs/record/).

Here as functions: the formatting, the summary's order, the hash line. The record of a mini project's run (its
cells, its summary): plugin/test_record_change_over_time.py.
"""

import datetime as dt
import hashlib
import re

import pytest

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
