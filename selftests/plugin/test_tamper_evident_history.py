"""The tamper-evident history (issue 14, issue 23 point 8): each results file links to the previous kept one by
name and SHA-256 and records the HTML records written since, retention leaves an anchor, the state records what
latest.json and latest.html hold, runs started in the same second keep both records, and scripts/verify-records
lists every altered, missing or inserted file (results files, HTML records, latest.*), with documented exit codes.

Runs of the history selftests' mini project (test_history_year.py) with the suite's real plugins write the chain;
the tampering is done on copies of that one folder, so each case costs a verify-records run, not more suite runs.
"""

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import schema_check

from conftest import REPO, run_pytest
from test_history_year import CHECKS

VERIFY = REPO / "scripts" / "verify-records"


def verify(folder=None, env=None, cwd=None):
    """verify-records on ``folder`` (none: as the suite finds it, from ``env`` and ``cwd``): (exit code, output)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}
    done = subprocess.run([sys.executable, str(VERIFY), *([str(folder)] if folder is not None else [])],
                          capture_output=True, text=True, timeout=60, env={**environment, **(env or {})}, cwd=cwd)
    return done.returncode, (done.stdout + done.stderr).strip()


def problems_of(said):
    """The problems verify-records listed, one a line under its NOT intact line."""
    return [line.strip() for line in said.splitlines()[1:]]


def chain_of(path):
    return json.loads(path.read_text())["chain"]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def old_files(folder, now):
    """What a folder of a long-lived install holds before this run: two results files of an earlier version (no
    chain, 30 days old, daily: kept 400 days) and three chained monitor files 20 days old (retention removes
    them: monitor:10), the newest of them the head kept in the history's state."""
    from plugins.outputs.history import bookkeeping, store
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
    state = bookkeeping.empty_state()
    state["chain"] = {"head": previous, "sha256": previous_sha, "pending": []}
    (folder / "state").mkdir()
    Path(store.state_file(str(folder))).write_text(json.dumps(state))
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
    assert link(repeat.doc["chain"]) == {"previous": first.json.name, "previous_sha256": sha(first.json)}, \
        f"the thinned run's latest.json should still show its link: {repeat.doc.get('chain')}"
    assert link(chain_of(failing.json)) == {"previous": first.json.name, "previous_sha256": sha(first.json)}, \
        f"the run after a thinned one must link past it to the previous kept file: {chain_of(failing.json)}"
    assert link(chain_of(daily.json)) == {"previous": failing.json.name, "previous_sha256": sha(failing.json)}, \
        chain_of(daily.json)
    html = {run: run.json.with_suffix(".html") for run in (first, failing, daily)}
    assert chain_of(first.json)["records"] == {}, "the first run of this version has no record of its own to link"
    assert chain_of(failing.json)["records"] == {html[first].name: sha(html[first])}, \
        f"the next kept file (past the thinned one) should record the first run's HTML record: {chain_of(failing.json)}"
    assert chain_of(daily.json)["records"] == {html[failing].name: sha(html[failing])}, chain_of(daily.json)
    state = json.loads((folder / "state" / "history.json").read_text())
    assert (state["chain"]["head"], state["chain"]["sha256"]) == (daily.json.name, sha(daily.json)), state["chain"]
    assert state["chain"]["records"] == {html[daily].name: sha(html[daily])}, "the newest record: in the state"
    assert state["chain"]["latest"] == {"name": daily.json.name, "sha256": sha(daily.json)}, state["chain"]
    assert state["chain"]["latest_html"] == {"name": html[daily].name, "sha256": sha(html[daily])}, state["chain"]
    assert (folder / "latest.html").read_bytes() == html[daily].read_bytes(), "latest.html: the newest run's record"
    lines = [json.loads(line) for path in folder.glob("history-*.jsonl") for line in path.read_text().splitlines()]
    assert {(s["file"], s["sha256"]) for s in lines if s["kept"] == "full"} >= {(daily.json.name, sha(daily.json))}, \
        "the run's history line should carry its results file's SHA-256"
    for run in (first, failing, daily):  # the hash config.stash[RESULTS_SHA256] had: the file's, as written
        assert sha(run.json) in run.json.with_suffix(".html").read_text(), f"{run.json.name}'s record lacks its hash"
    month = next(folder.glob("history-*.html")).read_text()  # written by the day's first run: the first run's row
    assert f'title="SHA-256 of the results file: {sha(first.json)}">{sha(first.json)[:12]}</code>' in month, \
        "the month page's row should show the results file's hash"


def link(chain):
    return {key: chain[key] for key in ("previous", "previous_sha256")}


