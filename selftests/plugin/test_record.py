"""The health record (plugins/outputs/record/) and its history (plugins/outputs/history/), tested from the outside.

Each test runs a mini project of marked checks (which record values and pass or fail by environment variable)
in a subprocess with the suite's real plugins; the report and the index are opened in real headless Chromium.
"""

import datetime as dt
import html
import json
import math
import os
import re
import time
from pathlib import Path

import pytest

import browser
from plugins.outputs import history

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "selftests" / "artifacts"
TITLE = "DigitalMe health record - {date} - {selection}"
INDEX = "index.html"
TRENDS = 6  # one chart for each trend the checks below declare (plugins/outcomes/trends.py)
SECRET = "SECRET-TOKEN-123"
WEBHOOK = f"http://127.0.0.1:9/hook/{SECRET}"

CHECKS = '''
import os
import pytest


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.monitor
@pytest.mark.parametrize("path", ["/health"])
@pytest.mark.manual("Health Check Endpoints Reference: /health")
def test_endpoint_answers_within_time(check, path):
    """The endpoint answers within the limit."""
    total = 2.5 if os.environ.get("FAIL_CRITICAL") else 0.125
    check.record({"total_s": total, "connect_s": 0.01}, 1.0, unit="s",
                 trend="health-response-time", trend_of="total_s", trend_title="/health response time")
    check.attach("timing", f"connect 0.010 s\\ntotal {total:.3f} s")
    assert total < 1.0, f"{path} answered in {total} s (required: below 1.0 s)"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.resources
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_filesystems_below_disk_threshold(check):
    """Every filesystem is below the disk threshold."""
    fullest = 91.0 if os.environ.get("FAIL_WARNING") else 63.0
    check.record({"/": 41.0, "/data": fullest}, 80, unit="pct",
                 trend="disk-use", trend_of=max, trend_title="Disk use (fullest filesystem)")
    assert fullest < 80, f"/data at {fullest} % (required: below 80 %)"


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.manual("Resource Monitoring: Memory Usage")
def test_host_memory_below_threshold(check):
    """Host memory is below the threshold."""
    if os.environ.get("SKIP_MEMORY"):
        pytest.skip("no /proc/meminfo on this host")
    check.record(52.5, 85, trend="host-memory", trend_title="Host memory")


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.manual("Resource Monitoring: Container Memory")
def test_container_memory_below_limit(check):
    """The app container's memory is below its limit."""
    check.record(300 * 1024**2, 2 * 1024**3, unit="bytes", trend="container-memory", trend_title="Container memory")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Key Performance Metrics: Database Performance")
def test_database_size_below_limit(check):
    """The database is below the size limit."""
    check.record(12 * 1024**2, 1024**3, unit="bytes", trend="database-size", trend_title="Database size")


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check):
    """There are enough recent backups."""
    check.record(5, 3, trend="recent-backups", trend_title="Recent backups")
    check.attach("ls -la /app/backups", "-rw-r--r-- 1 app app 12582912 backup-1.db")
    check.attach("webhook", os.environ.get("DIGITALME_WEBHOOK_URL", ""))
    print("webhook in use:", os.environ.get("DIGITALME_WEBHOOK_URL", ""))
    assert not os.environ.get("LEAK_SECRET"), "posting to " + os.environ.get("DIGITALME_WEBHOOK_URL", "")
'''

# Installed into the mini project's conftest: dies (SIGKILL) just before replacing the named file.
DIE_BEFORE_REPLACING = '''
import os as _os
import signal as _signal

_replace = _os.replace


def _replace_or_die(src, dst):
    if _os.environ.get("DIE_BEFORE_REPLACING") and str(dst).endswith(_os.environ["DIE_BEFORE_REPLACING"]):
        _os.kill(_os.getpid(), _signal.SIGKILL)
    return _replace(src, dst)


_os.replace = _replace_or_die
'''

QUIET = {"DIGITALME_ALERTS": "off"}


