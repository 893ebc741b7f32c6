"""Trends are declared where the value is recorded (plugins/outcomes/trends.py): ``check.record(..., trend="disk-use")``.

- Every chart the history drew before (plugins/outcomes/trends.py LEGACY: the nine trends once keyed by check-function
  names) still gets its points, with the same caption and unit, from a run of the real checks against the
  sandbox (sandbox/test_trends_of_the_real_checks.py); and the numbers are those the old name-keyed table picked
  from the same values. Here: each of them is declared by its check.
- Entries written before (results files without ``"trend"``, history lines and a state keyed by captions) still
  chart, mapped once in plugins/outcomes/trends.py.
- Renaming a check function keeps its chart: the trend name keys it.
- A trend name declared by two checks, or not as a literal, stops the run at collection (exit 4) naming them.
"""

import datetime as dt
import json
import re

from conftest import REPO

from plugins.outputs.history import bookkeeping, index, migration, months, store

from plugins.outcomes import trends


def test_every_legacy_trend_is_declared_by_its_check_in_the_suite():
    """Each of the nine trends of before is declared, by name, in the check that fed it (a rename of the trend
    would start a new chart: the history of before would no longer join it)."""
    declared = {}
    for path in REPO.glob("tests_*/test_*.py"):
        for function, names in trends.declared_in(path).items():
            declared.setdefault(function, []).extend(names)
    for legacy in trends.LEGACY:
        assert legacy.trend.name in declared.get(legacy.check.split("[")[0], []), (legacy, declared)
    assert sorted(n for names in declared.values() for n in names) == sorted(l.trend.name for l in trends.LEGACY)


# --- entries written before: history lines and a state keyed by captions ----------------------------------------

def old_line(when, value):
    """A history line as written before trends were declared: values keyed by the chart's caption."""
    return {"file": None, "html": None, "started_at": when.isoformat(), "selection": "monitor", "status": "ok",
            "counts": {"passed": 1, "failed": 0, "skipped": 0, "error": 0}, "targets": None,
            "values": {"/health response time": [value, 1.0]}, "target_values": {"prod": {"Recent backups": [4, 3]}},
            "duration_s": 0.5, "kept": "summary", "why": ""}


def test_lines_and_a_state_written_before_still_chart(tmp_path):
    # Noon today: both lines fall on one day whatever the hour (the month page's row is per day).
    now = dt.datetime.now(dt.timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    store.append_line(str(tmp_path), old_line(now - dt.timedelta(hours=2), 0.25))
    store.append_line(str(tmp_path), old_line(now - dt.timedelta(hours=1), 0.5))
    state = migration.start(str(tmp_path), None, now)  # rebuilt from the month's lines
    assert [p[1] for p in state["points"]["health-response-time"][""]] == [0.25, 0.5], state["points"]
    assert state["points"]["recent-backups"]["prod"][0][1] == 4, state["points"]
    figure = index.render(state, now)
    assert figure.count('aria-label="/health response time"') == 1 and figure.count('aria-label="Recent backups"')
    months.write_month_page(str(tmp_path), f"{now:%Y-%m}", state)  # the lines read again, through the same mapping
    page = (tmp_path / f"history-{now:%Y-%m}.html").read_text()
    assert "/health response time 0.250 s / 0.375 s / 0.500 s" in page and "Recent backups (prod) 4 / 4 / 4" in page

    v1 = {**bookkeeping.empty_state(), "version": 1, "trends": None,
          "points": {"/health response time": {"": [[now.isoformat(), 0.3, 1.0]]}},
          "days": {"Disk use (fullest filesystem)": {"": {"2026-01-01": [40, 41, 42, 80, 3]}}}}
    with open(store.state_file(str(tmp_path)), "w", encoding="utf-8") as f:
        f.write(json.dumps(v1))
    state = store.read_state(str(tmp_path))
    assert state["version"] == store.STATE_VERSION and state["points"] == {
        "health-response-time": {"": [[now.isoformat(), 0.3, 1.0]]}}, state
    assert state["trends"] == {"health-response-time": ["/health response time", "s"],
                               "disk-use": ["Disk use (fullest filesystem)", "%"]}, state["trends"]
    assert 'aria-label="/health response time"' in index.render(state, now)


# --- (b) renaming a check keeps its chart -----------------------------------------------------------------------

def checks_named(function):
    return f'''
import pytest


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def {function}(check):
    """The queue is short."""
    check.record({{"waiting": 7, "oldest_s": 2}}, 10, trend="queue-length", trend_of="waiting",
                 trend_title="Queue length")
'''


def test_renaming_a_check_keeps_its_chart(mini_project, tmp_path):
    report_dir = tmp_path / "reports"
    mini_project(checks_named("test_queue_is_short"))("-m", "daily", report_dir=report_dir)
    renamed = mini_project(checks_named("test_queue_below_limit"))("-m", "daily", report_dir=report_dir)
    assert renamed.returncode == 0, renamed
    assert renamed.results["checks"][0]["trend"] == {"name": "queue-length", "title": "Queue length", "unit": "",
                                                     "value": 7}, renamed.results["checks"][0]
    state = json.loads((report_dir / "state" / "history.json").read_text())
    assert [p[1] for p in state["points"]["queue-length"][""]] == [7, 7], "the renamed check's point joins the line"
    index = (report_dir / "index.html").read_text()
    figure = index[index.index('aria-label="Queue length"'):].split("</svg>")[0]
    assert figure.count("<circle") == 2, figure


# --- (c) one trend name, one check ------------------------------------------------------------------------------

TWICE = '''
import pytest


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_queue_is_short(check):
    """The queue is short."""
    check.record(7, 10, trend="queue-length")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_old_queue_is_short(check):
    """The other queue is short."""
    check.record(3, 10, trend="queue-length")
'''

NOT_LITERAL = '''
import pytest

NAME = "queue-length"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_queue_is_short(check):
    """The queue is short."""
    check.record(7, 10, trend=NAME)
'''


def test_a_trend_name_declared_by_two_checks_stops_the_run_at_collection(mini_project, tmp_path):
    run = mini_project(TWICE)("-m", "daily")  # stopped before -m deselects the weekly one
    assert run.returncode == 4, run
    assert "trend 'queue-length' is declared by tests_mini/test_checks.py::test_queue_is_short and " \
           "tests_mini/test_checks.py::test_old_queue_is_short" in run.stdout + run.stderr, run
    assert "Traceback" not in run.stdout + run.stderr, run
    assert not (tmp_path / "reports" / "latest.json").exists(), "a stopped run left a results file"


def test_a_trend_name_not_written_as_a_literal_stops_the_run(mini_project):
    run = mini_project(NOT_LITERAL)("-m", "daily")
    assert run.returncode == 4, run
    assert re.search(r"test_queue_is_short: trend= is not a literal name", run.stdout + run.stderr), run


def test_a_name_that_cannot_key_a_chart_is_refused_where_it_is_recorded():
    from plugins.outcomes.run import Measurement
    try:
        Measurement().record(7, 10, trend="Queue Length!")
    except ValueError as e:
        assert "trend name 'Queue Length!' is not a short stable name" in str(e)
    else:
        raise AssertionError("a trend name with spaces was accepted")
    assert trends.declared("disk-use", None, max, {"/": 41.0, "/data": 91.5}, "pct") == \
        {"name": "disk-use", "title": "disk-use", "unit": "%", "value": 91.5}
    assert trends.declared("cpu", "CPU", "busy", {"busy": None}, "number|pct")["value"] is None  # a gap
