"""The record (plugins/outputs/record/) and the history (plugins/outputs/history/) of a fleet run: a summary per target, the
table grouped by target, each target's settings, and each target's status over time.

A mini project of marked checks covers what needs many runs (the history's cache, results files without targets)
quickly; a real fleet of the selftest sandbox: sandbox/test_fleet_record_of_the_sandbox.py.
"""

import datetime as dt
import html
import json
import os
import re
import time

import pytest

INDEX = "index.html"


# --- the mini project: quick runs for what needs many -------------------------------------------------

CHECKS = '''
import pytest


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check, settings):
    """There are at least the minimum number of recent backups."""
    check.record(5, settings.backups_min, trend="recent-backups", trend_title="Recent backups")
    assert 5 >= settings.backups_min, f"5 recent backups, expected at least {settings.backups_min}"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Key Performance Metrics: Database Performance")
def test_database_size_below_limit(check):
    """The database is below the size limit."""
    check.record(12 * 1024**2, 1024**3, trend="database-size", trend_title="Database size")
'''

MINI_TARGETS = '''
[targets.prod]
base_url = "http://127.0.0.1:9"
[targets.staging]
base_url = "http://127.0.0.1:9"
backups_min = 99
'''


@pytest.fixture
def mini(mini_project, tmp_path):
    """run(fleet, *args, **env) of the mini project, with or without its two-target file; no two runs share a stamp."""
    run_pytest = mini_project(CHECKS)
    (tmp_path / "targets.toml").write_text(MINI_TARGETS)
    last = []

    def run(fleet, *args, **env):
        while last and int(time.time()) == last[-1]:
            time.sleep(0.05)
        targets = {"DIGITALME_TARGETS": str(tmp_path / "targets.toml")} if fleet else {}
        result = run_pytest("-m", "daily", *args, env={"DIGITALME_ALERTS": "off", **targets, **env})
        last.append(int(time.time()))
        return result
    return run


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_each_row_is_under_its_target_and_sorts_with_its_target_failures_first(mini, workers):
    """Serial and under pytest-xdist (rows made on the controller from the workers' reports), each row's Target
    is its check's, and the table's initial order (Target's sort key) is the targets file's order of targets,
    failures first within each."""
    run = mini(True, *workers)
    assert run.returncode == 1, run
    record = (run.report_dir / "latest.html").read_text()
    data = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', record).group(1)))
    assert data["initialSort"] == "target", data["initialSort"]
    rows = []
    for node_id, (test,) in data["tests"].items():
        key, target = re.fullmatch(r"<span hidden>([^<]*)</span>(.*)", test["target"]).groups()
        rows.append((key, target, node_id.split("::")[-1].split("@")[0], test["result"]))
    assert all(f"[{target}]" in check for _, target, check, _ in rows), rows
    shown = [(target, check, result) for _, target, check, result in sorted(rows)]
    assert shown == [("prod", "test_enough_recent_backups[prod]", "Passed"),
                     ("prod", "test_database_size_below_limit[prod]", "Passed"),
                     ("staging", "test_enough_recent_backups[staging]", "Failed"),
                     ("staging", "test_database_size_below_limit[staging]", "Passed")], shown


def test_a_run_without_a_targets_file_has_no_target_column_or_summary(mini):
    """Without a targets file, the record and the history look as they always have: no target anywhere."""
    run = mini(False)
    assert run.returncode == 0, run
    record = (run.report_dir / "latest.html").read_text()
    assert 'data-column-type="target"' not in record and 'class="col-target"' not in record
    assert 'id="digitalme-targets"' not in record and 'class="target"' not in record
    data = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', record).group(1)))
    assert "Target" in data["environment"] and "Targets" not in data["environment"], data["environment"]
    assert data["initialSort"] == "result", data["initialSort"]
    index = (run.report_dir / INDEX).read_text()
    assert 'id="targets"' not in index and "<th>Targets</th>" not in index and "no target" not in index


