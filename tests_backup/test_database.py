"""Morning Health Check 4, Weekly Maintenance 2 and Performance Monitoring's database size.

``docker exec digitalme-digitalme-1 ls -la /app/data/``; ``sqlite3 ... "PRAGMA integrity_check;"``, ``VACUUM``;
``du -h /app/data/digitalme.db``. The image has no sqlite3: the database is copied out and read here.
"""

import pytest

from plugins.units import mib


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 4", "Health Check Implementation: Check database",
                    "Critical Alerts: Database Unavailable")
def test_database_file_exists(container_files, settings, check):
    """The database file exists in the container.

    The manual's `docker exec digitalme-digitalme-1 ls -la /app/data/` and monitor.sh's
    `test -f /app/data/digitalme.db`.
    """
    database = container_files.get(settings.db_path)
    check.record(database.size if database else None, "present", unit="bytes")
    check.attach("ls -la", "\n".join(f.ls_line() for f in container_files.files.values()
                                       if f.path.startswith(settings.db_path)))
    assert database is not None, f"{settings.db_path} is missing in {settings.container} (required: the database file)"
    assert database.kind.startswith("regular"), (f"{settings.db_path} is a {database.kind}, not a file "
                                                 f"(required: a regular file)")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 4")
def test_database_recently_written(container_files, settings, check):
    """The database (or its -wal) was modified within {db_max_age_h} h.

    The manual expects "Database file: Present with recent timestamp".
    """
    files = [f for f in (container_files.get(settings.db_path), container_files.get(settings.db_path + "-wal")) if f]
    if not files:
        pytest.fail(f"{settings.db_path} is missing in {settings.container} (required: written within "
                    f"{settings.db_max_age_h:g} h)")
    age_h = min(f.age_h for f in files)
    check.record(round(age_h, 2), settings.db_max_age_h, unit="h")
    assert age_h < settings.db_max_age_h, (
        f"{settings.db_path} last written {age_h:.1f} h ago (required: within {settings.db_max_age_h:g} h)")


@pytest.mark.critical
@pytest.mark.emergency("data loss")
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 2")
def test_database_integrity_ok(databases, settings, check):
    """`PRAGMA integrity_check` of the database is ok.

    The manual's `sqlite3 /app/data/digitalme.db "PRAGMA integrity_check;"`.
    """
    facts = databases.facts(settings.db_path)
    check.record(facts.integrity, "ok")
    assert facts.ok, f"integrity_check of {settings.db_path}: {facts.integrity[:300]} (required: ok)"


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 2")
def test_vacuum_not_due(databases, settings, check):
    """The database's free pages are below {db_free_pct_max} % of its pages (VACUUM not due).

    The manual's `sqlite3 /app/data/digitalme.db "VACUUM;"`.
    """
    facts = databases.facts(settings.db_path)
    if not facts.page_count:
        pytest.fail(f"could not be checked: {settings.db_path}: {facts.integrity}")
    check.record(round(facts.free_pct, 1), settings.db_free_pct_max, unit="pct")
    assert facts.free_pct < settings.db_free_pct_max, (
        f"{facts.freelist_count} of {facts.page_count} pages free ({facts.free_pct:.0f} %): VACUUM is due "
        f"(required: below {settings.db_free_pct_max:g} %)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.daily
@pytest.mark.manual("Key Performance Metrics: Database Performance", "Deployment Guide: Scaling")
def test_database_size_below_limit(container_files, settings, check):
    """The database (with its -wal) is below {db_size_max}.

    The manual's `du -h /app/data/digitalme.db`; the deployment guide: plan scaling at 1 GB.
    """
    files = [container_files.get(settings.db_path + suffix) for suffix in ("", "-wal")]
    if files[0] is None:
        pytest.fail(f"{settings.db_path} is missing in {settings.container} (required: the database file)")
    size = sum(f.size for f in files if f)
    check.record(size, settings.db_size_max, unit="bytes", trend="database-size", trend_title="Database size")
    assert size < settings.db_size_max, (
        f"{settings.db_path} is {mib(size, decimals=1)} (required: below {mib(settings.db_size_max, decimals=1)})")
