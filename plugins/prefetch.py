"""Prefetch: the slow probes start in background threads as soon as collection knows which checks run.

Their waits on the network, the Docker daemon and the host overlap each other and the first checks; a check
needing one waits for it (its pytest-timeout still applies) and gets the probe's value or its ProbeError, exactly
as if it had fetched it itself. Which probes exist is the table in :func:`probes`, by fixture name.
"""

import gc
import subprocess
import threading

import pytest

from plugins.settings import SETTINGS

# Probes spawn commands (the host's, ssh, compose) from these threads while pytest rewrites os.environ (putenv of
# PYTEST_CURRENT_TEST) in the main one. A vfork()ed child shares the parent's memory and reads its environment at
# execve: a realloc of it meanwhile made execve fail with EFAULT ("[Errno 14] Bad address: '/bin/sh'", seen in
# fleet runs). fork() gives the child its own copy; Python documents this switch for such cases.
subprocess._USE_VFORK = False


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
NEEDS = {"container_memory": ("inside_container",)}  # a probe -> the probes it reads (started with it)
LOOKAHEAD = 4  # in a serial fleet run, the targets whose probes are fetched at once (the current one and next)


def settings_of(config):
    return config.stash.get(SETTINGS, None)


def docker_probe(config, target):
    """The target's one DockerProbe (its client is made on first use, by whichever thread comes first)."""
    with _LOCK:
        found = config.stash.setdefault(_DOCKER, {})
        if target.name not in found:
            from plugins.probes.docker import DockerProbe
            found[target.name] = DockerProbe(target.settings.docker_timeout_s, target.settings.docker_host)
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
        "compose_services": lambda: compose_services_of(settings, docker_probe(config, target)),
        "host_facts_by_host": lambda: host_facts_of(checked_hosts(config, target), settings.report_dir, target.name),
    }


def checked_hosts(config, target):
    """testinfra's hosts of the target: its ``host`` in a fleet, else ``--hosts`` (else this machine). testinfra's
    cache hands the checks the same Host objects."""
    from plugins.targets import fleet, testinfra_host
    if fleet(config):
        return [testinfra_host(config, target.settings)]
    import testinfra
    option = config.option
    specs = option.hosts.split(",") if option.hosts is not None else [None]
    return testinfra.get_hosts(specs, connection=option.connection, ssh_config=option.ssh_config,
                               ssh_identity_file=option.ssh_identity_file, sudo=option.sudo,
                               sudo_user=option.sudo_user, ansible_inventory=option.ansible_inventory,
                               force_ansible=option.force_ansible)


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


def start(config, target):
    """Start the target's probes that the selected checks use, once."""
    with _LOCK:
        started = config.stash.setdefault(_STARTED, {})
        if target.name in started or _USED not in config.stash:
            return
        started[target.name] = {}
    used = config.stash[_USED]
    for name, function in probes(config, target).items():  # in the table's order: a probe after those it reads
        if name in used or any(name in NEEDS.get(user, ()) for user in used):
            job = Background(f"{name} of {target}", function)
            with _LOCK:
                started[target.name][name] = job


def fetched(config, target, name):
    """A probe's value: from its background thread when one was started, else fetched now."""
    job = config.stash.get(_STARTED, {}).get(target.name, {}).get(name)
    return job.result() if job is not None else probes(config, target)[name]()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Start the slow probes the selected checks use; freeze what start-up made out of the garbage collector's way."""
    # Everything imported and collected so far lives until the end: without this, every collection (and
    # pytest's own gc.collect() calls at exit) walks those objects again, about 0.1 s of CPU per run.
    gc.freeze()
    config = session.config
    if settings_of(config) is None or config.option.collectonly or not session.items:
        return
    config.stash[_USED] = set().union(*(getattr(item, "fixturenames", ()) for item in session.items))
    if hasattr(config, "workerinput"):
        return  # an xdist worker learns its targets as their checks arrive (the fixture below)
    from plugins.targets import targets_of
    for target in list(targets_of(config).values())[:LOOKAHEAD]:
        start(config, target)


@pytest.fixture(scope="session", autouse=True)
def _prefetched(target, pytestconfig):
    """When a target's first check runs: its probes (if not started yet) and, in a serial fleet run, those of
    the next targets, so their waits overlap this target's checks."""
    start(pytestconfig, target)
    if not hasattr(pytestconfig, "workerinput"):
        from plugins.targets import targets_of
        names = list(targets_of(pytestconfig))
        following = names[names.index(target.name) + 1:][:LOOKAHEAD - 1]
        for name in following:
            start(pytestconfig, targets_of(pytestconfig)[name])
    return target


def compose_services_of(settings, docker):
    """The services the compose file declares, found from the configured file or the containers' label."""
    from plugins.probes.compose import declared_services
    return declared_services(settings.compose_file, docker.project_containers(settings.compose_project))


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


def endpoints_of(settings):
    from plugins.probes.http import Endpoints
    return Endpoints(settings)
