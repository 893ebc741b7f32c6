"""The record shows change over time, from a mini project's run with the suite's real plugins: its cells in human
units beside the raw results file, its summary listing new findings first with since when each fails (the
since-when data set by hand where the history would fill it, so that the display is tested on its own), the
results file's hash; and since-when and the hash as the history of the selection gives them. The formatting and the
summary as functions: unit/test_record_formatting.py."""

import datetime as dt
import hashlib
import html
import json
import re
import time
import textwrap

import pytest

from conftest import REPO, run_pytest
from test_record_formatting import listed

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
