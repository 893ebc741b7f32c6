"""Keep (step 4 of the alert cycle, cycle.py, and the spool of step 5): the alert state, the outbox and the spool of
blocked runs, under one lock, in ``<report dir>/state/alerts`` (the state folder's layout, plugins/files.py) or
else a private fallback folder.

``state.json`` holds the dedup state (fingerprint -> its episode, episodes.py: when and at which severity it first
and last alerted, when it first alerted at critical (Level 3's escalation clock), the routes told of it, when the
emergency route heard of it, its consecutive failing and passing runs; a check counting towards its threshold is
an entry marked ``waiting``) and the alerts held over the maintenance window; ``outbox.jsonl`` the alerts not yet
delivered, oldest first; ``spool/<run>.json`` the checks of runs that could not get the lock. Everything is written
atomically before the lock is released. No URL is ever written: items name their route (the severity, or
emergency). The folder of earlier versions, ``<report dir>/alerts``, is read like the fallback and emptied (then
removed) by the first run that writes the state: nothing in it is lost.
"""

import contextlib
import hashlib
import json
import os
import stat
import tempfile

from plugins import files
from plugins.files import write_atomically
from plugins.outputs.alerting.episodes import told_route
from plugins.outputs.alerting.records import record

OUTBOX_MAX = 1000  # a receiver down for weeks must not grow the outbox without end


class AlertingError(Exception):
    """Alerting could not proceed; the run's results stand."""


class StateLocked(AlertingError):
    """Another run held the alert state for this run's whole alert budget."""


def alerts_folder(report_dir):
    """``<report dir>/state/alerts``: alerting's files, a folder of their own in the state folder (plugins/files.py)."""
    return os.path.join(os.path.dirname(files.state_path(report_dir, "alerts")), "alerts")


def fallback_folder(report_dir, environ=os.environ):
    """Where the alert state goes when ``<report dir>/state/alerts`` cannot take it: private to this user, one per
    report folder (its absolute path, hashed)."""
    key = hashlib.sha256(os.path.abspath(report_dir).encode()).hexdigest()[:12]
    if environ.get("XDG_STATE_HOME"):
        return os.path.join(environ["XDG_STATE_HOME"], "digitalme-ops", key, "alerts")
    return os.path.join(tempfile.gettempdir(), f"digitalme-ops-{os.getuid()}", key, "alerts")


