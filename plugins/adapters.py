"""Every use of another library's internals, each in one small function: where no public API does the job.

Each function names the version it was checked against and what breaks without it; selftests/unit/test_adapters.py
exercises each one against the installed library (fast, no sandbox) and fails naming the library and its
version when the internal is gone or changed shape. Upgrading a pinned library: run that file first.

Replaced by public APIs instead (so not here): pytest-timeout's ``config._env_timeout`` (the gate's timeout is
resolved from ``--timeout``, ``PYTEST_TIMEOUT`` and the ``timeout`` ini key, as pytest-timeout documents,
tests_health/conftest.py).
"""

import subprocess
import types

# The versions each adapter was checked against (requirements.txt pins them); the selftest names them.
CHECKED_AGAINST = {"pytest": "9.2.0", "pytest-html": "4.2.0", "pytest-xdist": "3.8.0", "pytest-testinfra": "10.2.2",
                   "python": "3.11"}


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


def testinfra_ssh_options(host):
    """What testinfra's ``host`` runs ssh with, when its backend runs each command with the ssh binary ("ssh",
    "safe-ssh"; else None): ``name``, ``user``, ``port``, ``ssh_config``, ``identity``, ``timeout``,
    ``controlpath``, ``extra_args``. pytest-testinfra 10.2.2 documents these backends, not their attributes
    (``host.name``/``user``/``port``, ``ssh_config``, ``ssh_identity_file``, ``timeout``, ``controlpath``,
    ``ssh_extra_args``). Without them host commands go back to one SSH connection each (probes/ssh.py)."""
    backend = host.backend
    if getattr(backend, "NAME", None) not in ("ssh", "safe-ssh"):
        return None
    return types.SimpleNamespace(name=backend.host.name, user=backend.host.user, port=backend.host.port,
                                 ssh_config=backend.ssh_config, identity=backend.ssh_identity_file,
                                 timeout=backend.timeout, controlpath=backend.controlpath,
                                 extra_args=backend.ssh_extra_args or "")


def run_ssh_commands_over(host, control_path_of):
    """Each of testinfra's commands on ``host`` run as a client of the master whose control socket
    ``control_path_of()`` gives (connecting it first), never as a master itself. pytest-testinfra 10.2.2 runs every
    command of its ssh backends through ``backend.run_ssh(command)``, whose ssh command line carries
    ``-o ControlPath=<controlpath>`` when its extra arguments name a ControlMaster; this replaces that method.
    Without it testinfra makes one SSH connection per host command (probes/ssh.py)."""
    backend = host.backend
    run_ssh, extra_args = backend.run_ssh, backend.ssh_extra_args

    def run_ssh_over_the_master(command):
        backend.controlpath = control_path_of()
        backend.ssh_extra_args = " ".join(filter(None, [extra_args, "-o ControlMaster=no"]))
        return run_ssh(command)
    backend.run_ssh = run_ssh_over_the_master


def spawn_without_vfork():
    """Commands are spawned with fork(), never vfork() (Python 3.11: ``subprocess._USE_VFORK``, the switch
    Python's subprocess documentation names for this). Without it a probe's command started from a thread while
    pytest rewrites os.environ can fail with EFAULT ("[Errno 14] Bad address: '/bin/sh'", prefetch.py)."""
    subprocess._USE_VFORK = False