@pytest.fixture
def suite(mini_project):
    """run(*args, **env) of the mini project; waits so that no two runs share a stamp (one-second resolution)."""
    run_pytest = mini_project(CHECKS, conftest_extra=DIE_BEFORE_REPLACING)
    last = []

    def run(*args, **env):
        while last and int(time.time()) == last[-1]:
            time.sleep(0.05)
        result = run_pytest(*args, env={**QUIET, **env})
        last.append(int(time.time()))
        return result
    return run


def html_of(run):
    return Path(run.results["files"]["html"])


def browse(page, name):
    """Open ``page`` in headless Chromium: its rendered DOM; a screenshot kept in selftests/artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    dom = browser.render(page, ARTIFACTS / (name + ".png"))
    (ARTIFACTS / (name + ".dom.html")).write_text(dom)
    return dom


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, installed by scripts/setup-browser.sh when missing (root on Debian)."""
    missing = browser.chromium_missing()
    if missing:
        pytest.skip(missing)
    return browser.CHROMIUM


def test_every_run_writes_its_dated_record_and_latest(suite):
    run = suite("-m", "daily", FAIL_CRITICAL="1", GITHUB_WORKFLOW="DigitalMe daily health", GITHUB_RUN_ID="4242")
    assert run.returncode == 1, run
    report = html_of(run)
    stem = report.name[:-len(".html")]
    assert report.exists() and (run.report_dir / (stem + ".json")).exists(), run
    assert re.fullmatch(r"\d{8}T\d{6}Z-daily", stem)
    assert (run.report_dir / "latest.html").read_bytes() == report.read_bytes()
    text = report.read_text()
    title = TITLE.format(date=stem[:4] + "-" + stem[4:6] + "-" + stem[6:8], selection="daily")
    assert f"<title id=\"head-title\">{title}</title>" in text
    assert 'id="digitalme-status"' in text and ">CRITICAL</b>" in text
    assert 'data-column-type="severity">Severity</th>' in text
    failing = text[text.index('id="digitalme-failing"'):]
    assert re.search(r"</b> /health answered in 2.5 s \(required: below 1.0 s\) <small>\(check: ", failing.split("</ol>")[0])
    data = html.unescape(text)
    assert "connect 0.010 s" in data and "backup-1.db" in data  # evidence, inline
    assert "Morning Health Check 5 (Check backup status)" in data  # the manual column: the marker's line
    for row in ("Target", "Host", "Suite version", "Thresholds and settings", "Started at"):
        assert f'"{row}": ' in data
    assert '"Run by": "CI job DigitalMe daily health 4242 as ' in data


def scaled(value, factor):
    if isinstance(value, dict):
        return {k: scaled(v, factor) for k, v in value.items()}
    return round(value * factor, 3) if isinstance(value, (int, float)) else value


def backfill(folder, days, missed=4):
    """Copies of the results files so far, dated on each of the last ``days`` days but one (a gap in the lines)."""
    now = dt.datetime.now(dt.timezone.utc)
    for path in sorted(folder.glob("2*.json")):
        document = json.loads(path.read_text())
        for day in range(1, days + 1):
            when = now - dt.timedelta(days=day, minutes=len(document["checks"]))
            factor = 1 + 0.3 * math.sin(day)
            earlier = {**document, "started_at": when.isoformat(timespec="seconds"),
                       "checks": [{**c, "value": scaled(c["value"], factor)} for c in document["checks"]]}
            if day != missed:
                (folder / stamped(when, document["selection"], ".json")).write_text(json.dumps(earlier))


def test_report_and_index_render_in_a_real_browser(suite, chromium):
    suite("-m", "resources")
    backfill(suite("-m", "daily").report_dir, days=20)
    run = suite("-m", "daily", FAIL_WARNING="1")
    report = browse(html_of(run), "record")
    assert re.search(r'id="digitalme-status".*>WARNING</b>', report)
    assert re.search(r'<th class="sortable[^"]*" data-column-type="severity">Severity</th>', report)
    # Rows exist only once pytest-html's script has rendered them from its data: a real browser ran it.
    assert re.search(r'<td class="col-severity"[^>]*>warning</td>', report)
    assert '<td class="col-measured">/: 41 %, /data: 91 %</td>' in report
    index = browse(run.report_dir / INDEX, "index")
    assert index.count("<svg") == TRENDS and "<circle" in index and "<polyline" in index
    assert re.search(r'<b class="status"[^>]*>WARNING</b>', index)


