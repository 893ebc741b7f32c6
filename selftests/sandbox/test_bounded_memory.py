"""Bounded memory on the production host: a weekly run against a ~300 MB database peaks at 150 MB or less
(the database is streamed to disk, never held in memory)."""

import json
import os
import subprocess
import threading

import pytest

import schema_check

from conftest import PYTHON, REPO

pytestmark = pytest.mark.sandbox

DB_MB = 300
PEAK_RSS_MAX_BYTES = 150 * 1000 * 1000

# Ballast in the app's own database, as its user, 10 MiB per transaction: never more than that in the WAL.
GROW = f"""
import sqlite3
db = sqlite3.connect("/app/data/digitalme.db", timeout=30)
db.execute("CREATE TABLE IF NOT EXISTS selftest_ballast (b BLOB)")
for _ in range({DB_MB // 10}):
    db.execute("INSERT INTO selftest_ballast SELECT randomblob(1048576) FROM "
               "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n)")
    db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
"""
SHRINK = """
import sqlite3
db = sqlite3.connect("/app/data/digitalme.db", timeout=30)
db.execute("DROP TABLE IF EXISTS selftest_ballast")
db.commit()
db.execute("VACUUM")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
"""


@pytest.fixture
def big_database(healthy_sandbox):
    """The sandbox's database grown by ~300 MB; shrunk back (dropped and vacuumed) afterwards."""
    try:
        healthy_sandbox.python(GROW)
        yield healthy_sandbox
    finally:
        healthy_sandbox.python(SHRINK)


def run_measured(args, env, log, timeout_s=600):
    """Run a command to its end; (exit code, peak resident set size in bytes) of it and the children it waited
    for, from os.wait4 (ru_maxrss is in KiB on Linux)."""
    with open(log, "wb") as out:
        child = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        killer = threading.Timer(timeout_s, child.kill)  # bounded: a hung run ends here
        killer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return child.returncode, usage.ru_maxrss * 1024


def test_weekly_run_against_a_300mb_database_peaks_at_150mb_or_less(big_database, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}
    env.update(big_database.settings_env)
    env.update({"DIGITALME_REPORT_DIR": str(tmp_path / "reports"), "PYTHONPATH": str(REPO)})
    size = int(big_database.exec("stat -c %s /app/data/digitalme.db").stdout)
    assert size >= DB_MB * 1000 * 1000, f"the database grew to {size} bytes only: the scenario is not the one asked"

    log = tmp_path / "weekly.log"
    code, peak = run_measured([PYTHON, "-m", "pytest", "-m", "weekly", "-p", "no:cacheprovider"], env, log)
    assert code in (0, 1), f"the weekly run did not complete (exit {code}): {log.read_text()[-3000:]}"
    schema_check.assert_results_files(tmp_path / "reports")  # what the run wrote matches the published schema
    results = json.loads((tmp_path / "reports" / "latest.json").read_text())
    integrity = next(c for c in results["checks"] if c["id"].endswith("::test_database_integrity_ok"))
    assert integrity["outcome"] == "passed", f"the database was not read whole: {integrity}"
    print(f"peak RSS of `pytest -m weekly` against a {size / 1e6:.0f} MB database: {peak / 1e6:.1f} MB")
    assert peak <= PEAK_RSS_MAX_BYTES, (
        f"peak RSS of `pytest -m weekly` against a {size / 1e6:.0f} MB database: {peak / 1e6:.1f} MB "
        f"> {PEAK_RSS_MAX_BYTES / 1e6:.0f} MB")
