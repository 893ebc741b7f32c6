"""A year on the production host (issue 17): the history (plugins/outputs/history/) keeps every run, at a cost per run
that does not grow with its age, and a disk use bounded by what matters.

Mini projects of marked checks run in a subprocess with the suite's real plugins (thinning, full records, a folder
of the previous version, fleet runs, alert links, retention per selection); a synthesised year of summaries,
run through the history's own functions in this process, bounds the index and the state.
"""

import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from test_alerts import Receiver

REPO = Path(__file__).resolve().parents[2]
PREVIOUS_VERSION = "01583b9"  # the commit whose plugins/history.py kept .history-cache.json (before issue 17)
INDEX = "index.html"
LINE_MAX_BYTES = 2000  # what a thinned run may keep: one summary line

CHECKS = '''
import os
import pytest


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.parametrize("path", ["/health"])
@pytest.mark.manual("Health Check Endpoints Reference: /health")
def test_endpoint_answers_within_time(check, target, path):
    """The endpoint answers within the limit."""
    slow = os.environ.get("SLOW_TARGET", "-") in ("all", target.name)
    total = 2.5 if slow else 0.125
    check.record({"total_s": total}, 1.0, unit="s",
                 trend="health-response-time", trend_of="total_s", trend_title="/health response time")
    assert total < 1.0, f"{path} answered in {total} s (required: below 1.0 s)"


@pytest.mark.warning
@pytest.mark.monitor
@pytest.mark.manual("Morning Health Check 1")
def test_container_is_up(check):
    """The app container is up (skipped when Docker cannot be asked)."""
    if os.environ.get("SKIP_DOCKER"):
        pytest.skip("Docker API not reachable")


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_filesystems_below_disk_threshold(check):
    """Every filesystem is below the disk threshold."""
    fullest = 91.0 if os.environ.get("FAIL_DISK") else 63.0
    check.record({"/": 41.0, "/data": fullest}, 80, unit="pct",
                 trend="disk-use", trend_of=max, trend_title="Disk use (fullest filesystem)")
    assert fullest < 80, f"/data at {fullest} % (required: below 80 %)"
'''

TARGETS = '''
[targets.prod]
base_url = "http://127.0.0.1:9"
[targets.staging]
base_url = "http://127.0.0.1:9"
'''


@pytest.fixture
def suite(mini_project, tmp_path):
    """run(selection, **env) of the mini project (alerts off unless env says so); each run gets its own second,
    and the run's results (latest.json) and its files are read right after it."""
    run_pytest = mini_project(CHECKS)
    (tmp_path / "targets.toml").write_text(TARGETS)
    last = []

    def run(selection, **env):
        while last and int(time.time()) == last[-1]:
            time.sleep(0.05)
        result = run_pytest("-m", selection, env={"DIGITALME_ALERTS": "off", **env})
        last.append(int(time.time()))
        if (result.report_dir / "latest.json").exists():
            result.doc = result.results
            dated = result.doc.get("thinned_files") or result.doc["files"]  # a thinned run names what it removed
            result.json, result.html = Path(dated["json"]), Path(dated["html"])
        return result
    return run