# Run at the end of the page (the summary's tables are in its HTML): the alerts table's layout as the browser
# laid it out, written into the DOM dumped.
LAYOUT_PROBE = """<script>
  const cell = document.querySelector("#digitalme-alerts td");
  const texts = [...document.querySelectorAll("#digitalme-alerts tr:nth-child(2) td")].map(td => {
    const range = document.createRange(); range.selectNodeContents(td); return range.getBoundingClientRect(); });
  document.body.dataset.alertPadding = cell ? getComputedStyle(cell).paddingLeft : "none";
  // between one cell's text and the next one's: apart, or the row reads as one run-on line
  document.body.dataset.alertGaps = texts.slice(1).filter(r => r.width).map((r, i) => Math.round(r.left - texts[i].right)).join(",");
</script>"""


def test_the_record_opens_with_its_summary_its_tables_read_as_columns_and_skips_as_sentences(suite, chromium):
    """The status and failing checks on top, the environment below the results; the alerts a table with its
    columns apart; a skip's reason a sentence, never pytest's ``(path, line, 'Skipped: ...')`` tuple."""
    run = suite("-m", "daily or resources", FAIL_CRITICAL="1", SKIP_MEMORY="1", DIGITALME_ALERTS="dry-run")
    assert run.returncode == 1, run
    page = html_of(run)
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    dom = browse(probed, "record-layout")
    status, environment, results = (dom.index(f'id="{name}"') for name in ("digitalme-status", "environment",
                                                                             "results-table"))
    assert status < results < environment, "the summary first, the results, then the environment"
    assert re.search(r"<td>Suite version</td>\s*<td>", dom), "the environment table is still filled"
    assert "No /proc/meminfo on this host." in dom and "Skipped: no /proc" not in dom, "a skip reads as a sentence"
    assert not re.search(r"\('[^']*test_checks\.py', \d+, ", html.unescape(dom)), "a Python tuple in the record"
    padding = re.search(r'data-alert-padding="([^"]+)"', dom).group(1)
    gaps = [int(g) for g in re.search(r'data-alert-gaps="([^"]*)"', dom).group(1).split(",")]
    assert padding == "10px" and gaps and min(gaps) >= 16, (padding, gaps)


def test_a_page_of_another_layout_is_left_as_it_is():
    from plugins.outputs.record import publishing
    page = "<html><body><h1>x</h1><table id='results-table'></table></body></html>"
    assert publishing.summary_first(page) == page


@pytest.mark.parametrize("killed_at", ["latest.html", "index.html"])
def test_a_run_killed_while_writing_leaves_the_previous_files_intact(suite, killed_at):
    first = suite("-m", "daily")
    before = {name: (first.report_dir / name).read_bytes() for name in ("latest.html", INDEX)}
    killed = suite("-m", "resources", DIE_BEFORE_REPLACING=killed_at)
    assert killed.returncode == -9, killed
    assert (first.report_dir / killed_at).read_bytes() == before[killed_at]
    assert (first.report_dir / INDEX).read_bytes() == before[INDEX]
    assert list(first.report_dir.glob(".tmp-*" + killed_at))  # the half-done work, never in place
    after = suite("-m", "monitor")
    assert after.returncode == 0, after
    index = (after.report_dir / INDEX).read_text()
    assert index.count("<tr><td>") == 3 and ".tmp-" not in index


