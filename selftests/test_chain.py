"""The tamper-evident history (issue 14): each results file links to the previous kept one by name and SHA-256,
retention leaves an anchor, and scripts/verify-records names the first altered, missing or inserted file.

Runs of the history selftests' mini project (test_history_year.py) with the suite's real plugins write the chain;
the tampering is done on copies of that one folder, so each case costs a verify-records run, not more suite runs.
"""

import datetime as dt
import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, run_pytest
from test_history_year import CHECKS

VERIFY = REPO / "scripts" / "verify-records"


def verify(folder):
    done = subprocess.run([sys.executable, str(VERIFY), str(folder)], capture_output=True, text=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).strip()


def chain_of(path):
    return json.loads(path.read_text())["chain"]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def old_files(folder, now):
    """What a folder of a long-lived install holds before this run: two results files of an earlier version (no
    chain, 30 days old, daily: kept 400 days) and three chained monitor files 20 days old (retention removes
    them: monitor:10), the newest of them the head kept in the history's state."""
    from plugins import history
    folder.mkdir()
    unchained = []
    for n in range(2):
        name = f"{now - dt.timedelta(days=30, minutes=n):%Y%m%dT%H%M%SZ}-daily.json"
        (folder / name).write_text(json.dumps({"schema": 1, "selection": "daily", "status": "ok"}))
        unchained.append(name)
    previous = previous_sha = None
    chained = []
    for n in range(3):
        name = f"{now - dt.timedelta(days=20) + dt.timedelta(minutes=5 * n):%Y%m%dT%H%M%SZ}-monitor.json"
        (folder / name).write_text(json.dumps({"schema": 1, "selection": "monitor", "status": "ok", "chain": {
            "previous": previous, "previous_sha256": previous_sha}}, indent=1))
        previous, previous_sha = name, sha(folder / name)
        chained.append(name)
    state = history.empty_state()
    state["chain"] = {"head": previous, "sha256": previous_sha, "pending": []}
    (folder / history.STATE).write_text(json.dumps(state))
    return unchained, chained


class MiniRun:
    """One run of the mini project: its results (latest.json) and its dated results file, read right after it."""

    def __init__(self, done):
        self.returncode, self.output = done.returncode, done.stdout[-3000:] + done.stderr[-2000:]
        self.doc = done.results
        self.json = Path((self.doc.get("thinned_files") or self.doc["files"])["json"])

    def __repr__(self):
        return f"<MiniRun rc={self.returncode}>\n{self.output}"


@pytest.fixture(scope="module")
def chained_folder(tmp_path_factory):
    """A report folder after: the old files, a monitor run (retention removes the old chained files: an anchor),
    a thinned repeat, a failing monitor run, a daily run; built once for this module's tests (each tampers with a
    copy). Returns (folder, runs, old unchained names, old chained names)."""
    base = tmp_path_factory.mktemp("chain")
    (base / "tests_mini").mkdir()
    (base / "tests_mini" / "test_checks.py").write_text(textwrap.dedent(CHECKS))
    (base / "conftest.py").write_text((REPO / "conftest.py").read_text())
    (base / "pytest.ini").write_text(
        "[pytest]\ntestpaths = tests_mini\naddopts = --strict-markers -p no:cacheprovider\n")
    folder = base / "reports"
    unchained, old = old_files(folder, dt.datetime.now(dt.timezone.utc))
    runs, last = {}, None
    for name, selection, env in (("first", "monitor", {}), ("repeat", "monitor", {}),
                                 ("failing", "monitor", {"SLOW_TARGET": "all"}), ("daily", "daily", {})):
        while int(time.time()) == last:  # a second each: the files' names are stamped to the second
            time.sleep(0.05)
        runs[name] = MiniRun(run_pytest(base, ["-m", selection], {
            "DIGITALME_ALERTS": "off", "DIGITALME_REPORT_RETENTION_BY_SELECTION": "monitor:10", **env}, folder))
        last = int(time.time())
    assert [r.returncode for r in runs.values()] == [0, 0, 1, 0], runs
    assert not runs["repeat"].json.exists(), "the repeated monitor run should have been thinned"
    return folder, runs, unchained, old


