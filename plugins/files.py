"""What every stage that keeps a file shares: atomic writes, one slug, one layout of the state folder, one lock.

A run keeps what the next one needs in ``<report dir>/state/<name>[-<target>].json`` (CPU counters, compose's
answer, the probes a schedule used, log entries reported, failing streaks); a fleet's targets each keep their
own. Overlapping runs take turns through :func:`locked`, which never waits longer than its deadline.
No hooks of its own.
"""

import contextlib
import fcntl
import os
import re
import tempfile
import time

_UMASK = os.umask(0)
os.umask(_UMASK)
LOCK_POLL_S = 0.05


def slug(text, empty=""):
    """``text`` reduced to letters, digits and dashes, as file names carry it: ``daily or weekly`` -> ``daily-or-
    weekly``; ``empty`` when nothing is left."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or empty


def state_path(report_dir, name, target=None):
    """``<report dir>/state/<name>[-<target>].json``, each part a :func:`slug`."""
    return os.path.join(report_dir, "state", slug(name) + (f"-{slug(target)}" if target else "") + ".json")


def write_atomically(path, text):
    """Write beside the target, then rename over it: a crash never leaves half a file."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the record is for readers (a web server, auditors)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(path, deadline, timeout_error):
    """Hold the lock file ``path`` (an flock, released by the kernel if the holder dies) until the block ends.

    ``deadline`` is a :func:`time.monotonic` time: past it, waiting for another holder stops and
    ``timeout_error`` (an exception instance saying what stayed locked) is raised.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise timeout_error from None
                time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