def test_a_webhook_token_appears_in_no_record(suite):
    run = suite("-m", "daily", LEAK_SECRET="1", DIGITALME_WEBHOOK_URL=WEBHOOK,
                BUILD_URL=f"https://ci.example/job/1?token={SECRET}", JENKINS_URL="https://ci.example/")
    assert run.returncode == 1, run
    written = sorted(p.name for p in run.report_dir.iterdir())
    assert {"latest.html", "latest.json", INDEX} <= set(written)
    for path in (p for p in run.report_dir.rglob("*") if p.is_file()):  # the state folder's files too
        assert SECRET not in path.read_text(), f"{path.name} holds the webhook token"
    text = html_of(run).read_text()
    assert "BUILD_URL" in text and "posting to" in html.unescape(text)  # the places it would have been


def stamped(when, selection, suffix):
    return f"{when:%Y%m%dT%H%M%SZ}-{selection}{suffix}"


def test_retention_removes_old_run_files_and_keeps_todays(suite, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    now = dt.datetime.now(dt.timezone.utc)
    old, recent = now - dt.timedelta(days=40), now - dt.timedelta(days=5)
    today = now.replace(hour=0, minute=0, second=1)
    keep = [stamped(recent, "daily", ".json"), stamped(recent, "daily", ".html"), stamped(today, "daily", ".html"),
            "alert-state.json", "notes.txt", "19990231T000000Z-fresh.json"]  # no such date: by its (new) mtime
    gone = [stamped(old, "daily", ".json"), stamped(old, "daily", ".html"), "19990231T000000Z-stale.html"]
    for name in keep + gone:
        (reports / name).write_text("{}")
    day = 86400
    os.utime(reports / "19990231T000000Z-stale.html", (time.time() - 40 * day, time.time() - 40 * day))
    run = suite("-m", "monitor", DIGITALME_REPORT_RETENTION_DAYS="30")
    assert run.returncode == 0, run
    left = {p.name for p in reports.iterdir()}
    assert set(keep) <= left and not set(gone) & left
    assert html_of(run).name in left


def test_history_lists_every_run_newest_first_with_trends(suite):
    runs = [("monitor", {}, "ok"), ("daily", {"FAIL_CRITICAL": "1"}, "critical"),
            ("resources", {"FAIL_WARNING": "1"}, "warning"), ("daily", {}, "ok")]
    done = [suite("-m", selection, **env) for selection, env, _ in runs]
    folder = done[-1].report_dir
    broken = stamped(dt.datetime.now(dt.timezone.utc), "broken", ".json")
    (folder / broken).write_text('{"schema": 1, "started_at": ')
    for path in [*folder.glob("history-*"), folder / "state" / "history.json"]:
        path.unlink()  # as an earlier version left the folder: its results files are read once
    suite("-m", "daily and not monitor")
    index = (folder / INDEX).read_text()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td><b class=\"status\"[^>]*>(\w+)</b>", index)
    expected = [("daily and not monitor", "OK")] + [(s, status.upper()) for s, _, status in reversed(runs)]
    assert [(html.unescape(s), status) for _, s, status in rows] == expected
    assert [when for when, _, _ in rows] == sorted((when for when, _, _ in rows), reverse=True)
    assert f"{broken}: skipped, not a readable results file" in index
    for result in done:
        assert f'<a href="{html_of(result).name}">report</a>' in index
    assert "2.500 s" in index and "91.0 %" in index and "300.0 MiB" in index  # points of the trends


def test_a_relative_report_dir_gets_latest_html_too(suite, tmp_path):
    """The demo and operators use the default, relative `reports`: latest.html must follow there as well."""
    run = suite("-m", "daily", DIGITALME_REPORT_DIR="relative-reports")
    folder = tmp_path / "relative-reports"
    dated = list(folder.glob("*-daily.html"))
    assert len(dated) == 1, run
    assert (folder / "latest.html").read_bytes() == dated[0].read_bytes()


def test_collect_only_writes_no_record(suite, tmp_path):
    """`pytest --collect-only` checks nothing: no results file, record or history entry, latest.* untouched."""
    first = suite("-m", "daily")
    before = sorted(p.name for p in first.report_dir.iterdir())
    listed = suite("--collect-only", "-q")
    assert listed.returncode == 0, listed
    assert sorted(p.name for p in first.report_dir.iterdir()) == before, listed
