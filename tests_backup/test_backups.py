"""Morning Health Check 5 and Monthly Maintenance 2: backups exist, are recent, and restore.

``docker exec digitalme-digitalme-1 ls -la /app/backups/ | tail -5``; test restore with
``PRAGMA integrity_check``. Backups are ``digitalme_YYYYMMDD_HHMMSS.db`` plus manual copies
(``pre-restart-*.db``, ``manual-backup-*.db``, ``pre-update-*.db``); report files are not backups.
"""

import re
import time

import pytest

BACKUP_NAME = re.compile(r"^(digitalme_\d{8}_\d{6}|pre-restart-.*|manual-backup-.*|pre-update-.*)\.db$")
JOB_BACKUP_NAME = re.compile(r"^digitalme_\d{8}_\d{6}\.db$")  # what the backup job writes; the rest are copies by hand
# A file time further ahead of this host's clock than this is clock skew or a future-dated file, never a fresh backup.
# NTP keeps clocks within seconds; 5 minutes spares a host that drifted a little, and no operator needs to tune it.
AHEAD_TOLERANCE_S = 300


def backups_in(container_files, settings):
    """Backup databases in the backup folder, oldest first."""
    if not container_files.backup_dir_listed:  # a folder that could not be read raised ProbeError instead
        pytest.fail(f"{settings.backup_dir} does not exist in {settings.container} (required: the backup folder)")
    return [f for f in container_files.in_folder(settings.backup_dir) if BACKUP_NAME.match(f.name)]


def dated_ahead(backups):
    """The backups whose file time is ahead of this host's clock by more than AHEAD_TOLERANCE_S, most ahead first:
    their age (negative) says nothing about when they were made, so they count as neither recent nor fresh."""
    now = time.time()
    return sorted((f for f in backups if f.mtime - now > AHEAD_TOLERANCE_S), key=lambda f: f.mtime, reverse=True)


def dated_now(backups):
    """The backups not dated ahead (:func:`dated_ahead`): the ones whose age can be judged."""
    ahead = set(dated_ahead(backups))
    return [f for f in backups if f not in ahead]


def not_counted(backups):
    """`` (1 dated in the future, not counted: digitalme_..db 96.0 h ahead)`` beside a finding, or ``""``."""
    ahead = dated_ahead(backups)
    return (f" ({len(ahead)} dated in the future, not counted: {ahead[0].name} {-ahead[0].age_h:.1f} h ahead)"
            if ahead else "")


def listing(container_files, settings):
    return "\n".join(f.ls_line() for f in container_files.in_folder(settings.backup_dir)[-10:])


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(container_files, settings, check):
    """At least {backups_min} backups within {backup_window_days} days.

    The manual's `ls -la /app/backups/ | tail -5`, expected "At least 3 recent backups visible".
    """
    cutoff = time.time() - settings.backup_window_days * 86400
    backups = backups_in(container_files, settings)
    recent = [f for f in dated_now(backups) if f.mtime >= cutoff and f.size > 0]
    check.record(len(recent), settings.backups_min, trend="recent-backups", trend_title="Recent backups")
    check.attach("ls -la /app/backups | tail", listing(container_files, settings))
    beside = not_counted(backups)
    assert len(recent) >= settings.backups_min, (
        f"{len(recent)} backup(s) in the last {settings.backup_window_days:g} days{beside} "
        f"(required: at least {settings.backups_min})")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_newest_backup_fresh(container_files, settings, check):
    """The backup job's newest backup (``digitalme_YYYYMMDD_HHMMSS.db``) is younger than {backup_max_age_h} h.

    The manual's "recent backups"; the app's own backup health: a problem when none within 24 h.
    Manual copies (pre-restart, manual-backup, pre-update) are made by hand: a fresh one says nothing about
    whether the job still runs, so it is named beside the finding, never judged in the job's place.
    """
    listed = backups_in(container_files, settings)
    backups = dated_now(listed)
    jobs = [f for f in backups if JOB_BACKUP_NAME.match(f.name)]
    manual = [f for f in backups if not JOB_BACKUP_NAME.match(f.name)]
    beside = f" (newest manual copy: {manual[-1].name}, {manual[-1].age_h:.1f} h old)" if manual else ""
    beside += not_counted(listed)
    check.attach("ls -la /app/backups | tail", listing(container_files, settings))
    required = f"(required: a backup by the job younger than {settings.backup_max_age_h:g} h)"
    assert backups, f"no backup in {settings.backup_dir}{beside} {required}"
    assert jobs, (f"no backup by the backup job (digitalme_YYYYMMDD_HHMMSS.db) in {settings.backup_dir}{beside} "
                  f"{required}")
    newest = jobs[-1]
    check.record(round(newest.age_h, 2), settings.backup_max_age_h, unit="h")
    assert newest.age_h < settings.backup_max_age_h, (
        f"newest backup {newest.name} is {newest.age_h:.1f} h old{beside} "
        f"(required: younger than {settings.backup_max_age_h:g} h)")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_no_backup_dated_in_the_future(container_files, settings, check):
    """No backup's file time is more than 5 minutes ahead of this host's clock (clock skew or a future-dated file).

    The manual's "recent backups": a backup dated days ahead looks fresh whatever its real age, and one such
    file would hide a dead backup job; the backup checks do not count it, and this check names it.
    """
    backups = backups_in(container_files, settings)
    ahead = dated_ahead(backups)
    lead_h = max([0.0, *((f.mtime - time.time()) / 3600 for f in backups)])
    check.record(round(lead_h, 3), AHEAD_TOLERANCE_S / 3600, unit="h")
    check.attach("ls -la /app/backups | tail", listing(container_files, settings))
    others = f" and {len(ahead) - 1} more" if len(ahead) > 1 else ""
    assert not ahead, (
        f"{ahead[0].name} is dated {-ahead[0].age_h:.1f} h ahead of this host's clock{others}: clock skew or a "
        f"future-dated file, not counted as a recent backup "
        f"(required: no backup more than {AHEAD_TOLERANCE_S // 60} min ahead)")