def test_a_lost_state_gets_the_chain_head_back_from_the_lines(chained_folder, tmp_path):
    """A state rebuilt from the month files (lost, unreadable) takes the head from the newest kept run's line, so
    the next run links to it rather than starting a second chain, and the head's HTML record again (its hash was
    in the lost state only), so the next run links that too rather than verify-records naming it."""
    from plugins.outputs.history import migration, store
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "rebuilt")
    Path(store.state_file(str(copy))).write_text("{not json")
    state = migration.start(str(copy), "unused", dt.datetime.now(dt.timezone.utc))
    daily = runs["daily"].json
    assert (state["chain"]["head"], state["chain"]["sha256"]) == (daily.name, sha(daily)), state["chain"]
    assert state["chain"]["records"] == {daily.with_suffix(".html").name: sha(daily.with_suffix(".html"))}, \
        state["chain"]


def test_verify_records_passes_an_intact_folder(chained_folder):
    """verify-records exits 0 with one line on the intact folder: the chained files, the old unchained ones
    before the chain began (not a failure), the anchor for the oldest kept file, the HTML records, latest.*.

    Manual: Health Check Implementation - echo "[$TIMESTAMP] $1" >> $LOG_FILE (the record, unaltered)
    """
    folder, runs, unchained, old = chained_folder
    code, said = verify(folder)
    expected = (f"records intact: 3 results files chained from {runs['first'].json.name} to {runs['daily'].json.name},"
                f" {len(unchained)} unchained before the chain began (the oldest links to {old[-1]}, removed by "
                f"retention: chain-anchor.json); 3 HTML records match the chain; latest.json and latest.html checked")
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
    assert code == 1 and said.startswith(f"records NOT intact in {copy}: 1 problem\n  altered: {middle.name} (") \
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
    assert code == 1 and problems_of(said)[0].startswith(
        f"missing: {runs['failing'].json.name} is gone ({runs['daily'].json.name} links to it"), f"exit {code}: {said}"
    copy = tampered(folder, tmp_path, "missing-head")
    (copy / runs["daily"].json.name).unlink()
    code, said = verify(copy)
    assert code == 1 and f"\n  missing: {runs['daily'].json.name} is gone (the newest" in said, f"exit {code}: {said}"
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
    assert code == 1 and f"\n  inserted: {name} (no later results file links to it" in said, f"exit {code}: {said}"
    copy = tampered(folder, tmp_path, "unlinked")
    document = json.loads((copy / runs["failing"].json.name).read_text())
    del document["chain"]
    (copy / name).write_text(json.dumps(document))
    code, said = verify(copy)
    assert code == 1 and f"\n  inserted: {name} has no chain link and is dated after the chain began" in said, \
        f"exit {code}: {said}"


def test_verify_records_usage():
    """A folder that does not exist is a usage error (exit 2), not a verdict on the records."""
    code, said = verify("/nonexistent/reports")
    assert code == 2 and "no such directory" in said, f"exit {code}: {said}"


