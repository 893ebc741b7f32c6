"""Every use of another library's internals, each in one small function: where no public API does the job.

Each function names the version it was checked against and what breaks without it; selftests/test_adapters.py
exercises each one against the installed library (fast, no sandbox) and fails naming the library and its
version when the internal is gone or changed shape. Upgrading a pinned library: run that file first.

Replaced by public APIs instead (so not here): pytest-timeout's ``config._env_timeout`` (the gate's timeout is
resolved from ``--timeout``, ``PYTEST_TIMEOUT`` and the ``timeout`` ini key, as pytest-timeout documents,
tests_health/conftest.py).
"""

import subprocess

# The versions each adapter was checked against (requirements.txt pins them); the selftest names them.
CHECKED_AGAINST = {"pytest": "9.2.0", "pytest-html": "4.2.0", "pytest-xdist": "3.8.0", "python": "3.11"}


def ini_keys(config):
    """Every key of the run's ini file, and ``-o`` overrides, as pytest read them (pytest 9.2.0:
    ``config._inicfg``, a dict by key). pytest has no public API for the keys it was not told of
    (``config.inicfg`` is deprecated in pytest 9). Without it no misspelt ``digitalme_*`` key is refused: the
    setting would stay at its default without a word (settings.unknown_names)."""
    return tuple(getattr(config, "_inicfg", None) or ())


def html_report_counts(config):
    """pytest-html's counts by result (the record's filter boxes, ``{"failed": {"value": n}, ...}``), to be
    changed in place, or None. pytest-html 4.2.0 keeps them on its registered report plugin (a
    ``pytest_html.basereport.BaseReport``) as ``_report.outcomes``, and offers no hook to change a row's result.
    Without it a check that could not be checked is counted as failed in the filter boxes (record.Rows)."""
    from pytest_html.basereport import BaseReport
    for plugin in config.pluginmanager.get_plugins():
        counts = getattr(getattr(plugin, "_report", None), "outcomes", None) if isinstance(plugin, BaseReport) else None
        if isinstance(counts, dict):
            return counts
    return None


def configure_html_report(config, html_plugin):
    """Has pytest-html set up its record for ``config.option.htmlpath``, set after its own ``pytest_configure``
    ran (the dated path is known only once the settings are resolved and the folder probed). pytest-html 4.2.0
    does it all in that hook (it registers its report plugin when ``htmlpath`` is set, off xdist workers); no
    public API starts a record later, so the hook is called a second time. Without it no record is written."""
    html_plugin.pytest_configure(config)


def scheduler_by_group(config, log, group_of):
    """An xdist scheduler handing each worker whole groups of checks, ``group_of(nodeid)`` naming a check's group.
    pytest-xdist 3.8.0: ``LoadScopeScheduling`` groups by its ``_split_scope(nodeid)``, the one method its own
    loadfile and loadgroup schedulers override; xdist's public grouping (``xdist_group``) does not work with
    pytest 9. Without it a fleet run under ``-n`` spreads a target's checks over every worker (targets.py)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return group_of(nodeid)
    return ByGroup(config, log)


def spawn_without_vfork():
    """Commands are spawned with fork(), never vfork() (Python 3.11: ``subprocess._USE_VFORK``, the switch
    Python's subprocess documentation names for this). Without it a probe's command started from a thread while
    pytest rewrites os.environ can fail with EFAULT ("[Errno 14] Bad address: '/bin/sh'", prefetch.py)."""
    subprocess._USE_VFORK = False
