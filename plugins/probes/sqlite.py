"""SQLite probe: read a database copied out of the container, with Python's sqlite3, read-only.

The real image has no sqlite3 binary, so the manual's ``docker exec ... sqlite3`` cannot run there. The
database, its -wal and -shm are copied into a temporary folder on the checking machine and opened with
``mode=ro``; the live database is never written. A copy taken while the app writes can be torn, so a copy
that does not pass ``integrity_check`` is taken again before the finding stands.
"""

import dataclasses
import os
import shutil
import sqlite3
import tempfile


@dataclasses.dataclass(frozen=True)
class DatabaseFacts:
    integrity: str  # "ok", or what PRAGMA integrity_check (or opening the file) reported
    page_count: int = 0
    freelist_count: int = 0
    page_size: int = 0
    tables: tuple = ()
    migrations: tuple = ()  # EF Core's applied migrations (__EFMigrationsHistory), oldest first

    @property
    def ok(self):
        return self.integrity == "ok"

    @property
    def app_tables(self):
        """The tables of whoever uses the database: all but SQLite's own bookkeeping (``sqlite_sequence``...)."""
        return tuple(t for t in self.tables if not t.startswith("sqlite_"))

    @property
    def readable(self):
        """Its tables could be read (even where integrity_check found damage)."""
        return self.page_count > 0

    @property
    def free_pct(self):
        return 100.0 * self.freelist_count / self.page_count if self.page_count else 0.0


def read_facts(path):
    """Integrity, page counts and table names of a database file (opened read-only)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as e:
        return DatabaseFacts(integrity=f"cannot open: {e}")
    try:
        rows = [r[0] for r in db.execute("PRAGMA integrity_check(20)")]
        pragma = lambda name: db.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        tables = tuple(sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")))
        migrations = tuple(r[0] for r in db.execute(
            'SELECT "MigrationId" FROM "__EFMigrationsHistory" ORDER BY "MigrationId"')) \
            if "__EFMigrationsHistory" in tables else ()
        return DatabaseFacts("; ".join(rows), pragma("page_count"), pragma("freelist_count"),
                             pragma("page_size"), tables, migrations)
    except sqlite3.Error as e:
        return DatabaseFacts(integrity=f"unreadable: {e}")
    finally:
        db.close()


class CopiedDatabases:
    """Temporary copies of databases out of the container, removed by :meth:`close`."""

    def __init__(self, docker_probe, container):
        self.docker = docker_probe
        self.container = container
        self.folder = tempfile.mkdtemp(prefix="digitalme-db-")
        self._facts = {}

    def facts(self, path, with_journal=True):
        """Facts of the database at ``path`` in the container, from a copy (taken again if the first is torn)."""
        if path not in self._facts:
            facts = self._copy_and_read(path, with_journal, attempt=1)
            if not facts.ok and with_journal:
                facts = self._copy_and_read(path, with_journal, attempt=2)
            self._facts[path] = facts
        return self._facts[path]

    def _copy_and_read(self, path, with_journal, attempt):
        folder = os.path.join(self.folder, f"{len(self._facts)}-{attempt}")
        os.makedirs(folder)
        names = [path, path + "-wal", path + "-shm"] if with_journal else [path]
        copied = self.docker.copy_out(self.container, names, folder)
        if not copied or not copied[0].endswith(os.path.basename(path)):
            return DatabaseFacts(integrity=f"{path} is not in the container")
        return read_facts(copied[0])

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)
