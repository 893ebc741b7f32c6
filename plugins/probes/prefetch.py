"""Prefetch: the slow probes start in background threads as soon as collection knows which checks run.

Their waits on the network, the Docker daemon and the host overlap each other and the first checks; a check
needing one waits for it (its pytest-timeout still applies) and gets the probe's value or its ProbeError, exactly
as if it had fetched it itself. Which probes exist, and which fixtures start them, is their declarations
(plugins/probes/declared.py); the threads are plugins/probes/background.py's.

A schedule's own selection (``-m daily``: one marker name, no ``-k``) is known before collection ends: a check
carrying that marker starts its probes as it is collected, so their waits overlap the rest of the collection.
A schedule's run as its scheduler starts it (no paths named either) starts, at session start, the probes its
previous run used (``<report dir>/state/probes-<schedule>.json``, probe names only), so that the 09:00 run's CPU
samples overlap all of the collection. Any other selection starts them when collection is done. A probe started
for a check that is not run only costs its work; one not started in time is fetched when a check needs it.
"""

import json
import re
import sys

import pytest

from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import checked_hosts, targets_of
from plugins.files import state_path, write_atomically
from plugins.probes import log_windows
from plugins.probes.declared import PROBES

_USED = pytest.StashKey[set]()  # the probes the selected checks need
_EARLY = pytest.StashKey[str]()  # the marker of a plain `-m <name>` selection ("": none, probes start after collection)
_REMEMBERED = pytest.StashKey[set]()  # the probe names a schedule's previous run used
LOOKAHEAD = 4  # in a serial fleet run, the targets whose probes are fetched at once (the current one and next)


def settings_of(config):
    return config.stash.get(SETTINGS, None)


def start(config, target, fixturenames=None):
    """Start the target's probes that checks using ``fixturenames`` need (default: those the selected checks
    need), each once per run. Called from the main thread only."""
    if fixturenames is None:
        if _USED not in config.stash:
            return
        fixturenames = config.stash[_USED]
    PROBES.start(config, target, PROBES.started_by(fixturenames))


def early_marker(config):
    """The marker name of a plain ``-m <name>`` selection whose checks may start their probes before collection
    is done; "" where the selection is known only after collection (an expression, ``-k``, no ``-m``), in xdist
    (a worker learns its checks as they arrive; the controller runs none), with ``--collect-only`` or with
    invalid settings."""
    if _EARLY not in config.stash:
        expression = (config.option.markexpr or "").strip()
        plain = (re.fullmatch(r"[A-Za-z_]\w*", expression) and expression not in ("not", "and", "or")
                 and not config.option.keyword and not config.option.collectonly
                 and not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") == "no"
                 and settings_of(config) is not None)
        config.stash[_EARLY] = expression if plain else ""
    return config.stash[_EARLY]


def remembered_path(config):
    """Where a schedule's run (a plain ``-m <name>``, no paths named) keeps the names of the probes it used;
    None for any other run."""
    marker = early_marker(config)
    if not marker or config.args_source is not pytest.Config.ArgsSource.TESTPATHS or \
            not settings_of(config).report_dir:
        return None
    return state_path(settings_of(config).report_dir, f"probes-{marker}")


def remembered(config):
    """The probe names the schedule's previous run used (empty: none kept, unreadable), read once per run."""
    return _kept(config)["probes"]


def remembered_windows(config):
    """The log windows the checks of the schedule's previous run read (plugins/probes/log_windows.py)."""
    return _kept(config)["log_windows"]


def _kept(config):
    """What the schedule's previous run kept: {"probes": names, "log_windows": [(since_h, tail)]}."""
    if _REMEMBERED not in config.stash:
        kept = {"probes": set(), "log_windows": []}
        try:
            with open(remembered_path(config), encoding="utf-8") as f:
                document = json.load(f)
            kept["probes"] = {name for name in document["probes"] if isinstance(name, str)}
            kept["log_windows"] = [tuple(w) for w in document.get("log_windows", []) if _is_window(w)]
        except (TypeError, OSError, ValueError, KeyError, AttributeError):
            pass
        config.stash[_REMEMBERED] = kept
    return config.stash[_REMEMBERED]


def _is_window(window):
    return isinstance(window, list) and len(window) == 2 and all(
        part is None or type(part) in (int, float) for part in window)


def remember(config, names=None, windows=None):
    """Keep the probe names this schedule's run used (and the log windows its checks read), for its next run; a
    state folder that cannot be written only costs the next run its head start."""
    path = remembered_path(config)
    if path is None:
        return
    kept = _kept(config)
    now = {"probes": set(kept["probes"] if names is None else names),
           "log_windows": [tuple(w) for w in (kept["log_windows"] if windows is None else windows)]}
    if now == kept:
        return
    try:
        write_atomically(path, json.dumps({"probes": sorted(now["probes"]), "log_windows": now["log_windows"]}))
    except OSError:
        return
    config.stash[_REMEMBERED] = now


def first_targets(config):
    """The targets whose probes start before their checks: the first LOOKAHEAD of the targets file (or the one)."""
    return list(targets_of(config).values())[:LOOKAHEAD]


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """A schedule's run starts the probes its previous run used, before collecting its checks."""
    config = session.config
    names = remembered(config) if remembered_path(config) else set()
    for target in first_targets(config) if names else ():
        start(config, target, names)
        log_windows.start(config, target, remembered_windows(config))


def pytest_itemcollected(item):
    """A check of the schedule being run starts the probes it uses now, while the others are still collected."""
    marker = early_marker(item.config)
    if marker and item.get_closest_marker(marker) is not None:
        for target in first_targets(item.config):
            start(item.config, target, getattr(item, "fixturenames", ()))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Start the slow probes the selected checks use."""
    config = session.config
    if settings_of(config) is None or config.option.collectonly or not session.items:
        return
    config.stash[_USED] = PROBES.started_by(set().union(*(getattr(item, "fixturenames", ())
                                                          for item in session.items)))
    if config.option.hosts is not None:
        checked_hosts(config, first_targets(config)[0])  # --hosts: testinfra's own host fixture shares the connection
    if hasattr(config, "workerinput"):
        return  # an xdist worker learns its targets as their checks arrive (the fixture below)
    targets = first_targets(config)
    for target in targets:
        start(config, target)
    if targets:
        remember(config, config.stash[_USED])


@pytest.fixture(scope="session", autouse=True)
def _prefetched(target, pytestconfig):
    """When a target's first check runs: its probes (if not started yet) and, in a serial fleet run, those of
    the next targets, so their waits overlap this target's checks; with them the log windows that earlier
    targets' checks read (plugins/probes/log_windows.py)."""
    start(pytestconfig, target)
    log_windows.start(pytestconfig, target)
    if not hasattr(pytestconfig, "workerinput"):
        names = list(targets_of(pytestconfig))
        following = names[names.index(target.name) + 1:][:LOOKAHEAD - 1]
        for name in following:
            start(pytestconfig, targets_of(pytestconfig)[name])
            log_windows.start(pytestconfig, targets_of(pytestconfig)[name])
    return target


def pytest_sessionfinish(session, exitstatus):
    """A schedule's run that ended (not cut short) keeps the log windows its checks read, for its next run."""
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and remembered_path(session.config):
        remember(session.config, windows=log_windows.asked(session.config))


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    """The run's SSH connections ended."""
    if "plugins.probes.ssh" in sys.modules:
        sys.modules["plugins.probes.ssh"].close_all()


