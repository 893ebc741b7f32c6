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
    assert_caught(run, "test_database_file_exists", "critical", rf"^/app/data/digitalme.db is missing in {CONTAINER} \(required: the database file\)$")


def test_stale_database_is_a_warning(quiet_database, suite):
    quiet_database.exec(f"touch -d '2 days ago' {DB} {DB}-wal")
    run = suite(f"{DATABASE}::test_database_recently_written")
    assert_caught(run, "test_database_recently_written", "warning", r"last written 4[89]\.\d h ago \(required: within 24 h\)$")


def test_corrupt_database_fails_integrity_as_critical(quiet_database, suite):
    quiet_database.python(CORRUPT_INDEX)
    run = suite(f"{DATABASE}::test_database_integrity_ok")
    assert_caught(run, "test_database_integrity_ok", "critical", r"^integrity_check of /app/data/digitalme.db: .*(missing from index|wrong # of entries).* \(required: ok\)$")


def test_database_copies_are_removed_and_the_live_file_is_only_read(healthy_sandbox, suite, tmp_path):
    # A private temporary folder: other runs on this machine make (and remove) copies of their own in /tmp.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    run = suite(f"{DATABASE}::test_database_integrity_ok", "-p", "no:randomly", TMPDIR=scratch)
    assert_passed(run, "test_database_integrity_ok")
    assert not list(scratch.glob("digitalme-db-*")), "temporary database copies were left behind"


def test_fragmented_database_makes_vacuum_due(quiet_database, suite):
    quiet_database.python(FRAGMENT)
    run = suite(f"{DATABASE}::test_vacuum_not_due")
    assert_caught(run, "test_vacuum_not_due", "warning", r"^\d+ of \d+ pages free \(\d+ %\): VACUUM is due \(required: below 25 %\)$")


def test_database_over_the_size_limit_is_a_warning(healthy_sandbox, suite):
    run = suite(f"{DATABASE}::test_database_size_below_limit", DIGITALME_DB_SIZE_MAX="16KiB")
    assert_caught(run, "test_database_size_below_limit", "warning", r"^/app/data/digitalme.db is [\d.]+ MiB \(required: below 0.0 MiB\)$")