def lines_of(folder):
    """Every run summary line of the history, oldest first."""
    found = []
    for path in sorted(folder.glob("history-*.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(found, key=lambda s: s["started_at"])


def line_of(run):
    """The history's line of one run, by its start time."""
    started = dt.datetime.fromisoformat(run.doc["started_at"]).isoformat()
    found = [s for s in lines_of(run.report_dir) if s["started_at"] == started]
    assert len(found) == 1, f"expected one history line started at {started}, found {len(found)}"
    return found[0]


def kept(run):
    """The run's dated results file and record are both on disk."""
    return run.json.exists() and run.html.exists()


def test_a_repeated_passing_monitor_run_keeps_a_summary_line_only(suite):
    """A passing monitor run that repeats the previous run's outcomes keeps one summary line (time, status,
    counts, trend values, duration), not its HTML record or results file; latest.json and latest.html hold it.

    Manual: Health Check Implementation - Run every 5 minutes via cron
    """
    first, second = suite("monitor"), suite("monitor")
    assert first.returncode == 0 and second.returncode == 0, second
    assert kept(first), "the first monitor run has no previous run to repeat: its full record must stay"
    assert not second.json.exists() and not second.html.exists(), \
        f"a repeated passing monitor run kept {[p.name for p in (second.json, second.html) if p.exists()]}"
    folder = second.report_dir
    latest = json.loads((folder / "latest.json").read_text())
    assert latest["started_at"] == second.doc["started_at"] and latest["thinned"] is True, latest
    assert latest["files"] == {"json": str(folder / "latest.json"), "html": str(folder / "latest.html")}, \
        f"latest.json names files that were removed: {latest['files']}"
    assert (folder / "latest.html").read_bytes() != first.html.read_bytes(), "latest.html is not the newest run"
    told = re.findall(r"^DigitalMe: OK - .* - report (\S+)$", second.stdout, re.M)
    assert told == [str(folder / "latest.html")], f"the status line should name latest.html, not a removed file: {told}"
    line = line_of(second)
    assert (line["kept"], line["why"], line["status"], line["selection"]) == \
        ("summary", "repeated the previous run", "ok", "monitor"), line
    assert line["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "error": 0, "waived": 0, "not checked": 0}, \
        line["counts"]
    assert line["values"]["health-response-time"] == [0.125, 1.0] and line["duration_s"] >= 0, line
    size = len(json.dumps(line, separators=(",", ":"), sort_keys=True)) + 1
    assert size <= LINE_MAX_BYTES, f"a thinned run keeps {size} bytes, expected at most {LINE_MAX_BYTES}"
    index = (folder / INDEX).read_text()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>monitor</td>.*?</tr>", index)
    assert len(rows) == 2 and "summary only" in index.split('<table id="runs">')[1].split("</tr>")[1], rows


def test_a_failing_or_changed_run_keeps_its_full_record(suite):
    """A failing run, the run after it (an outcome changed back) and a passing run whose outcomes changed (a
    check now skipped) keep their HTML record and results file; only exact repeats are thinned."""
    runs = [("ok", {}), ("failing", {"SLOW_TARGET": "all"}), ("failing again", {"SLOW_TARGET": "all"}),
            ("recovered", {}), ("repeat", {}), ("skip now", {"SKIP_DOCKER": "1"}), ("repeat skip", {"SKIP_DOCKER": "1"})]
    done = {name: suite("monitor", **env) for name, env in runs}
    expected = {"ok": "first run of its selection", "failing": "a check failed", "failing again": "a check failed",
                "recovered": "an outcome changed", "repeat": None, "skip now": "an outcome changed",
                "repeat skip": None}
    for name, why in expected.items():
        line = line_of(done[name])
        assert kept(done[name]) == (why is not None), f"{name}: full record kept {kept(done[name])}, line {line}"
        assert line["why"] == (why or "repeated the previous run"), f"{name}: {line}"
    assert done["failing"].returncode == 1 and done["failing"].doc["status"] == "critical", done["failing"]


def test_daily_runs_are_never_thinned_and_cannot_be(suite):
    """Daily runs that repeat each other keep every full record; resources runs are thinned like the monitor;
    a setting that would thin daily, weekly or monthly runs stops the run before any check (exit 4)."""
    daily = [suite("daily") for _ in range(3)]
    assert all(run.returncode == 0 and kept(run) for run in daily), [kept(run) for run in daily]
    assert [line_of(run)["why"] for run in daily] == ["daily runs are never thinned"] * 3
    resources = [suite("resources") for _ in range(2)]
    assert [kept(run) for run in resources] == [True, False], [line_of(run) for run in resources]
    refused = suite("daily", DIGITALME_REPORT_THIN="monitor,daily")
    assert refused.returncode == 4, refused
    assert "daily, weekly and monthly runs always keep their full record" in refused.stdout + refused.stderr
    unthinned = [suite("monitor", DIGITALME_REPORT_THIN="") for _ in range(2)]
    assert all(kept(run) for run in unthinned), "DIGITALME_REPORT_THIN empty must keep every record"


MOVED_SINCE = {  # its imports, as issue 24's stage packages have them
    "from plugins.output import COLOURS, write_atomically":
        "from plugins.files import write_atomically\nfrom plugins.outputs.results import COLOURS",
    "from plugins.results import": "from plugins.outputs.results import",
    "from plugins.settings import": "from plugins.configuration.settings import"}


def previous_history():
    """plugins/history.py as it was before issue 17 (it wrote index.html and .history-cache.json)."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{PREVIOUS_VERSION}:plugins/history.py"],
                            capture_output=True, text=True)
    if source.returncode != 0:
        pytest.skip(f"the previous version is not in this checkout: {source.stderr.strip()}")
    for old, now in MOVED_SINCE.items():
        source.stdout = source.stdout.replace(old, now)
    spec = importlib.util.spec_from_loader("previous_history", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source.stdout, "previous_history.py", "exec"), module.__dict__)
    return module


def test_a_report_folder_of_the_previous_version_is_read_once(suite):
    """A folder the previous version wrote (its results files and records, index.html, .history-cache.json) is
    read once by the next run: every run appears, the old cache's summaries are used, the cache is removed,
    and no old record is thinned."""
    made = [suite("daily"), suite("monitor", SLOW_TARGET="all"), suite("resources"), suite("monitor")]
    folder = made[0].report_dir
    for path in [*folder.glob("history-*"), folder / "state" / "history.json"]:
        path.unlink()  # what the previous version had: no history-* files, no history state
    previous_history().update(str(folder), 400)
    cache = json.loads((folder / ".history-cache.json").read_text())
    assert cache["version"] == 2 and len(cache["files"]) == 4, cache.keys()
    # Same size and mtime, a status no results file may have: read again instead of the cache, it would be noted.
    tampered = made[2].json
    stat, text = tampered.stat(), tampered.read_text()
    tampered.write_text(text.replace('"status": "ok"', '"status": "ko"', 1))
    os.utime(tampered, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = suite("monitor")
    assert after.returncode == 0, after
    assert not (folder / ".history-cache.json").exists(), "the old cache should be gone once read"
    lines = lines_of(folder)
    assert [(s["selection"], s["status"]) for s in lines] == [
        ("daily", "ok"), ("monitor", "critical"), ("resources", "ok"), ("monitor", "ok"), ("monitor", "ok")], lines
    assert all(kept(run) for run in made), "a record of the previous version was removed"
    assert line_of(after)["why"] == "first run of its selection", "the old runs' outcomes are not known"
    index = (folder / INDEX).read_text()
    runs = index.split('<table id="runs">')[1].split("</table>")[0]
    assert runs.count("<tr><td>") == 5 and "skipped, not a readable" not in index, runs
    for run in made:
        assert f'<a href="{run.html.name}">report</a>' in runs, f"{run.html.name} not linked"
    month = (folder / f"history-{lines[0]['started_at'][:7]}.html").read_text()
    assert month.count("summary only") == 0 and month.count(">report</a>") == 5, "the month page lacks runs"


def test_a_lost_state_is_rebuilt_from_the_lines_and_loses_no_run(suite):
    """An unreadable state/history.json (a disk error, an edit) is rebuilt from the month files: a thinned run,
    which has no results file to read again, is still in the history."""
    first, thinned = suite("monitor"), suite("monitor")
    assert not kept(thinned), line_of(thinned)
    (first.report_dir / "state" / "history.json").write_text("{not json")
    after = suite("monitor")
    assert after.returncode == 0, after
    assert [s["kept"] for s in lines_of(after.report_dir)] == ["full", "summary", "full"], lines_of(after.report_dir)
    runs = (after.report_dir / INDEX).read_text().split('<table id="runs">')[1].split("</table>")[0]
    assert runs.count("<tr><td>") == 3 and runs.count("summary only") == 1, runs


def test_a_state_an_earlier_version_kept_at_the_folders_root_is_moved_and_goes_on(suite):
    """Issue 24: the state an earlier version kept as ``history-state.json`` at the report folder's root is read once
    and moved to ``state/history.json``: the next run goes on from it (its repeat thinned as one, linked to the
    previous file), nothing rebuilt or lost, and the old file is gone."""
    first = suite("monitor")
    folder = first.report_dir
    (folder / "state" / "history.json").rename(folder / "history-state.json")  # as an earlier version left it
    after = suite("monitor")
    assert after.returncode == 0, after
    assert not (folder / "history-state.json").exists(), "the old state should have moved"
    state = json.loads((folder / "state" / "history.json").read_text())
    assert line_of(after)["why"] == "repeated the previous run", "the previous run's outcomes were lost"
    assert after.doc["chain"]["previous"] == first.json.name, after.doc["chain"]
    assert [s["kept"] for s in lines_of(folder)] == ["full", "summary"] and len(state["recent"]) == 2, state["recent"]


def test_fleet_runs_keep_each_targets_status_when_thinned(suite, tmp_path):
    """A thinned fleet run's line keeps each target's status; a change on one target (staging slow) keeps the
    full record, and each target's strip counts the thinned runs too."""
    targets = {"DIGITALME_TARGETS": str(tmp_path / "targets.toml")}
    first, repeat, slow = suite("monitor", **targets), suite("monitor", **targets), \
        suite("monitor", SLOW_TARGET="staging", **targets)
    assert (kept(first), kept(repeat), kept(slow)) == (True, False, True), [line_of(r) for r in (first, repeat, slow)]
    assert line_of(repeat)["targets"] == {"prod": "ok", "staging": "ok"}, line_of(repeat)
    assert line_of(slow)["targets"] == {"prod": "ok", "staging": "critical"}, line_of(slow)
    assert line_of(repeat)["target_values"]["staging"]["health-response-time"] == [0.125, 1.0], line_of(repeat)
    index = (slow.report_dir / INDEX).read_text()
    strips = index[index.index('<table id="targets">'):].split("</table>")[0]
    bars = re.findall(r"<rect [^>]*><title>(\w+): (\w+), [^<]* \((\d+) runs?\)</title></rect>", strips)
    assert sorted(bars) == [("prod", "OK", "3"), ("staging", "CRITICAL", "1"), ("staging", "OK", "2")], bars


def test_alerts_link_to_kept_records_when_firing_and_resolved(suite):
    """Every alert's "report" is a record that is kept: the failing run's, and the resolving run's (a run with an
    alert is never thinned); the quiet run after them is thinned."""
    receiver = Receiver()
    try:
        env = {"DIGITALME_ALERTS": "on", "DIGITALME_WEBHOOK_URL": receiver.url(),
               "DIGITALME_MAINTENANCE_WINDOW": "off", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        failing, resolved, quiet = suite("monitor", SLOW_TARGET="all", **env), suite("monitor", **env), \
            suite("monitor", **env)
        payloads = receiver.payloads()
    finally:
        receiver.stop()
    assert [p["status"] for p in payloads] == ["firing", "resolved"], payloads
    assert [p["report"] for p in payloads] == [str(failing.html), str(resolved.html)], payloads
    for payload in payloads:
        assert os.path.exists(payload["report"]), f"the {payload['status']} alert links to {payload['report']}: gone"
    assert not quiet.html.exists() and line_of(quiet)["kept"] == "summary", line_of(quiet)


def stamped(when, selection, suffix):
    return f"{when:%Y%m%dT%H%M%SZ}-{selection}{suffix}"


def test_retention_is_set_per_selection(suite, tmp_path):
    """DIGITALME_REPORT_RETENTION_BY_SELECTION=monitor:10 removes monitor files older than 10 days; a daily
    file of the same age stays (report_retention_days, 400)."""
    folder = tmp_path / "reports"
    folder.mkdir()
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=20)
    gone = [stamped(old, "monitor", ".json"), stamped(old, "monitor", ".html")]
    stay = [stamped(old, "daily", ".json"), stamped(old, "daily", ".html")]
    for name in gone + stay:
        (folder / name).write_text("{}")
    run = suite("monitor", DIGITALME_REPORT_RETENTION_BY_SELECTION="monitor:10")
    assert run.returncode == 0, run
    left = {p.name for p in folder.iterdir()}
    assert set(stay) <= left and not set(gone) & left, sorted(left)
    bad = suite("monitor", DIGITALME_REPORT_RETENTION_BY_SELECTION="monitor")
    assert bad.returncode == 4 and "selection:days" in bad.stdout + bad.stderr, bad


def year_of_runs(start, days, targets=None):
    """(time, selection, status) of the shipped schedules over ``days`` days: monitor every 5 minutes, resources
    every 4 hours, daily 09:00, weekly Sunday 02:00, monthly first Sunday 01:00; a monitor outage every 3 days."""
    for minute in range(0, days * 24 * 60, 5):
        when = start + dt.timedelta(minutes=minute)
        failing = minute % (3 * 24 * 60) in (600, 605, 610)  # 3 failing runs every 3 days
        yield when, "monitor", "critical" if failing else "ok"
        if when.minute == 0 and when.hour % 4 == 0:
            yield when, "resources", "ok"
        if (when.hour, when.minute) == (9, 0):
            yield when, "daily", "ok"
        if (when.weekday(), when.hour, when.minute) == (6, 2, 0):
            yield when, "weekly", "ok"
        if (when.weekday(), when.day <= 7, when.hour, when.minute) == (6, True, 1, 0):
            yield when, "monthly", "ok"


def month_rows(folder, month):
    """The start times (HH:MM:SS) of the runs a month page lists."""
    page = (folder / f"history-{month}.html").read_text()
    return re.findall(r"<tr(?: class=c)?><td>(\d\d:\d\d:\d\d)</td>", page)


def test_the_current_months_page_lists_every_run_so_far(suite):
    """The month page is current after each run, not a day behind: made whole by the day's first run, brought up
    to date by the next ones (from the day's lines alone), and made whole again when its cache is gone."""
    runs = [suite("monitor"), suite("monitor", FAIL_DISK="1"), suite("monitor")]
    folder = runs[-1].report_dir
    month = runs[0].doc["started_at"][:7]
    started = [line_of(run)["started_at"][11:19] for run in runs]
    assert month_rows(folder, month) == started, "the month page should list every run of the month so far"
    assert f"{len(runs)} runs, every one" in (folder / f"history-{month}.html").read_text()
    (folder / f".history-{month}-days.json").unlink(missing_ok=True)
    runs.append(suite("monitor"))
    assert month_rows(folder, month) == started + [line_of(runs[-1])["started_at"][11:19]]


def test_a_month_page_brought_up_to_date_equals_one_made_whole(tmp_path):
    """A run's update of the month page (the newest day's lines over the earlier days' kept parts) gives the page
    that reading every line gives; a late run of an earlier day, which the kept parts cannot hold, makes it whole."""
    from plugins.outputs.history import bookkeeping, months, store
    month, state = "2026-03", bookkeeping.empty_state()

    def add(when, status="ok"):
        store.append_line(str(tmp_path), {
            "file": None, "html": None, "started_at": when.isoformat(), "selection": "monitor", "status": status,
            "counts": {"passed": 2, "failed": status != "ok", "skipped": 0, "error": 0},
            "values": {"/health response time": [0.1, 1.0]}, "targets": None, "target_values": {},
            "duration_s": 0.5, "kept": "summary", "why": ""})
        state["months"].setdefault(month, {"runs": 0})["runs"] += 1

    def page(folder):
        return re.sub(r"Written [^<]* UTC", "", (folder / f"history-{month}.html").read_text())

    def whole():
        """The page made from every line, in a folder of its own (the kept parts here stay as the runs left them)."""
        other = tmp_path / "whole"
        other.mkdir(exist_ok=True)
        shutil.copy(tmp_path / f"history-{month}.jsonl", other)
        months.write_month_page(str(other), month, bookkeeping.empty_state())
        return page(other)

    start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    for hour in range(0, 72, 2):
        add(start + dt.timedelta(hours=hour))
    months.write_month_page(str(tmp_path), month, state)
    for when, status in ((start + dt.timedelta(hours=73), "critical"), (start + dt.timedelta(days=3), "ok"),
                         (start + dt.timedelta(days=1, minutes=1), "warning")):  # the last: late, of day 2
        add(when, status)
        months.refresh_month_page(str(tmp_path), month, state)
        assert page(tmp_path) == whole(), f"the page brought up to date after the run of {when} differs"
        assert f"{state['months'][month]['runs']} runs, every one" in page(tmp_path)
        assert state["pages"][month] == state["months"][month]["runs"]
    assert not (tmp_path / f".history-{month}-days.json").exists(), "a late run of an earlier day: no cut to keep"


def test_a_year_of_runs_keeps_the_index_and_state_small():
    """A year of the shipped schedules (106,000 runs, fleet of 2), through the history's own functions: the
    index stays under 2 MB and the state (read and written by every run) under 1 MB."""
    from plugins.outputs.history import bookkeeping, index
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    state, day, count = bookkeeping.empty_state(), None, 0
    for when, selection, status in year_of_runs(start, 365):
        if when.date() != day:
            bookkeeping.fold(state, when)
            day = when.date()
        targets = {"prod": status, "staging": "ok"}
        values = {"health-response-time": [0.1 + (count % 7) / 100, 1.0], "disk-use": [63.0, 80]}
        stem = None if status == "ok" else f"{when:%Y%m%dT%H%M%SZ}-{selection}"
        summary = {"file": stem and stem + ".json", "html": stem and stem + ".html", "started_at": when.isoformat(),
                   "selection": selection,
                   "status": status, "counts": {"passed": 5, "failed": status != "ok", "skipped": 0, "error": 0},
                   "values": {}, "targets": targets, "target_values": {"prod": values, "staging": values},
                   "trends": {"health-response-time": ["/health response time", "s"], "disk-use": ["Disk use", "%"]},
                   "duration_s": 0.5, "kept": "full" if status != "ok" else "summary", "why": ""}
        bookkeeping.apply(state, summary, None, when)
        count += 1
    end = when + dt.timedelta(minutes=1)
    bookkeeping.fold(state, end)
    page = index.render(state, end)
    assert count > 105_000, count
    assert page.count("<figure class=\"trend\">") == 2, "both trends charted"
    assert len(page.encode()) <= 2 * 1024**2, f"index.html of a year is {len(page.encode())} bytes, expected <= 2 MB"
    size = len(json.dumps(state, separators=(",", ":")))
    assert size <= 1024**2, f"the state is {size} bytes after a year, expected <= 1 MB"
    assert len(state["months"]) == 12 and sum(m["runs"] for m in state["months"].values()) == count
    assert 'id="changes"' in page and page.count('<tr class="month">') == 12
