"""Wires the suite together: the plugins, and the probes every check reads, each fetched once per run.

Probes are session fixtures: the first check that needs one fetches it, every later check reuses it. A probe
that cannot reach the target raises ProbeError, so each check depending on it ends as "could not be checked"
at its own severity, and the run goes on.
"""

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
def endpoints(settings):
    """Every endpoint's answer (status, body, headers, curl-style timings), all fetched concurrently."""
    return Endpoints(settings)


@pytest.fixture(scope="session")
def docker(settings):
    """The run's one Docker client, behind a probe that turns failures into ProbeError."""
    from plugins.probes.docker import DockerProbe
    return DockerProbe(settings.docker_timeout_s)


@pytest.fixture(scope="session")
def app_container(docker, settings):
    """``docker inspect`` of the app container."""
    return docker.inspect(settings.container)


@pytest.fixture(scope="session")
def container_files(docker, settings):
    """``stat`` of the database (with -wal/-shm) and of every file in the backup folder, in one exec."""
    return docker.container_files(settings.container, settings.db_path, settings.backup_dir)


@pytest.fixture(scope="session")
def databases(docker, settings):
    """Read-only facts of databases copied out of the container; the copies are removed after the run."""
    from plugins.probes.sqlite import CopiedDatabases
    copies = CopiedDatabases(docker, settings.container)
    yield copies
    copies.close()


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
