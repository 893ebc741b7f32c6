"""Wires the suite together: the plugins, and the probes every check reads, each fetched once per run.

Probes are session fixtures, one per probe declared in plugins/probes/declared.py: each is fetched once, and every
check that needs it reuses it. The slow ones (the endpoints, the one ``stat`` exec, the exec inside the container,
the host's one command, the certificates) start in background threads as soon as it is known that a check will need
them (plugins/probes/prefetch.py). A probe that cannot reach the target raises ProbeError, so each check depending on
it ends as "could not be checked" at its own severity, and the run goes on.
Plugins are imported only in pytest_addhooks: pytest must import (and assert-rewrite) them as plugins first.
"""

import gc
import importlib

import pytest

from plugins import adapters
from plugins.probes.declared import PROBES

# Process-wide start-up settings, here once for the whole run.
# What start-up makes (modules, plugins, the collected checks) lives until the run ends: the garbage collector would
# walk it again and again as it grows. It is switched back on, with all of it frozen, when collection is done
# (pytest_collection_finish below); ~20 ms of CPU per run.
gc.disable()
# Probes spawn commands (the host's, ssh, compose) from background threads while pytest rewrites os.environ (putenv
# of PYTEST_CURRENT_TEST) in the main one. A vfork()ed child shares the parent's memory and reads its environment at
# execve: a realloc of it meanwhile made execve fail with EFAULT ("[Errno 14] Bad address: '/bin/sh'", seen in
# fleet runs). fork() gives the child its own copy.
adapters.spawn_without_vfork()

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

# One session fixture per probe declared in plugins/probes/declared.py (endpoints, docker, app_container, ...), by
# the probe's name and with its docstring: pytest finds fixtures among this module's names.
globals().update(PROBES.fixtures())


def pytest_addhooks(pluginmanager):
    """Register the suite's plugins, in the flow's order (``-p no:plugins.<name>`` still leaves one out).

    Not through ``pytest_plugins``: pytest looks each name listed there up among every installed package's entry
    points before importing it, a scan of all their metadata each time (~2 ms here, ~30 ms a run for 13 names).
    """
    for name in SUITE_PLUGINS:
        if not pluginmanager.is_blocked(name) and pluginmanager.get_plugin(name) is None:
            pluginmanager.register(importlib.import_module(name), name)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Freeze what start-up made out of the garbage collector's way, and switch the collector back on."""
    # Everything imported and collected so far lives until the end: without this, every collection (and pytest's
    # own gc.collect() calls at exit) walks those objects again, about 0.1 s of CPU per run.
    gc.freeze()
    gc.enable()


def pytest_unconfigure(config):
    """The collector back on where collection never finished (a usage error, an interrupted collection)."""
    gc.enable()


@pytest.fixture(scope="session")
def databases(docker, settings):
    """Read-only facts of databases copied out of the container; the copies are removed after the run."""
    from plugins.probes.sqlite import CopiedDatabases
    copies = CopiedDatabases(docker, settings.container)
    yield copies
    copies.close()


@pytest.fixture(scope="session")
def app_logs(docker, target, pytestconfig):
    """``logs(since_h=..., tail=...)``: the app container's log lines, each window fetched once (in a fleet run,
    the windows earlier targets' checks read are fetched ahead: plugins/probes/log_windows.py)."""
    from plugins.probes import log_windows

    def logs(since_h=None, tail=None):
        return log_windows.read(pytestconfig, target, since_h, tail)
    return logs