def private_folder(folder):
    """Make the fallback ``.../digitalme-ops*/<key>/alerts`` private (0700), refusing any of its three levels that
    another user made or that is a symlink (it may live in a shared /tmp)."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for path in (os.path.dirname(os.path.dirname(folder)), os.path.dirname(folder), folder):
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"{path} is not this user's own folder")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)


def reason_of(error):
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


class Store:
    """The alerts folder: ``state.json`` (dedup, routes told, held alerts), ``outbox.jsonl`` (undelivered),
    ``spool/`` (runs blocked at the lock) and the ``lock``; in ``<report dir>/state/alerts``, else the fallback.
    What an earlier version kept in ``<report dir>/alerts`` (``legacy``) is read too, once."""

    STATE, OUTBOX, SPOOL, LOCK = "state.json", "outbox.jsonl", "spool", "lock"

    def __init__(self, report_dir):
        self.primary = alerts_folder(report_dir)
        self.fallback = fallback_folder(report_dir)
        self.legacy = os.path.join(report_dir, "alerts")  # before the state folder: read, then emptied
        self.problem = None  # why the primary could not be used (one line), when it could not
        self.kept_in = None  # the folder the state was written to
        self.spooled = []  # spool files read by this lock holder, removed once the state is written

    def note(self, error):
        if self.problem is None:
            self.problem = reason_of(error)

    def lock_path(self):
        """The lock file, in the report folder or else the fallback (created, so it can be locked); None when
        neither can have one."""
        for folder, make in ((self.primary, lambda f: os.makedirs(f, exist_ok=True)), (self.fallback, private_folder)):
            try:
                make(folder)
                path = os.path.join(folder, self.LOCK)
                open(path, "a").close()
                return path
            except OSError as e:
                if folder == self.primary:
                    self.note(e)
        return None

    @contextlib.contextmanager
    def locked(self, deadline):
        """Exclusive for the read-deliver-write cycle, so two overlapping runs cannot both alert; raises
        StateLocked when another run holds it until ``deadline``."""
        path = self.lock_path()
        if path is None:  # nowhere to keep anything: still alert (at least once), and say so
            yield self
            return
        with files.locked(path, deadline, StateLocked("the alert state stayed locked by another run for the whole "
                                                      "alert budget")):
            yield self

    # reading: the newer of the two folders

    def read_document(self, folder):
        try:
            with open(os.path.join(folder, self.STATE), encoding="utf-8") as f:
                document = json.load(f)
            return document if isinstance(document, dict) else {}
        except (OSError, ValueError):
            return {}  # worst case a repeat alert, never a lost one

    def newest(self):
        """The folder whose state was saved last (the fallback only holds what the report folder could not; the
        earlier versions' folder what they saved before the upgrade)."""
        saved = [(str(self.read_document(folder).get("saved_at", "")), i, folder)
                 for i, folder in enumerate((self.legacy, self.primary, self.fallback))]
        return max(saved)[2] if any(s[0] for s in saved) else self.primary

    def read_state(self):
        """(fingerprint -> its entry (episodes.py), the held alerts)."""
        document = self.read_document(self.newest())
        alerts = document.get("alerts") if isinstance(document.get("alerts"), dict) else {}
        held = document.get("held") if isinstance(document.get("held"), list) else []
        return ({key: entry for key, entry in alerts.items() if isinstance(entry, dict)},
                [item for item in held if isinstance(item, dict) and isinstance(item.get("payload"), dict)
                 and "route" in item])

    def read_outbox(self):
        """The undelivered alerts, oldest first: ``{"payload", "route", "queued_at", "attempts", "last_error"}``."""
        try:
            with open(os.path.join(self.newest(), self.OUTBOX), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        items = []
        for line in lines:
            with contextlib.suppress(ValueError):
                items.append(json.loads(line))
        return [item for item in items if isinstance(item, dict) and "payload" in item and "route" in item]

    def read_spool(self):
        """The blocked runs' spool documents, oldest first (every folder)."""
        found = []
        for folder in (self.primary, self.fallback, self.legacy):
            spool = os.path.join(folder, self.SPOOL)
            with contextlib.suppress(OSError):
                for name in sorted(os.listdir(spool)):
                    if name.startswith(".") or not name.endswith(".json"):
                        continue  # a spool file still being written (write_atomically's temporary name)
                    path = os.path.join(spool, name)
                    try:
                        with open(path, encoding="utf-8") as f:
                            document = json.load(f)
                    except (OSError, ValueError):
                        continue  # unreadable: left for a later holder
                    if isinstance(document, dict) and isinstance(document.get("checks"), list):
                        found.append((str(document.get("now", "")), path, document))
        found.sort(key=lambda f: f[:2])
        self.spooled = [path for _, path, _ in found]
        return [document for _, _, document in found]

    # writing: the report folder, else the fallback

    def write(self, state, held, outbox, now):
        """State and outbox, atomically, where they can be kept; then the consumed spool files go."""
        state_text = json.dumps({"schema": 1, "saved_at": now.isoformat(), "alerts": state, "held": held},
                                indent=1, sort_keys=True)
        outbox_text = "".join(json.dumps(item, sort_keys=True) + "\n" for item in outbox)
        for folder in (self.primary, self.fallback):
            try:
                if folder == self.fallback:
                    private_folder(folder)
                write_atomically(os.path.join(folder, self.OUTBOX), outbox_text)
                write_atomically(os.path.join(folder, self.STATE), state_text)
            except OSError as e:
                self.note(e)
                continue
            self.kept_in = folder
            break
        else:
            return  # nowhere: the alerts went out all the same; the run says the next one may repeat them
        if self.kept_in == self.primary:  # the report folder works again: the fallback's copy is stale now
            for name in (self.STATE, self.OUTBOX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.fallback, name))
        for path in self.spooled:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.retire_legacy()

    def retire_legacy(self):
        """The earlier versions' folder, its state now written here: emptied of what they kept, then removed (its
        lock and spool folder too, when nothing else is in it)."""
        for name in (self.STATE, self.OUTBOX, self.LOCK):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.legacy, name))
        for folder in (os.path.join(self.legacy, self.SPOOL), self.legacy):
            with contextlib.suppress(OSError):
                os.rmdir(folder)

    def write_spool(self, name, document):
        """A blocked run's spool file (its own name: no lock needed); the folder it went to."""
        text = json.dumps(document, sort_keys=True)
        for folder in (self.primary, self.fallback):
            try:
                if folder == self.fallback:
                    private_folder(folder)
                spool = os.path.join(folder, self.SPOOL)
                os.makedirs(spool, exist_ok=True)
                write_atomically(os.path.join(spool, name), text)
                self.kept_in = folder
                return spool
            except OSError as e:
                self.note(e)
        raise AlertingError(f"a run blocked at the alert lock could not spool its alerts in {self.primary} "
                            f"({self.problem}) nor in {self.fallback}")


def keep(store, state, delivered, held, outbox, now):
    """Step 4: the routes told of the ``delivered`` firing alerts (they get its resolved), then the state, the alerts
    still held and the outbox (its newest ``OUTBOX_MAX`` items) written; the records of the older items dropped."""
    for entry in delivered:
        told_route(state, entry)
    outbox, dropped = bounded(outbox)
    store.write(state, held, outbox, now)
    return [record(item["payload"], "dropped", f"outbox over {OUTBOX_MAX} alerts", item["route"], from_outbox=True)
            for item in dropped]


def bounded(outbox):
    """(the outbox cut to its newest ``OUTBOX_MAX`` items, the older items dropped)."""
    return outbox[-OUTBOX_MAX:], outbox[:-OUTBOX_MAX]