def test_too_few_backups_is_a_warning(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("cd /app/backups && ls digitalme_*.db | head -n -2 | xargs rm -f")
        run = suite(f"{BACKUPS}::test_enough_recent_backups")
    check = assert_caught(run, "test_enough_recent_backups", "warning", r"^2 backup\(s\) in the last 7 days \(required: at least 3\)$")
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
    assert_caught(run, "test_newest_backup_fresh", "warning", r"^newest backup digitalme_\d{8}_\d{6}\.db is 7[12]\.\d h old \(required: younger than 26 h\)$")


NEWEST_JOB_BACKUP = "/app/backups/$(ls /app/backups | grep '^digitalme_' | tail -n 1)"


def test_backup_dated_in_the_future_is_clock_skew_and_never_fresh(healthy_sandbox, suite):
    """The job's backups are 3 days old (a dead job), and the newest of them is dated 96 h ahead (a clock set wrong,
    or a file copied in from one): it is named, with how far ahead, and counts as neither fresh nor recent."""
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec(f"touch -d '3 days ago' /app/backups/* && touch -d '96 hours' {NEWEST_JOB_BACKUP}")
        listed = int(healthy_sandbox.exec("ls /app/backups | grep -c '^digitalme_'").stdout)
        run = suite(BACKUPS, "-m", "daily")
    ahead = r"digitalme_\d{8}_\d{6}\.db 9[56]\.\d h ahead"
    check = assert_caught(run, "test_no_backup_dated_in_the_future", "warning",
                          r"^digitalme_\d{8}_\d{6}\.db is dated 9[56]\.\d h ahead of this host's clock: clock skew "
                          r"or a future-dated file, not counted as a recent backup "
                          r"\(required: no backup more than 5 min ahead\)$")
    assert 95.9 < check["value"] <= 96.1 and check["threshold"] == 300 / 3600 and check["unit"] == "h", check
    assert_caught(run, "test_newest_backup_fresh", "warning",
                  rf"^newest backup digitalme_\d{{8}}_\d{{6}}\.db is 7[12]\.\d h old "
                  rf"\(1 dated in the future, not counted: {ahead}\) \(required: younger than 26 h\)$")
    recent = run.check("test_enough_recent_backups")
    assert recent["value"] == listed - 1, f"the future-dated backup was counted as recent: {recent} of {listed}"


def test_backup_a_minute_ahead_is_within_the_tolerance(healthy_sandbox, suite):
    """A host clock a little fast (2 minutes, under the 5 minutes allowed): no finding, and the backup is fresh."""
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec(f"touch -d '2 minutes' {NEWEST_JOB_BACKUP}")
        run = suite(f"{BACKUPS}::test_no_backup_dated_in_the_future", f"{BACKUPS}::test_newest_backup_fresh")
    assert run.returncode == 0, run
    check = assert_passed(run, "test_no_backup_dated_in_the_future")
    assert 0.02 < check["value"] < 0.04 and check["threshold"] == 300 / 3600, check
    assert_passed(run, "test_newest_backup_fresh")


def test_no_backups_at_all_fail_both_backup_checks(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("rm -f /app/backups/*")
        run = suite(BACKUPS, "-m", "daily")
    assert_caught(run, "test_enough_recent_backups", "warning", r"^0 backup\(s\)")
    assert_caught(run, "test_newest_backup_fresh", "warning", r"^no backup in /app/backups \(required: a backup by the job younger than 26 h\)$")


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
    assert_caught(run, "test_newest_backup_restores", "critical",
                  r"lacks table\(s\) ApiConfigurations, .*AspNetUsers, .*__EFMigrationsHistory \(it holds 0 of 20\) "
                  r"\(required: every table of the live database\)$")


# A backup made the job's way (SQLite's online backup of the live database), then one table dropped from it.
BACKUP_WITHOUT = """
import sqlite3, datetime as d
name = d.datetime.now(d.timezone.utc).strftime('/app/backups/digitalme_%Y%m%d_%H%M%S.db')
with sqlite3.connect('/app/data/digitalme.db') as live, sqlite3.connect(name) as copy:
    live.backup(copy)
copy = sqlite3.connect(name)
copy.execute('DROP TABLE "{table}"')
copy.commit()
"""


def test_healthy_backups_restore_with_every_table_of_the_live_database(healthy_sandbox, suite):
    run = suite(f"{BACKUPS}::test_newest_backup_restores")
    check = assert_passed(run, "test_newest_backup_restores")
    assert check["value"]["tables"] == 20 and check["threshold"] == {"integrity": "ok", "tables": 20}, check
    assert "AspNetUsers" in check["evidence"]["tables"] and "required besides: (none)" in check["evidence"]["tables"]


def test_backup_missing_one_table_of_the_live_database_is_critical_naming_it(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.python(BACKUP_WITHOUT.format(table="TelegramMessages"))
        run = suite(f"{BACKUPS}::test_newest_backup_restores")
    assert_caught(run, "test_newest_backup_restores", "critical",
                  r"^restored copy of digitalme_\d{8}_\d{6}\.db lacks table\(s\) TelegramMessages "
                  r"\(it holds 19 of 20\) \(required: every table of the live database\)$")


# An update's migration, as EF Core applies it at start: a new table and its row in the history.
MIGRATE_LIVE = f"""
import sqlite3
db = sqlite3.connect({DB!r})
db.execute('CREATE TABLE "SelftestReminders" ("Id" INTEGER PRIMARY KEY, "Text" TEXT NOT NULL)')
db.execute('INSERT INTO "__EFMigrationsHistory" VALUES (?, ?)', ("29990101000000_AddSelftestReminders", "8.0.8"))
db.commit()
"""


def test_backup_taken_before_the_latest_migration_restores(quiet_database, suite):
    """The newest backup lacks a table that a migration added after it was taken: EF Core adds it on restore."""
    quiet_database.python(MIGRATE_LIVE)
    run = suite(f"{BACKUPS}::test_newest_backup_restores")
    check = assert_passed(run, "test_newest_backup_restores")
    assert "predates migration(s) 29990101000000_AddSelftestReminders" in check["evidence"]["tables"], check
    assert "(SelftestReminders)" in check["evidence"]["tables"], check


def test_backup_missing_a_table_with_the_same_migrations_is_critical(quiet_database, suite):
    """Same history as the live database, yet a table is gone: that backup would not restore the app."""
    with quiet_database.preserved("/app/backups"):
        quiet_database.python(MIGRATE_LIVE)
        quiet_database.python(BACKUP_WITHOUT.format(table="SelftestReminders"))
        run = suite(f"{BACKUPS}::test_newest_backup_restores")
    assert_caught(run, "test_newest_backup_restores", "critical",
                  r"lacks table\(s\) SelftestReminders \(it holds 20 of 21\) \(required: every table of the live database\)$")


def test_required_tables_are_an_addition_to_the_live_databases(healthy_sandbox, suite):
    run = suite(f"{BACKUPS}::test_newest_backup_restores", DIGITALME_DB_REQUIRED_TABLES="AspNetUsers,AuditTrail")
    assert_caught(run, "test_newest_backup_restores", "critical",
                  r"lacks table\(s\) AuditTrail \(it holds 20 of 21\) \(required: every table of the live database, and "
                  r"AspNetUsers, AuditTrail\)$")


def test_fresh_manual_copy_does_not_hide_a_dead_backup_job(healthy_sandbox, suite):
    """The job's backups are 3 days old; someone copied the database before a restart an hour ago."""
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("touch -d '3 days ago' /app/backups/* && "
                             "cp /app/backups/$(ls /app/backups | grep '^digitalme_' | tail -n 1) /app/backups/pre-restart-x.db && "
                             "touch -d '1 hour ago' /app/backups/pre-restart-x.db")
        run = suite(f"{BACKUPS}::test_newest_backup_fresh")
    assert_caught(run, "test_newest_backup_fresh", "warning",
                  r"^newest backup digitalme_\d{8}_\d{6}\.db is 7[12]\.\d h old "
                  r"\(newest manual copy: pre-restart-x\.db, 1\.0 h old\) \(required: younger than 26 h\)$")


def test_only_manual_copies_are_no_backup_by_the_job(healthy_sandbox, suite):
    with healthy_sandbox.preserved("/app/backups"):
        healthy_sandbox.exec("cd /app/backups && cp $(ls digitalme_*.db | tail -n 1) manual-backup-today.db && "
                             "rm -f digitalme_*.db")
        run = suite(f"{BACKUPS}::test_newest_backup_fresh")
    assert_caught(run, "test_newest_backup_fresh", "warning",
                  r"^no backup by the backup job \(digitalme_YYYYMMDD_HHMMSS\.db\) in /app/backups "
                  r"\(newest manual copy: manual-backup-today\.db, 0\.0 h old\) \(required: a backup by the job younger than 26 h\)$")


def test_restore_without_a_readable_live_database_could_not_be_checked(healthy_sandbox, suite):
    with healthy_sandbox.moved_aside(DB):
        run = suite(f"{BACKUPS}::test_newest_backup_restores")
    assert_caught(run, "test_newest_backup_restores", "critical",
                  r"^could not be checked: the live database /app/data/digitalme\.db cannot be read to compare "
                  r"digitalme_\d{8}_\d{6}\.db with \(", outcome="error")
