"""Prefetch: the slow probes start in background threads as soon as collection knows which checks run.

Their waits on the network, the Docker daemon and the host overlap each other and the first checks; a check
needing one waits for it (its pytest-timeout still applies) and gets the probe's value or its ProbeError, exactly
as if it had fetched it itself. Which probes exist is the table in :func:`probes`, by fixture name.

A schedule's own selection (``-m daily``: one marker name, no ``-k``) is known before collection ends: a check
carrying that marker starts its probes as it is collected, so their waits overlap the rest of the collection.
A schedule's run as its scheduler starts it (no paths named either) starts, at session start, the probes its
previous run used (``<report dir>/state/probes-<schedule>.json``, probe names only), so that the 09:00 run's CPU
samples overlap all of the collection. Any other selection starts them when collection is done. A probe started
for a check that is not run only costs its work; one not started in time is fetched when a check needs it.
"""

import gc
import json
import re
import sys
import threading

import pytest

from plugins import adapters
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import checked_hosts
from plugins.files import state_path, write_atomically

# Probes spawn commands (the host's, ssh, compose) from these threads while pytest rewrites os.environ (putenv of
# PYTEST_CURRENT_TEST) in the main one. A vfork()ed child shares the parent's memory and reads its environment at
# execve: a realloc of it meanwhile made execve fail with EFAULT ("[Errno 14] Bad address: '/bin/sh'", seen in
# fleet runs). fork() gives the child its own copy (plugins/adapters.py).
adapters.spawn_without_vfork()


