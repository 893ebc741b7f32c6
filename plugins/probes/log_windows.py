"""The app container's log windows a run's checks read (``app_logs(tail=100)``, ``app_logs(since_h=24)``), each
fetched once per target; in a serial fleet run the next targets' windows are fetched ahead, in the background.

Which windows the checks read is known once one target's checks asked for them: from then on, when a target's
probes start (plugins/probes/prefetch.py: the current target and the next ones), the windows asked for so far
start with them. A schedule's run (``-m daily``, as its scheduler starts it) also starts, with the probes at session
start, the windows its previous run's checks read (kept beside the probe names, ``state/probes-<schedule>.json``). A log read was the one Docker call left in
the checks' own path: two per target, waiting on an engine busy with the next targets' execs. A window fetched
ahead is the same window (its start, ``since``, counted back from when it is fetched), its error the same
ProbeError, raised where the check asks, as it would have been (and, as before, the next check asking for a window
that failed asks Docker again).
"""

import threading

import pytest

from plugins.probes.background import Background
from plugins.probes.docker_clients import docker_probe

_ASKED = pytest.StashKey[dict]()  # (since_h, tail) -> None: the windows checks asked for in this run, in order
_FETCHED = pytest.StashKey[dict]()  # target name -> {(since_h, tail): Background}
_LOCK = threading.Lock()


def _fetch(config, target, window):
    since_h, tail = window
    return docker_probe(config, target).logs(target.settings.container, since_s=since_h and since_h * 3600,
                                             tail=tail)


def asked(config):
    """The windows this run's checks asked for, in order, as [since_h, tail] lists."""
    return [list(window) for window in config.stash.get(_ASKED, {})]


def start(config, target, remembered=()):
    """Start fetching the target's windows that checks of earlier targets asked for (once each), and those
    ``remembered`` (read by the checks of the schedule's previous run: plugins/probes/prefetch.py)."""
    with _LOCK:
        fetched = config.stash.setdefault(_FETCHED, {}).setdefault(target.name, {})
        for window in [*config.stash.get(_ASKED, {}), *remembered]:
            if window not in fetched:
                fetched[window] = Background(f"logs {window} of {target}", lambda w=window: _fetch(config, target, w))


def read(config, target, since_h=None, tail=None):
    """The target's log lines of a window: fetched ahead, else now (once: the next reader of it gets the same)."""
    window = (since_h, tail)
    with _LOCK:
        config.stash.setdefault(_ASKED, {})[window] = None
        fetched = config.stash.setdefault(_FETCHED, {}).setdefault(target.name, {})
        job = fetched.get(window)
    if job is not None:
        try:
            return job.result()
        except BaseException:
            with _LOCK:  # as a window fetched in the check: the next check asking for it tries again
                if fetched.get(window) is job:
                    del fetched[window]
            raise
    lines = _fetch(config, target, window)
    with _LOCK:
        fetched.setdefault(window, _Done(lines))
    return lines


class _Done:
    """A window fetched in the check's own thread, kept as a background one is."""

    def __init__(self, lines):
        self._lines = lines

    def result(self):
        return self._lines
