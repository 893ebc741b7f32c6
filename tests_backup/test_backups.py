"""Morning Health Check 5 and Monthly Maintenance 2: backups exist, are recent, and restore.

``docker exec digitalme-digitalme-1 ls -la /app/backups/ | tail -5``; test restore with
``PRAGMA integrity_check``. Backups are ``digitalme_YYYYMMDD_HHMMSS.db`` plus manual copies
(``pre-restart-*.db``, ``manual-backup-*.db``, ``pre-update-*.db``); report files are not backups.
"""

import re
import time

import pytest

BACKUP_NAME = re.compile(r"^(digitalme_\d{8}_\d{6}|pre-restart-.*|manual-backup-.*|pre-update-.*)\.db$")


def backups_in(container_files, settings):
    """Backup databases in the backup folder, oldest first."""
    if not container_files.backup_dir_listed:
        pytest.fail(f"{settings.backup_dir} cannot be listed in {settings.container}: {container_files.errors[:200]}")
    return [f for f in container_files.in_folder(settings.backup_dir) if BACKUP_NAME.match(f.name)]


def listing(container_files, settings):
    return "\n".join(f.ls_line() for f in container_files.in_folder(settings.backup_dir)[-10:])


@pytest.mark.warning
@pytest.mark.daily
def test_enough_recent_backups(container_files, settings, check):
    """At least DIGITALME_BACKUPS_MIN backup databases within DIGITALME_BACKUP_WINDOW_DAYS.

    Manual: Morning 5, `ls -la /app/backups/ | tail -5`; expected "At least 3 recent backups visible".
    """
    cutoff = time.time() - settings.backup_window_days * 86400
    recent = [f for f in backups_in(container_files, settings) if f.mtime >= cutoff and f.size > 0]
    check.record(len(recent), settings.backups_min)
    check.attach("ls -la /app/backups | tail", listing(container_files, settings))
    assert len(recent) >= settings.backups_min, (
        f"{len(recent)} backup(s) in the last {settings.backup_window_days:g} days < {settings.backups_min}")


@pytest.mark.warning
@pytest.mark.daily
def test_newest_backup_fresh(container_files, settings, check):
    """The newest backup is younger than DIGITALME_BACKUP_MAX_AGE_H.

    Manual: Morning 5, "recent backups"; the app's own backup health: a problem when none within 24 h.
    """
    backups = backups_in(container_files, settings)
    assert backups, f"no backup in {settings.backup_dir}"
    newest = backups[-1]
    check.record(round(newest.age_h, 2), settings.backup_max_age_h)
    assert newest.age_h < settings.backup_max_age_h, (
        f"newest backup {newest.name} is {newest.age_h:.1f} h old >= {settings.backup_max_age_h:g} h")


@pytest.mark.critical
@pytest.mark.monthly
def test_newest_backup_restores(container_files, databases, settings, check):
    """The newest backup restores: a copy passes integrity_check and holds the app's tables.

    Manual: Monthly 2, "Test backup restoration process" (`cp` the latest backup, `PRAGMA integrity_check;`).
    """
    backups = backups_in(container_files, settings)
    assert backups, f"no backup in {settings.backup_dir} to restore"
    newest = backups[-1]
    facts = databases.facts(newest.path, with_journal=False)
    missing = [t for t in settings.db_required_tables if t not in facts.tables]
    check.record({"backup": newest.name, "integrity": facts.integrity[:200], "tables": len(facts.tables)},
                 {"integrity": "ok", "tables": list(settings.db_required_tables)})
    assert facts.ok, f"restored copy of {newest.name} fails integrity_check: {facts.integrity[:200]}"
    assert not missing, f"restored copy of {newest.name} lacks table(s) {', '.join(missing)} (has {len(facts.tables)})"