class Background:
    """One probe running in a daemon thread; :meth:`result` waits for it and returns its value or raises its error.

    A daemon thread: a probe hung past every timeout never keeps the run from ending.
    """

    def __init__(self, name, function):
        self._done = threading.Event()
        self._value = self._error = None
        threading.Thread(target=self._run, args=(function,), name=f"probe {name}", daemon=True).start()

    def _run(self, function):
        try:
            self._value = function()
        except BaseException as e:  # re-raised in the check that needs it
            self._error = e
        finally:
            self._done.set()

    def result(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


_DOCKER = pytest.StashKey[dict]()  # target name -> its DockerProbe
_STARTED = pytest.StashKey[dict]()  # target name -> {probe name: Background}
_USED = pytest.StashKey[set]()  # the probes the selected checks use
_LOCK = threading.Lock()  # probes of several targets start from the main thread and their own threads
NEEDS = {"container_memory": ("inside_container",),  # a probe -> the probes it reads (started with it)
         "certificate_on_disk": ("app_container",),
         "reach": ("endpoints", "app_container")}  # the headline's judgement (plugins/outcomes/reachability.py)
_EARLY = pytest.StashKey[str]()  # the marker of a plain `-m <name>` selection ("": none, probes start after collection)
_REMEMBERED = pytest.StashKey[set]()  # the probe names a schedule's previous run used
LOOKAHEAD = 4  # in a serial fleet run, the targets whose probes are fetched at once (the current one and next)


def settings_of(config):
    return config.stash.get(SETTINGS, None)


def docker_probe(config, target):
    """The target's one DockerProbe (its client is made on first use, by whichever thread comes first)."""
    with _LOCK:
        found = config.stash.setdefault(_DOCKER, {})
        if target.name not in found:
            from plugins.probes.docker import DockerProbe
            # An ssh:// Docker host is reached with the run's ssh options, as testinfra's hosts are.
            found[target.name] = DockerProbe(target.settings.docker_timeout_s, target.settings.docker_host,
                                             ssh_config=config.option.ssh_config,
                                             ssh_identity=config.option.ssh_identity_file)
        return found[target.name]


def probes(config, target):
    """The slow probes that can start before any check: fixture name -> what fetches its value."""
    settings = target.settings
    return {
        "endpoints": lambda: endpoints_of(settings),
        "app_container": lambda: docker_probe(config, target).inspect(settings.container),
        "container_files": lambda: docker_probe(config, target).container_files(
            settings.container, settings.db_path, settings.backup_dir),
        "inside_container": lambda: inside_container_of(settings, docker_probe(config, target), target.name),
        "container_memory": lambda: container_memory_of(config, target),
        "compose_services": lambda: compose_services_of(settings, docker_probe(config, target), target.name),
        "host_facts_by_host": lambda: host_facts_of(checked_hosts(config, target), settings.report_dir, target.name),
        "tls": lambda: tls_of(settings),
        "certificate_on_disk": lambda: certificate_on_disk_by_host(config, target),
    }
_ON_HOSTS = ("host_facts_by_host", "certificate_on_disk")  # probes that read testinfra's hosts


def host_facts_of(hosts, report_dir=None, target=None):
    """pytest id of each host -> its HostFacts, or the ProbeError that stopped reading it. Each host's CPU
    counters are kept in ``report_dir`` for the next run (per target)."""
    from plugins.probes.host import HostFacts, KeptCounters
    from plugins.probes import ProbeError
    facts = {}
    for host in hosts:
        kept = KeptCounters(report_dir, "host", host.backend.get_pytest_id(), target) if report_dir else None
        try:
            facts[host.backend.get_pytest_id()] = HostFacts(host, kept)
        except ProbeError as e:
            facts[host.backend.get_pytest_id()] = e
    return facts


def start(config, target, wanted=None):
    """Start the target's probes named in ``wanted`` (default: all the selected checks use) and the probes they
    read, each once per run. Called from the main thread only."""
    if wanted is None:
        if _USED not in config.stash:
            return
        wanted = config.stash[_USED]
    wanted = set(wanted).union(*(NEEDS.get(name, ()) for name in wanted))
    table = probes(config, target)
    if not wanted & table.keys():
        return
    if wanted & set(_ON_HOSTS):
        # testinfra's host cache is filled without a lock: fill it here, in the main thread, before a probe's
        # thread reads it (collection may still be asking it for the same hosts)
        checked_hosts(config, target)
    with _LOCK:
        started = config.stash.setdefault(_STARTED, {}).setdefault(target.name, {})
        for name, function in table.items():  # in the table's order: a probe after those it reads
            if name in wanted and name not in started:
                started[name] = Background(f"{name} of {target}", function)


def fetched(config, target, name):
    """A probe's value: from its background thread when one was started, else fetched now."""
    job = config.stash.get(_STARTED, {}).get(target.name, {}).get(name)
    return job.result() if job is not None else probes(config, target)[name]()


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
    if _REMEMBERED not in config.stash:
        try:
            with open(remembered_path(config), encoding="utf-8") as f:
                names = json.load(f)["probes"]
            config.stash[_REMEMBERED] = {name for name in names if isinstance(name, str)}
        except (TypeError, OSError, ValueError, KeyError):
            config.stash[_REMEMBERED] = set()
    return config.stash[_REMEMBERED]


def remember(config, names):
    """Keep the probe names this schedule's run used, for its next run; a state folder that cannot be written
    only costs the next run its head start."""
    path = remembered_path(config)
    if path is None or names == remembered(config):
        return
    try:
        write_atomically(path, json.dumps({"probes": sorted(names)}))
    except OSError:
        pass


def first_targets(config):
    """The targets whose probes start before their checks: the first LOOKAHEAD of the targets file (or the one)."""
    from plugins.configuration.targets import targets_of
    return list(targets_of(config).values())[:LOOKAHEAD]


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """A schedule's run starts the probes its previous run used, before collecting its checks."""
    config = session.config
    names = remembered(config) if remembered_path(config) else set()
    for target in first_targets(config) if names else ():
        start(config, target, names)


def pytest_itemcollected(item):
    """A check of the schedule being run starts the probes it uses now, while the others are still collected."""
    marker = early_marker(item.config)
    if marker and item.get_closest_marker(marker) is not None:
        for target in first_targets(item.config):
            start(item.config, target, getattr(item, "fixturenames", ()))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Start the slow probes the selected checks use; freeze what start-up made out of the garbage collector's way."""
    # Everything imported and collected so far lives until the end: without this, every collection (and
    # pytest's own gc.collect() calls at exit) walks those objects again, about 0.1 s of CPU per run. The
    # collector was off since conftest.py was imported.
    gc.freeze()
    gc.enable()
    config = session.config
    if settings_of(config) is None or config.option.collectonly or not session.items:
        return
    config.stash[_USED] = set().union(*(getattr(item, "fixturenames", ()) for item in session.items))
    if config.option.hosts is not None:
        checked_hosts(config, first_targets(config)[0])  # --hosts: testinfra's own host fixture shares the connection
    if hasattr(config, "workerinput"):
        return  # an xdist worker learns its targets as their checks arrive (the fixture below)
    targets = first_targets(config)
    for target in targets:
        start(config, target)
    if targets:
        remember(config, set(config.stash[_USED]) & set(probes(config, targets[0])))


@pytest.fixture(scope="session", autouse=True)
def _prefetched(target, pytestconfig):
    """When a target's first check runs: its probes (if not started yet) and, in a serial fleet run, those of
    the next targets, so their waits overlap this target's checks."""
    start(pytestconfig, target)
    if not hasattr(pytestconfig, "workerinput"):
        from plugins.configuration.targets import targets_of
        names = list(targets_of(pytestconfig))
        following = names[names.index(target.name) + 1:][:LOOKAHEAD - 1]
        for name in following:
            start(pytestconfig, targets_of(pytestconfig)[name])
    return target


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    """The collector back on where collection never finished (a usage error, an interrupted collection); the
    run's SSH connections ended."""
    gc.enable()
    if "plugins.probes.ssh" in sys.modules:
        sys.modules["plugins.probes.ssh"].close_all()


def compose_services_of(settings, docker, target=None):
    """The services the compose file declares, found from the configured file or the containers' label; compose's
    answer kept in the report folder's state for runs with the same inputs (per target)."""
    from plugins.probes.compose import declared_services
    kept = state_path(settings.report_dir, "compose-services", target) if settings.report_dir else None
    return declared_services(settings.compose_file, docker.project_containers(settings.compose_project), kept)


def container_memory_of(config, target):
    """(in use, limit) of the app container: from its cgroup, read in the inside-the-container exec (no wait);
    ``docker stats`` only where that could not be read."""
    from plugins.probes import ProbeError
    try:
        memory = fetched(config, target, "inside_container").memory
    except ProbeError:
        memory = None  # docker stats says why, in its own words
    return memory or docker_probe(config, target).memory_usage(target.settings.container)


def inside_container_of(settings, docker, target=None):
    """/proc/meminfo, /proc/loadavg, the CPUs and its CPU use, as the app container sees them (one exec)."""
    from plugins.probes.host import KeptCounters
    from plugins.probes.inside import read_inside
    return read_inside(docker, settings.container, KeptCounters(settings.report_dir, "container", settings.container,
                                                                target))


def tls_of(settings):
    """The TLS probe of the HTTPS URL with the certificate it serves fetched (its ProbeError kept for the checks
    that ask); None where there is no HTTPS URL (those checks skip)."""
    if not settings.https_url:
        return None
    from plugins.probes import ProbeError
    from plugins.probes.tls import TlsProbe, https_address
    probe = TlsProbe(*https_address(settings.https_url), settings.connect_timeout_s + settings.read_timeout_s)
    try:
        probe.certificate()
    except ProbeError:
        pass  # kept by the probe: the checks asking for this certificate get the same error
    return probe


def certificate_on_disk_by_host(config, target):
    """pytest id of each of the target's hosts -> the certificate file the app is configured with, read from the
    container (plugins/probes/tls.py ``certificate_file``), or the ProbeError that stopped reading it."""
    from plugins.probes import ProbeError
    from plugins.probes.tls import certificate_file
    found = {}
    for host in checked_hosts(config, target):
        try:
            inspected = fetched(config, target, "app_container")
            found[host.backend.get_pytest_id()] = certificate_file(docker_probe(config, target), inspected, host,
                                                                   target.settings)
        except ProbeError as e:
            found[host.backend.get_pytest_id()] = e
    return found


def endpoints_of(settings):
    from plugins.probes.http import Endpoints
    return Endpoints(settings)
