"""Faults injected into the sandbox, caught by tests_backup/ (Morning 4-5, Weekly 2, Monthly 2, database size)."""

import pytest

from sandbox import CONTAINER
from conftest import assert_caught, assert_passed

pytestmark = pytest.mark.sandbox
DATABASE = "tests_backup/test_database.py"
BACKUPS = "tests_backup/test_backups.py"
DB = "/app/data/digitalme.db"

# Point an index at another column: its entries no longer match the table, which integrity_check reports.
CORRUPT_INDEX = f"""
import sqlite3
db = sqlite3.connect({DB!r})
db.execute("INSERT INTO Messages (ConversationId, Role, Content, CreatedAt) VALUES (1, 'user', 'hi', '')")
db.commit()
db.execute("PRAGMA writable_schema=ON")
db.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX IX_Messages_ConversationId ON Messages(Content)' "
           "WHERE name = 'IX_Messages_ConversationId'")
db.commit()
"""
# Fill the database, then drop it again: the pages stay, free, until VACUUM.
FRAGMENT = f"""
import sqlite3
db = sqlite3.connect({DB!r})
db.execute("CREATE TABLE selftest_junk (x BLOB)")
db.executemany("INSERT INTO selftest_junk VALUES (?)", [(b"x" * 4000,) for _ in range(400)])
db.commit()
db.execute("DROP TABLE selftest_junk")
db.commit()
"""


@pytest.fixture
def quiet_database(healthy_sandbox):
    """The sandbox with its writer paused and its data folder restored afterwards."""
    healthy_sandbox.control("writer_paused")
    with healthy_sandbox.preserved("/app/data"):
        yield healthy_sandbox


def test_missing_database_is_critical(healthy_sandbox, suite):
    with healthy_sandbox.moved_aside(DB):
        run = suite(f"{DATABASE}::test_database_file_exists")
    assert_caught(run, "test_database_file_exists", "critical", rf"^/app/data/digitalme.db is missing in {CONTAINER}$")


def test_stale_database_is_a_warning(quiet_database, suite):
    quiet_database.exec(f"touch -d '2 days ago' {DB} {DB}-wal")
    run = suite(f"{DATABASE}::test_database_recently_written")
    assert_caught(run, "test_database_recently_written", "warning", r"last written 4[89]\.\d h ago >= 24 h")


def test_corrupt_database_fails_integrity_as_critical(quiet_database, suite):
    quiet_database.python(CORRUPT_INDEX)
    run = suite(f"{DATABASE}::test_database_integrity_ok")
    assert_caught(run, "test_database_integrity_ok", "critical", r"integrity_check of /app/data/digitalme.db: .*(missing from index|wrong # of entries)")


def test_database_copies_are_removed_and_the_live_file_is_only_read(healthy_sandbox, suite):
    import glob
    run = suite(f"{DATABASE}::test_database_integrity_ok", "-p", "no:randomly")
    assert_passed(run, "test_database_integrity_ok")
    assert not glob.glob("/tmp/digitalme-db-*"), "temporary database copies were left behind"


def test_fragmented_database_makes_vacuum_due(quiet_database, suite):
    quiet_database.python(FRAGMENT)
    run = suite(f"{DATABASE}::test_vacuum_not_due")
    assert_caught(run, "test_vacuum_not_due", "warning", r"^\d+ of \d+ pages free \(\d+ % >= 25 %\): VACUUM is due$")


def test_database_over_the_size_limit_is_a_warning(healthy_sandbox, suite):
    run = suite(f"{DATABASE}::test_database_size_below_limit", DIGITALME_DB_SIZE_MAX="16KiB")
    assert_caught(run, "test_database_size_below_limit", "warning", r"^/app/data/digitalme.db is [\d.]+ MiB >= 0.0 MiB$")


def test_too_few_backups_is_a_warning(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("cd /app/backups && ls digitalme_*.db | head -n -2 | xargs rm -f")
        run = suite(f"{BACKUPS}::test_enough_recent_backups")
    check = assert_caught(run, "test_enough_recent_backups", "warning", r"^2 backup\(s\) in the last 7 days < 3$")
    assert "backup_report_" in check["evidence"]["ls -la /app/backups | tail"]


def test_report_files_are_not_backups(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("cd /app/backups && ls digitalme_*.db | head -n -2 | xargs rm -f && "
                             "for n in 1 2 3; do touch backup_report_2026010${n}_000000.txt; done")
        run = suite(f"{BACKUPS}::test_enough_recent_backups")
    assert_caught(run, "test_enough_recent_backups", "warning", r"^2 backup\(s\)")


def test_old_backups_are_a_warning(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("touch -d '3 days ago' /app/backups/*")
        run = suite(f"{BACKUPS}::test_newest_backup_fresh")
    assert_caught(run, "test_newest_backup_fresh", "warning", r"^newest backup digitalme_\d{8}_\d{6}\.db is 7[12]\.\d h old >= 26 h$")


def test_no_backups_at_all_fail_both_backup_checks(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("rm -f /app/backups/*")
        run = suite(BACKUPS, "-m", "daily")
    assert_caught(run, "test_enough_recent_backups", "warning", r"^0 backup\(s\)")
    assert_caught(run, "test_newest_backup_fresh", "warning", r"^no backup in /app/backups$")


def test_corrupt_newest_backup_fails_the_restore_as_critical(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("cd /app/backups && newest=$(ls digitalme_*.db | tail -n 1) && "
                             "head -c 4096 /dev/urandom > \"$newest\"")
        run = suite(f"{BACKUPS}::test_newest_backup_restores")
    assert_caught(run, "test_newest_backup_restores", "critical",
                  r"^restored copy of digitalme_\d{8}_\d{6}\.db fails integrity_check: .*(not a database|malformed|cannot open|unreadable)")


def test_backup_without_the_apps_tables_fails_the_restore_as_critical(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.python("import sqlite3, datetime as d; n = d.datetime.now(d.timezone.utc).strftime('%Y%m%d_%H%M%S'); "
                               "sqlite3.connect(f'/app/backups/digitalme_{n}.db').execute('CREATE TABLE t (x)')")
        run = suite(f"{BACKUPS}::test_newest_backup_restores")
    assert_caught(run, "test_newest_backup_restores", "critical", r"lacks table\(s\) __EFMigrationsHistory, Users \(has 1\)")
