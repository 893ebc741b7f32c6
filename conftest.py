"""Wires the suite together: the plugins, and the probes every check reads, each fetched once per run.

Probes are session fixtures: each is fetched once, and every check that needs it reuses it. The slow ones
(the endpoints, the one ``stat`` exec, ``docker stats``) are started in background threads as soon as
collection knows which checks run, so their waits on the network and the Docker daemon overlap each other and
the first checks; a check needing one waits for it. A probe that cannot reach the target raises ProbeError, so
each check depending on it ends as "could not be checked" at its own severity, and the run goes on.
"""

import gc
import threading
import urllib.parse

import pytest

pytest_plugins = [
    "plugins.settings",
    "plugins.severity",
    "plugins.results",
    "plugins.record",
    "plugins.history",
    "plugins.alerts",
]


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


_DOCKER = pytest.StashKey["DockerProbe"]()
_STARTED = pytest.StashKey[dict]()


def settings_of(config):
    from plugins.settings import SETTINGS  # not at the top: pytest must import (and rewrite) the plugin first
    return config.stash.get(SETTINGS, None)


def docker_probe(config):
    """The run's one DockerProbe (its client is made on first use, by whichever thread comes first)."""
    if _DOCKER not in config.stash:
        from plugins.probes.docker import DockerProbe
        config.stash[_DOCKER] = DockerProbe(settings_of(config).docker_timeout_s)
    return config.stash[_DOCKER]


def probes(config):
    """The slow probes that can start before any check: fixture name -> what fetches its value."""
    settings = settings_of(config)
    return {
        "endpoints": lambda: Endpoints(settings),
        "container_files": lambda: docker_probe(config).container_files(
            settings.container, settings.db_path, settings.backup_dir),
        "container_memory": lambda: docker_probe(config).memory_usage(settings.container),
        "host_facts_by_host": lambda: host_facts_of(checked_hosts(config)),
    }


def checked_hosts(config):
    """testinfra's hosts for this run (``--hosts``, else the local machine): its cache hands the checks the same."""
    import testinfra
    option = config.option
    specs = option.hosts.split(",") if option.hosts is not None else [None]
    return testinfra.get_hosts(specs, connection=option.connection, ssh_config=option.ssh_config,
                               ssh_identity_file=option.ssh_identity_file, sudo=option.sudo,
                               sudo_user=option.sudo_user, ansible_inventory=option.ansible_inventory,
                               force_ansible=option.force_ansible)


def host_facts_of(hosts):
    """pytest id of each host -> its HostFacts, or the ProbeError that stopped reading it."""
    from plugins.probes.host import HostFacts
    from plugins.severity import ProbeError
    facts = {}
    for host in hosts:
        try:
            facts[host.backend.get_pytest_id()] = HostFacts(host)
        except ProbeError as e:
            facts[host.backend.get_pytest_id()] = e
    return facts


def fetched(config, name):
    """A probe's value: from its background thread when one was started, else fetched now."""
    job = config.stash.get(_STARTED, {}).get(name)
    return job.result() if job is not None else probes(config)[name]()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Start the slow probes the selected checks use; freeze what start-up made out of the garbage collector's way."""
    # Everything imported and collected so far lives until the end: without this, every collection (and
    # pytest's own gc.collect() calls at exit) walks those objects again, about 0.1 s of CPU per run.
    gc.freeze()
    config = session.config
    if settings_of(config) is None or config.option.collectonly or not session.items:
        return
    used = set().union(*(getattr(item, "fixturenames", ()) for item in session.items))
    config.stash[_STARTED] = {name: Background(name, function)
                              for name, function in probes(config).items() if name in used}


class Endpoints:
    """The app's endpoints, fetched together on first use: ``endpoints["/health"]``, ``endpoints.https("/health")``."""

    PATHS = ("/health", "/health/ready", "/info")

    def __init__(self, settings):
        from plugins.probes.http import HttpProbe
        self.base_url, self.https_url = settings.base_url, settings.https_url
        urls = [self.base_url + path for path in self.PATHS]
        if self.https_url:
            urls.append(self.https_url + "/health")
        self.answers = HttpProbe(settings.connect_timeout_s, settings.read_timeout_s).fetch(urls)

    def __getitem__(self, path):
        return self.answers[self.base_url + path]

    def https(self, path):
        return self.answers[self.https_url + path]


@pytest.fixture(scope="session")
def endpoints(pytestconfig):
    """Every endpoint's answer (status, body, headers, curl-style timings), all fetched concurrently."""
    return fetched(pytestconfig, "endpoints")


@pytest.fixture(scope="session")
def docker(pytestconfig):
    """The run's one Docker client, behind a probe that turns failures into ProbeError."""
    return docker_probe(pytestconfig)


@pytest.fixture(scope="session")
def app_container(docker, settings):
    """``docker inspect`` of the app container."""
    return docker.inspect(settings.container)


@pytest.fixture(scope="session")
def container_files(pytestconfig):
    """``stat`` of the database (with -wal/-shm) and of every file in the backup folder, in one exec."""
    return fetched(pytestconfig, "container_files")


@pytest.fixture(scope="session")
def container_memory(pytestconfig):
    """(memory in use, limit) of the app container, as ``docker stats --no-stream`` shows it."""
    return fetched(pytestconfig, "container_memory")


@pytest.fixture(scope="session")
def databases(docker, settings):
    """Read-only facts of databases copied out of the container; the copies are removed after the run."""
    from plugins.probes.sqlite import CopiedDatabases
    copies = CopiedDatabases(docker, settings.container)
    yield copies
    copies.close()


@pytest.fixture(scope="session")
def host_facts_by_host(pytestconfig):
    """Memory, disks, load and a CPU sample of every checked host (one command each), started in the background."""
    return fetched(pytestconfig, "host_facts_by_host")


@pytest.fixture(scope="session")
def app_logs(docker, settings):
    """``logs(since_h=..., tail=...)``: the app container's log lines, each window fetched once."""
    fetched = {}

    def logs(since_h=None, tail=None):
        key = (since_h, tail)
        if key not in fetched:
            fetched[key] = docker.logs(settings.container, since_s=since_h and since_h * 3600, tail=tail)
        return fetched[key]
    return logs


@pytest.fixture(scope="session")
def target_ports(settings):
    """The ports of the configured URLs (80 and 443 by default)."""
    ports = []
    for url in (settings.base_url, settings.https_url):
        if url:
            parts = urllib.parse.urlsplit(url)
            ports.append(parts.port or {"http": 80, "https": 443}[parts.scheme])
    return sorted(set(ports))