SHORT_LOCK_WAIT = '''
import plugins.outputs.history.store as _history

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
    with open(folder / "state" / "history.json.lock", "a") as lock:
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
    inserted among them with a stale link. The folder is an earlier version's (links without ``"records"``, a
    state without ``"latest"``, HTML records and latest.* it never chained): no false alarm about them, and its
    latest.json is still compared with the results file it names."""
    folder = tmp_path / "reports"
    folder.mkdir()
    previous = previous_sha = None
    for name in ("20261130T085500Z-monitor.json", "20261130T090100Z-monitor.json", "20261130T090000Z-daily.json"):
        (folder / name).write_text(json.dumps({"selection": name[17:-5], "files": {
            "json": f"/opt/digitalme-ops/reports/{name}", "html": f"/opt/digitalme-ops/reports/{name[:-5]}.html"},
            "chain": {"previous": previous, "previous_sha256": previous_sha}}))
        (folder / name).with_suffix(".html").write_text(f"<html>{name}</html>")
        previous, previous_sha = name, sha(folder / name)
    shutil.copy(folder / previous, folder / "latest.json")
    shutil.copy((folder / previous).with_suffix(".html"), folder / "latest.html")
    (folder / "history-state.json").write_text(json.dumps({"chain": {"head": previous, "sha256": previous_sha,
                                                                     "pending": []}}))
    code, said = verify(folder)
    assert (code, said) == (0, "records intact: 3 results files chained from 20261130T085500Z-monitor.json to "
                               "20261130T090100Z-monitor.json, 0 unchained before the chain began; 0 HTML records "
                               "match the chain, 3 of an earlier version not chained; latest.json and latest.html "
                               "checked"), said
    (folder / "latest.json").write_text((folder / "latest.json").read_text().replace('"selection": "daily"',
                                                                                     '"selection": "weekly"'))
    shutil.copy(folder / "20261130T090100Z-monitor.json", folder / "20261130T090200Z-monitor.json")
    code, said = verify(folder)
    assert code == 1 and problems_of(said)[0].startswith("altered: latest.json differs from 20261130T090000Z-daily"
                                                         ".json, the results file it names") \
        and problems_of(said)[1].startswith("inserted: 20261130T090200Z-monitor.json ("), f"exit {code}: {said}"


def test_verify_records_lists_every_problem(chained_folder, tmp_path):
    """Several problems at once are all listed, one a line, altered first, then missing, then inserted: an
    altered results file, an HTML record removed, another altered, latest.json and latest.html edited, and an
    HTML record copied in.

    Manual: Health Check Implementation - echo "[$TIMESTAMP] $1" >> $LOG_FILE (the record, unaltered)
    """
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "many")
    first, failing, daily = (copy / runs[n].json.name for n in ("first", "failing", "daily"))
    first.write_bytes(first.read_bytes().replace(b'"status": "ok"', b'"status": "OK"', 1))
    failing.with_suffix(".html").unlink()
    record = daily.with_suffix(".html")
    record.write_text(record.read_text().replace("</body>", "<p>Reviewed: all fine</p></body>"))
    latest = copy / "latest.json"
    latest.write_text(latest.read_text().replace('"status": "ok"', '"status": "critical"', 1))
    (copy / "latest.html").write_text((copy / "latest.html").read_text() + "<!-- -->")
    fake = daily.name.replace("-daily.json", "-weekly.html")
    shutil.copy(record, copy / fake)
    code, said = verify(copy)
    problems = problems_of(said)
    assert code == 1 and said.startswith(f"records NOT intact in {copy}: {len(problems)} problems"), said
    expected = [f"altered: {first.name} (", f"altered: {daily.with_suffix('.html').name} (its SHA-256 is ",
                "altered: latest.html (its SHA-256 is ", "altered: latest.json differs from " + daily.name,
                f"missing: {failing.with_suffix('.html').name} is gone ({daily.name} recorded its SHA-256",
                f"inserted: {fake} has no results file and nothing in the chain records it"]
    assert len(problems) == len(expected) and all(p.startswith(e) for p, e in zip(problems, expected)), \
        "expected, one a line:\n" + "\n".join(expected) + f"\nfound (exit {code}):\n{said}"
    assert f"{STATE_NAME} recorded" in problems[1] and f"{STATE_NAME} recorded" in problems[2], problems


STATE_NAME = "state/history.json"


def test_verify_records_covers_latest_json(chained_folder, tmp_path):
    """latest.json must be the newest run the history recorded, as written: an older intact results file copied
    over it (yesterday's green day shown as latest) is named, and so is a removed latest.json."""
    folder, runs, _, _ = chained_folder
    copy = tampered(folder, tmp_path, "stale-latest")
    shutil.copy(copy / runs["first"].json.name, copy / "latest.json")
    code, said = verify(copy)
    assert (code, problems_of(said)) == (1, [
        f"altered: latest.json holds {runs['first'].json.name}, but the newest run {STATE_NAME} recorded is "
        f"{runs['daily'].json.name}"]), f"exit {code}: {said}"
    (copy / "latest.json").unlink()
    (copy / "latest.html").unlink()
    code, said = verify(copy)
    assert (code, problems_of(said)) == (1, [
        f"missing: latest.html is gone ({STATE_NAME} records it holds {runs['daily'].json.with_suffix('.html').name})",
        f"missing: latest.json is gone ({STATE_NAME} records it holds {runs['daily'].json.name})"]), \
        f"exit {code}: {said}"


def test_verify_records_finds_its_folder_as_the_suite_does(chained_folder, tmp_path):
    """No argument: DIGITALME_REPORT_DIR, else pytest.ini's digitalme_report_dir, else reports/ of the current
    folder; a folder without results files is "nothing to verify", exit 3 (not "records intact"); an unknown
    option is a usage error, exit 2; `make verify-records` exits 0 when intact and fails when not."""
    folder, _, _, _ = chained_folder
    empty = tmp_path / "reports"
    empty.mkdir()
    code, said = verify(cwd=tmp_path)
    assert (code, said.split(":")[0]) == (3, "nothing to verify") and "reports holds no results file" in said, \
        f"exit {code}: {said}"
    code, said = verify(env={"DIGITALME_REPORT_DIR": str(folder)}, cwd=tmp_path)
    assert code == 0 and said.startswith("records intact: 3 results files"), f"exit {code}: {said}"
    (tmp_path / "pytest.ini").write_text(f"[pytest]\ndigitalme_report_dir = {folder}\n")
    code, said = verify(cwd=tmp_path)
    assert code == 0 and said.startswith("records intact: 3 results files"), f"exit {code}: {said}"
    code, said = verify(env={"DIGITALME_REPORT_DIR": str(empty)}, cwd=tmp_path)
    assert code == 3, f"the environment should win over pytest.ini, as in the suite: exit {code}: {said}"
    code, said = verify("--all")
    assert code == 2 and "usage" in said, f"exit {code}: {said}"
    code, said = verify("--help")
    assert code == 0 and "3  nothing to verify" in said, f"exit {code}: {said}"
    made = subprocess.run(["make", "-s", "verify-records", f"DIR={folder}"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0 and made.stdout.startswith("records intact"), made
    made = subprocess.run(["make", "-s", "verify-records", f"DIR={empty}"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert made.returncode != 0 and "nothing to verify" in made.stdout and "Error 3" in made.stderr, made


SAME_SECOND = '''
import os as _os
import time as _time
from pathlib import Path as _Path


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Both runs meet here, right before the plugins' configure, however long their start took on a loaded machine:
    each marks itself ready in READY_DIR and waits for the other; then both sleep to 0.1 s past the whole second after
    the later mark (the same second for both, read from the marks) and name their run together. (Without READY_DIR,
    a run of its own: it starts at once.)"""
    if "READY_DIR" not in _os.environ:
        return
    ready = _Path(_os.environ["READY_DIR"])
    (ready / str(_os.getpid())).touch()
    while len(list(ready.iterdir())) < 2:
        _time.sleep(0.01)
    start = int(max(mark.stat().st_mtime for mark in ready.iterdir())) + 1.1
    _time.sleep(max(0.0, start - _time.time()))
'''


def test_runs_started_in_the_same_second_keep_both_records(mini_project, tmp_path):
    """Two runs of one schedule started together (two processes, the same second in their names) keep both
    results files and HTML records (the second named ``_2``), one links to the other, and the folder verifies;
    a thinned run's latest.json verifies too, and an edit to it is named.

    Manual: Health Check Implementation - echo "[$TIMESTAMP] $1" >> $LOG_FILE (every run on record)
    """
    run = mini_project(CHECKS, conftest_extra=SAME_SECOND)
    folder = tmp_path / "reports"
    ready = tmp_path / "ready"  # where both runs meet before they start together (SAME_SECOND)
    ready.mkdir()
    env = {**os.environ, "DIGITALME_REPORT_DIR": str(folder), "PYTHONPATH": str(REPO), "DIGITALME_ALERTS": "off",
           "READY_DIR": str(ready)}
    env = {k: v for k, v in env.items() if not k.startswith("DIGITALME_") or k in (
        "DIGITALME_REPORT_DIR", "DIGITALME_ALERTS")}
    both = [subprocess.Popen([sys.executable, "-m", "pytest", "-m", "daily"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    schema_check.assert_results_files(folder)  # what both runs wrote matches the published schema
    start = int(max(mark.stat().st_mtime for mark in ready.iterdir())) + 1  # the second both started in
    stamp = dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    names = sorted(p.name for p in folder.glob("*-daily*.*"))
    assert names == [f"{stamp}-daily.html", f"{stamp}-daily.json", f"{stamp}-daily_2.html",
                     f"{stamp}-daily_2.json"], f"both runs' results files and records, named apart: {names}"
    links = {name: chain_of(folder / name) for name in (f"{stamp}-daily.json", f"{stamp}-daily_2.json")}
    first, second = sorted(links, key=lambda name: links[name]["previous"] is not None)  # in the order written
    assert (links[first]["previous"], links[second]["previous"], links[second]["previous_sha256"]) == \
        (None, first, sha(folder / first)), f"the file written second should link to the first: {links}"
    state = json.loads((folder / "state" / "history.json").read_text())
    recorded = {**links[second]["records"], **state["chain"]["records"]}
    records = [(folder / name).with_suffix(".html") for name in (first, second)]
    assert recorded == {path.name: sha(path) for path in records}, \
        f"each record's hash in the second file's link or (written after it) in the state: {recorded}"
    assert not list(folder.glob(".claim-*")), "the runs' claims on their names should be gone after them"
    code, said = verify(folder)
    assert code == 0 and said.startswith("records intact: 2 results files chained") \
        and "; 2 HTML records match the chain" in said, f"exit {code}: {said}"
    for n in range(2):  # the first monitor run is kept, the second (a repeat) thinned: latest.json rewritten
        time.sleep(1.05)
        assert run("-m", "monitor", env={"DIGITALME_ALERTS": "off"}, report_dir=folder).returncode == 0
    latest = json.loads((folder / "latest.json").read_text())
    assert latest.get("thinned") is True, "the repeated monitor run should have been thinned"
    code, said = verify(folder)
    assert code == 0 and "latest.json and latest.html checked" in said, f"exit {code}: {said}"
    (folder / "latest.json").write_text(json.dumps({**latest, "status": "critical"}, indent=1))
    code, said = verify(folder)
    assert code == 1 and problems_of(said)[0].startswith("altered: latest.json (as its run wrote it, SHA-256 "), \
        f"exit {code}: {said}"