def test_history_shows_old_results_files_beside_fleet_runs(mini):
    """Results files without targets keep their rows (no target statuses), fleet runs add a row per target and
    a line per target in the charts."""
    old = mini(False)
    fleet = mini(True)
    assert fleet.returncode == 1, fleet
    index = (fleet.report_dir / INDEX).read_text()
    runs = index[index.index('<table id="runs">'):]
    rows = re.findall(r'<tr><td>[^<]+</td><td>[^<]+</td><td><b class="status"[^>]*>(\w+)</b></td>'
                      r'<td class="targets">(.*?)</td>', runs)
    assert len(rows) == 2, runs
    (newest_status, newest), (old_status, old_targets) = rows
    assert (newest_status, old_status) == ("CRITICAL", "OK") and old_targets == "", rows
    assert re.fullmatch(r'staging <b class="status target"[^>]*>CRITICAL</b>; <span class="ok">OK: prod</span>',
                        newest), newest
    assert re.search(r'<tr id="target-staging"><th scope="row">staging</th><td><b class="status"[^>]*>CRITICAL',
                     index) and re.search(r'<tr id="target-prod"><th scope="row">prod</th><td><b class="status"'
                                          r"[^>]*>OK", index), index
    backups_chart = index[index.index("<b>Recent backups</b>"):].split("</figure>")[0]
    for line in ("no target 5 (threshold 3)", "prod 5 (threshold 3)", "staging 5 (threshold 99)"):
        assert line in backups_chart, f"{line!r} not in the chart's legend: {backups_chart[:600]}"
    assert old.report_dir == fleet.report_dir


def test_history_reads_a_fleet_results_file_once(mini):
    """The history's cost stays bounded in a fleet: a results file already summarised is not read again (an
    earlier version's cache: selftests/plugin/test_history_year.py)."""
    first = mini(True)
    folder = first.report_dir
    results = folder / first.results["files"]["json"].rsplit("/", 1)[-1]
    # Same size and mtime, other content: a history that read it again would show staging WARNING.
    stat = results.stat()
    text = results.read_text()
    assert '"staging": "critical"' in text
    results.write_text(text.replace('"staging": "critical"', '"staging": "warning" ', 1))
    os.utime(results, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    mini(False)
    runs = (folder / INDEX).read_text().split('<table id="runs">')[1]
    assert re.search(r'staging <b class="status target"[^>]*>CRITICAL', runs), "the stored summary was not used"


def test_a_month_of_fleet_runs_keeps_the_history_page_small(mini):
    """Each target's status strip has one bar per stretch of equal statuses, not one per run, and a fleet chart's
    line of many runs is drawn as a line without a circle per run: the page grows with the changes."""
    first = mini(True)
    folder = first.report_dir
    document = first.results
    now = dt.datetime.now(dt.timezone.utc)
    for hours in range(1, 500):  # hourly runs for the last 20 days, same statuses
        when = now - dt.timedelta(hours=hours)
        (folder / f"{when:%Y%m%dT%H%M%SZ}-daily.json").write_text(
            json.dumps({**document, "started_at": when.isoformat(timespec="seconds")}))
    for path in [*folder.glob("history-*"), folder / "state" / "history.json"]:
        path.unlink()  # as an earlier version left the folder: its results files are read once
    mini(True)
    index = (folder / INDEX).read_text()
    targets = index[index.index('<table id="targets">'):].split("</table>")[0]
    bars = re.findall(r"<rect [^>]*><title>(\w+): (\w+), [^<]* \((\d+) runs\)</title></rect>", targets)
    assert sorted(bars) == [("prod", "OK", "501"), ("staging", "CRITICAL", "501")], bars
    chart = index[index.index("<b>Recent backups</b>"):].split("</figure>")[0]
    assert "<circle" not in chart, "a circle per run in a fleet chart of 501 runs"
    for name in ("prod", "staging"):
        assert f"<title>{name}</title></polyline>" in chart, chart[:1000]
    drawn = index[index.index('<table id="targets">'):index.index('<table id="runs">')]
    assert len(drawn) < 60_000, f"the targets and trends take {len(drawn)} characters for 501 runs of 2 targets"