def test_each_results_file_links_to_the_previous_kept_one(chained_folder):
    """Each results file names the previous kept results file and its SHA-256; a thinned run links too but is no
    link itself (the next run links past it); retention's removal of chained files leaves chain-anchor.json.

    Manual: Health Check Implementation - echo "[$TIMESTAMP] $1" >> $LOG_FILE (every run on record)
    """
    folder, runs, _, old = chained_folder
    first, repeat, failing, daily = runs.values()
    assert not any((folder / name).exists() for name in old), "retention (monitor:10) left a 20-day-old file"
    anchor = json.loads((folder / "chain-anchor.json").read_text())
    assert (anchor["name"], anchor["links"]) == (old[-1], {old[-1]: anchor["sha256"]}), anchor
    assert chain_of(first.json)["previous"] == old[-1], chain_of(first.json)
    assert chain_of(first.json)["previous_sha256"] == anchor["sha256"], "the first run's link disagrees with the anchor"
    assert repeat.doc["chain"] == {"previous": first.json.name, "previous_sha256": sha(first.json)}, \
        f"the thinned run's latest.json should still show its link: {repeat.doc.get('chain')}"
    assert chain_of(failing.json) == {"previous": first.json.name, "previous_sha256": sha(first.json)}, \
        f"the run after a thinned one must link past it to the previous kept file: {chain_of(failing.json)}"
    assert chain_of(daily.json) == {"previous": failing.json.name, "previous_sha256": sha(failing.json)}, \
        chain_of(daily.json)
    state = json.loads((folder / "history-state.json").read_text())
    assert (state["chain"]["head"], state["chain"]["sha256"]) == (daily.json.name, sha(daily.json)), state["chain"]
    lines = [json.loads(line) for path in folder.glob("history-*.jsonl") for line in path.read_text().splitlines()]
    assert {(s["file"], s["sha256"]) for s in lines if s["kept"] == "full"} >= {(daily.json.name, sha(daily.json))}, \
        "the run's history line should carry its results file's SHA-256"
    for run in (first, failing, daily):  # the hash config.stash[RESULTS_SHA256] had: the file's, as written
        assert sha(run.json) in run.json.with_suffix(".html").read_text(), f"{run.json.name}'s record lacks its hash"
    month = next(folder.glob("history-*.html")).read_text()  # written by the day's first run: the first run's row
    assert f'title="SHA-256 of the results file: {sha(first.json)}">{sha(first.json)[:12]}</code>' in month, \
        "the month page's row should show the results file's hash"


def test_a_lost_state_gets_the_chain_head_back_from_the_lines(chained_folder, tmp_path):
    """A state rebuilt from the month files (lost, unreadable) takes the head from the newest kept run's line, so
    the next run links to it rather than starting a second chain."""
    from plugins import history
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "rebuilt")
    (copy / history.STATE).write_text("{not json")
    state = history.start(str(copy), "unused", dt.datetime.now(dt.timezone.utc))
    daily = runs["daily"].json
    assert (state["chain"]["head"], state["chain"]["sha256"]) == (daily.name, sha(daily)), state["chain"]


def test_verify_records_passes_an_intact_folder(chained_folder):
    """verify-records exits 0 with one line on the intact folder: the chained files, the old unchained ones
    before the chain began (not a failure), and the anchor for the oldest kept file.

    Manual: Health Check Implementation - echo "[$TIMESTAMP] $1" >> $LOG_FILE (the record, unaltered)
    """
    folder, runs, unchained, old = chained_folder
    code, said = verify(folder)
    expected = (f"records intact: 3 results files chained from {runs['first'].json.name} to {runs['daily'].json.name},"
                f" {len(unchained)} unchained before the chain began (the oldest links to {old[-1]}, removed by "
                f"retention: chain-anchor.json)")
    assert (code, said) == (0, expected), f"exit {code}: {said}"


def tampered(folder, tmp_path, name):
    """A copy of the folder to tamper with (the intact one is shared by this module's tests)."""
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    return copy


def test_verify_records_names_an_altered_file(chained_folder, tmp_path):
    """One changed byte in a kept results file (a failure rewritten as a pass) is named, with the later file whose
    link disagrees; a changed newest file is caught by the head in the state; exit 1."""
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "altered")
    middle = copy / runs["failing"].json.name
    middle.write_text(middle.read_text().replace('"status": "critical"', '"status": "ok"      ', 1))
    code, said = verify(copy)
    assert code == 1 and said.startswith(f"records NOT intact in {copy}: altered: {middle.name} (") \
        and f"{runs['daily'].json.name}, the next file, recorded" in said, f"exit {code}: {said}"
    newest = tampered(folder, tmp_path, "head") / runs["daily"].json.name
    newest.write_bytes(newest.read_bytes() + b" ")
    code, said = verify(newest.parent)
    assert code == 1 and f"altered: {newest.name} (" in said and "head" in said, f"exit {code}: {said}"


def test_verify_records_names_a_missing_file(chained_folder, tmp_path):
    """A removed file in the middle of the chain is named as missing (not the file before it, which it leaves
    unlinked), and so is a removed newest file."""
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "missing")
    (copy / runs["failing"].json.name).unlink()
    code, said = verify(copy)
    assert code == 1 and f": missing: {runs['failing'].json.name} is gone ({runs['daily'].json.name} links to it" \
        in said, f"exit {code}: {said}"
    copy = tampered(folder, tmp_path, "missing-head")
    (copy / runs["daily"].json.name).unlink()
    code, said = verify(copy)
    assert code == 1 and f": missing: {runs['daily'].json.name} is gone (the newest" in said, f"exit {code}: {said}"
    copy = tampered(folder, tmp_path, "anchor-gone")
    (copy / "chain-anchor.json").unlink()
    code, said = verify(copy)
    assert code == 1 and f"{runs['first'].json.name} links to it and chain-anchor.json does not cover it" in said, \
        f"exit {code}: {said}"


