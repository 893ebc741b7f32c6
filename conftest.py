"""Wires the suite together: the plugins, and the probes every check reads, each fetched once per run.

Probes are session fixtures: each is fetched once, and every check that needs it reuses it. The slow ones
(the endpoints, the one ``stat`` exec, the exec inside the container, the host's one command, the certificates)
start in background threads as soon as it is known that a check will need them (plugins/probes/prefetch.py). A probe
that cannot reach the target raises ProbeError, so each check depending on it ends as "could not be checked" at
its own severity, and the run goes on.
Plugins are imported inside the fixtures: pytest must import (and assert-rewrite) them as plugins first.
"""

import gc
import importlib

import pytest

# What start-up makes (modules, plugins, the collected checks) lives until the run ends: the garbage collector would
# walk it again and again as it grows. It is switched back on, with all of it frozen, when collection is done
# (plugins/probes/prefetch.py); ~20 ms of CPU per run.
gc.disable()

SUITE_PLUGINS = [  # the flow: settings -> probes (prefetch, fixtures below) -> checks -> outcome -> outputs
    "plugins.hookspecs",
    "plugins.configuration.stage",
    "plugins.configuration.targets",
    "plugins.configuration.markers",
    "plugins.outcomes.trends",
    "plugins.outcomes.waivers",
    "plugins.outcomes.reachability",
    "plugins.outcomes.build",
    "plugins.outputs.results",
    "plugins.probes.prefetch",
    "plugins.outputs.record",
    "plugins.outputs.history",
    "plugins.outputs.alerting",
    "plugins.pipeline",
    "plugins.outputs.prometheus",
]
pytest.register_assert_rewrite(*SUITE_PLUGINS)  # as pytest does for the modules pytest_plugins names


def pytest_addhooks(pluginmanager):
    """Register the suite's plugins, in the flow's order (``-p no:plugins.<name>`` still leaves one out).

    Not through ``pytest_plugins``: pytest looks each name listed there up among every installed package's entry
    points before importing it, a scan of all their metadata each time (~2 ms here, ~30 ms a run for 13 names).
    """
    for name in SUITE_PLUGINS:
        if not pluginmanager.is_blocked(name) and pluginmanager.get_plugin(name) is None:
            pluginmanager.register(importlib.import_module(name), name)


@pytest.fixture(scope="session")
def endpoints(pytestconfig, target):
    """Every endpoint's answer (status, body, headers, curl-style timings), all fetched concurrently."""
    from plugins.probes.prefetch import fetched
    return fetched(pytestconfig, target, "endpoints")


@pytest.fixture(scope="session")
def docker(pytestconfig, target):
    """The target's one Docker client, behind a probe that turns failures into ProbeError."""
    from plugins.probes.prefetch import docker_probe
    return docker_probe(pytestconfig, target)


@pytest.fixture(scope="session")
def app_container(pytestconfig, target):
    """``docker inspect`` of the app container, started in the background."""
    from plugins.probes.prefetch import fetched
    return fetched(pytestconfig, target, "app_container")


@pytest.fixture(scope="session")
def container_files(pytestconfig, target):
    """``stat`` of the database (with -wal/-shm) and of every file in the backup folder, in one exec."""
    from plugins.probes.prefetch import fetched
    return fetched(pytestconfig, target, "container_files")


@pytest.fixture(scope="session")
def container_memory(pytestconfig, target):
    """(memory in use, limit) of the app container, as ``docker stats --no-stream`` shows it."""
    from plugins.probes.prefetch import fetched
    return fetched(pytestconfig, target, "container_memory")


@pytest.fixture(scope="session")
def inside_container(pytestconfig, target):
    """MemAvailable, the load average, its CPUs and a 0.25 s sample of its CPU use, as the app container sees them."""
    from plugins.probes.prefetch import fetched
    return fetched(pytestconfig, target, "inside_container")


@pytest.fixture(scope="session")
def databases(docker, settings):
    """Read-only facts of databases copied out of the container; the copies are removed after the run."""
    from plugins.probes.sqlite import CopiedDatabases
    copies = CopiedDatabases(docker, settings.container)
    yield copies
    copies.close()


@pytest.fixture(scope="session")
def host_facts_by_host(pytestconfig, target):
    """Memory, disks, load and a CPU sample of every checked host (one command each), started in the background."""
    from plugins.probes.prefetch import fetched
    return fetched(pytestconfig, target, "host_facts_by_host")


@pytest.fixture(scope="session")
def app_logs(docker, settings):
    """``logs(since_h=..., tail=...)``: the app container's log lines, each window fetched once."""
    windows = {}

    def logs(since_h=None, tail=None):
        if (since_h, tail) not in windows:
            windows[since_h, tail] = docker.logs(settings.container, since_s=since_h and since_h * 3600, tail=tail)
        return windows[since_h, tail]
    return logs