@pytest.mark.critical
@pytest.mark.emergency("data loss")
@pytest.mark.monthly
@pytest.mark.manual("Monthly Maintenance 2")
def test_newest_backup_restores(container_files, databases, settings, check):
    """The newest backup restores: a copy passes integrity_check and holds every table of the live database.

    The manual's "Test backup restoration process" (`cp` the latest backup, `PRAGMA integrity_check;`).
    The live database (copied out) is the list of tables, so no list is kept by hand; DIGITALME_DB_REQUIRED_TABLES
    adds tables a backup must hold besides.
    """
    backups = backups_in(container_files, settings)
    assert backups, f"no backup in {settings.backup_dir} to restore (required: a backup that restores)"
    newest = backups[-1]
    restored = databases.facts(newest.path, with_journal=False)
    check.record({"backup": newest.name, "integrity": restored.integrity[:200], "tables": len(restored.app_tables)},
                 {"integrity": "ok"})
    assert restored.ok, (f"restored copy of {newest.name} fails integrity_check: {restored.integrity[:200]} "
                         f"(required: integrity_check ok)")
    live = databases.facts(settings.db_path)
    if not live.readable:
        pytest.fail(f"could not be checked: the live database {settings.db_path} cannot be read to compare "
                    f"{newest.name} with ({live.integrity[:200]})")
    # A backup taken before the latest migrations lacks the tables they added, and restores all the same: EF Core
    # applies the missing migrations at start. Only then are the live tables it lacks not required of it.
    behind = newer_migrations(restored.migrations, live.migrations)
    expected = sorted(set(live.app_tables if not behind else ()) | set(settings.db_required_tables))
    missing = [t for t in expected if t not in restored.tables]
    check.record({"backup": newest.name, "integrity": restored.integrity[:200], "tables": len(restored.app_tables)},
                 {"integrity": "ok", "tables": len(expected)})
    check.attach("tables", f"live database ({len(live.app_tables)}): {', '.join(live.app_tables)}\n"
                           f"required besides: {', '.join(settings.db_required_tables) or '(none)'}\n"
                           f"{newest.name} ({len(restored.app_tables)}): {', '.join(restored.app_tables)}"
                           + (f"\n{newest.name} predates migration(s) {', '.join(behind)}: the live tables it lacks "
                              f"({', '.join(sorted(set(live.app_tables) - set(restored.tables))) or 'none'}) "
                              "are added by EF Core when it is restored" if behind else ""))
    assert not missing, (
        f"restored copy of {newest.name} lacks table(s) {', '.join(missing)} (it holds {len(expected) - len(missing)} "
        f"of {len(expected)}) (required: every table of the live database"
        f"{', and ' + ', '.join(settings.db_required_tables) if settings.db_required_tables else ''})")


def newer_migrations(backup, live):
    """The live database's migrations that came after the backup was taken: the backup's history is an older part
    of the live one (a backup with a history of its own, or none at all, is not merely older)."""
    if backup and len(backup) < len(live) and live[:len(backup)] == backup:
        return live[len(backup):]
    return ()