def test_verify_records_names_an_inserted_file(chained_folder, tmp_path):
    """A results file copied in (a valid link to a real file, a plausible name) is named as inserted: no later
    file links to it; so is a file without a link dated after the chain began."""
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "inserted")
    name = runs["failing"].json.name.replace("-monitor.json", "-daily.json")
    shutil.copy(copy / runs["daily"].json.name, copy / name)
    code, said = verify(copy)
    assert code == 1 and f": inserted: {name} (no later results file links to it" in said, f"exit {code}: {said}"
    copy = tampered(folder, tmp_path, "unlinked")
    document = json.loads((copy / runs["failing"].json.name).read_text())
    del document["chain"]
    (copy / name).write_text(json.dumps(document))
    code, said = verify(copy)
    assert code == 1 and f": inserted: {name} has no chain link and is dated after the chain began" in said, \
        f"exit {code}: {said}"


def test_verify_records_usage():
    """A folder that does not exist is a usage error (exit 2), not a verdict on the records."""
    code, said = verify("/nonexistent/reports")
    assert code == 2 and "no such directory" in said, f"exit {code}: {said}"


SHORT_LOCK_WAIT = '''
import plugins.history as _history

_history.LOCK_WAIT_S = 1  # the history's lock held by "another run": give up after 1 s, not 20
'''


def test_a_killed_thinned_run_passes_and_a_run_without_the_lock_is_named(mini_project, tmp_path):
    """A thinned run killed before removing its dated file leaves a linked file the head never moved to: pending,
    not a problem. A run that cannot take the history's lock still writes its results file, outside the chain
    ("unlinked", no since-when data), ends with the report folder's error line, and verify-records names it."""
    from test_record import DIE_BEFORE_REPLACING
    run = mini_project(CHECKS, conftest_extra=DIE_BEFORE_REPLACING + SHORT_LOCK_WAIT)
    folder = tmp_path / "reports"
    first = run("-m", "monitor", env={"DIGITALME_ALERTS": "off"})
    time.sleep(1.05)  # the files' names are stamped to the second
    killed = run("-m", "monitor", env={"DIGITALME_ALERTS": "off", "DIE_BEFORE_REPLACING": "latest.html"})
    assert (first.returncode, killed.returncode) == (0, -9), killed
    left = sorted(folder.glob("*-monitor.json"))
    assert len(left) == 2 and json.loads(left[1].read_text())["chain"]["previous"] == left[0].name, left
    code, said = verify(folder)
    assert (code, said.split(" from ")[0]) == (0, "records intact: 1 results files chained"), f"exit {code}: {said}"
    time.sleep(1.05)
    with open(folder / ".history.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run, stuck in the history
        blocked = run("-m", "monitor", env={"DIGITALME_ALERTS": "off", "SLOW_TARGET": "all"})
    document = blocked.results
    assert blocked.returncode == 1 and "the history was locked by another run for 1 s" in blocked.stdout, blocked
    assert document["chain"]["previous"] is None, document["chain"]
    assert document["chain"]["unlinked"].startswith("written outside the chain: the history was locked"), \
        document["chain"]
    assert document["checks"][0]["outcome"] == "failed" and document["checks"][0]["failing_since"] is None, \
        "since-when data without the history's state would be a guess"
    code, said = verify(folder)
    name = document["files"]["json"].rsplit("/", 1)[-1]
    assert code == 1 and f"inserted: {name} (written outside the chain: the history was locked" in said, said


def test_runs_that_finished_out_of_order_still_verify(tmp_path):
    """Overlapping runs chain in the order they wrote (under the history's lock), not their names' order: a daily
    run started at 09:00 and written after the monitor run started at 09:01 verifies, and so does a copy of it
    inserted among them with a stale link."""
    folder = tmp_path / "reports"
    folder.mkdir()
    previous = previous_sha = None
    for name in ("20261130T085500Z-monitor.json", "20261130T090100Z-monitor.json", "20261130T090000Z-daily.json"):
        (folder / name).write_text(json.dumps({"selection": name[17:-5], "chain": {
            "previous": previous, "previous_sha256": previous_sha}}))
        previous, previous_sha = name, sha(folder / name)
    (folder / "history-state.json").write_text(json.dumps({"chain": {"head": previous, "sha256": previous_sha,
                                                                     "pending": []}}))
    code, said = verify(folder)
    assert (code, said) == (0, "records intact: 3 results files chained from 20261130T085500Z-monitor.json to "
                               "20261130T090100Z-monitor.json, 0 unchained before the chain began"), said
    shutil.copy(folder / "20261130T090100Z-monitor.json", folder / "20261130T090200Z-monitor.json")
    code, said = verify(folder)
    assert code == 1 and ": inserted: 20261130T090200Z-monitor.json (" in said, f"exit {code}: {said}"
