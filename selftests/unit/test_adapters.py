"""Each use of another library's internals (plugins/adapters.py) still works on the installed version: every test
runs its adapter against the real library, in this process (fast, no sandbox), and fails naming the library, the
installed version and the version the adapter was checked against. Run this file first when upgrading a pin.

Also the one internal replaced by a public API: the post-change gate's timeout, resolved from pytest-timeout's
documented sources, agrees with pytest-timeout's own resolution (tests_health/conftest.py).
"""

import importlib.util
import inspect
import subprocess
import types
from importlib.metadata import version

import pytest

from conftest import REPO
from plugins import adapters

pytest_plugins = ["pytester"]


def broken(library, what, adapter):
    """A failure naming the library, the version installed and the one the adapter was checked against."""
    checked = adapters.CHECKED_AGAINST[library]
    installed = version(library) if library != "python" else ".".join(map(str, __import__("sys").version_info[:3]))
    pytest.fail(f"{library} {installed} (plugins/adapters.py {adapter} was checked against {checked}): {what}",
                pytrace=False)


# --- pytest: the ini file's keys ------------------------------------------------------------------------------

def test_ini_keys_lists_every_key_of_the_ini_file_and_of_o_overrides(pytester):
    pytester.makeini("[pytest]\ndigitalme_disk_max_pct = 80\ndigitalme_dsik_max_pct = 90\n")
    config = pytester.parseconfig("-o", "digitalme_webhok_url=x")
    keys = adapters.ini_keys(config)
    if not {"digitalme_disk_max_pct", "digitalme_dsik_max_pct", "digitalme_webhok_url"} <= set(keys):
        broken("pytest", f"config._inicfg no longer holds the ini file's keys and -o overrides (read: {keys!r}); "
                         "a misspelt digitalme_* key would pass unnoticed", "ini_keys")


# --- pytest-html: its record set up late, and its counts -------------------------------------------------

def html_report_set_up_late(pytester, tmp_path):
    """A configured run without --html, then the adapter given a path, as record.py's pytest_configure does."""
    config = pytester.parseconfigure()
    config.option.htmlpath = str(tmp_path / "record.html")
    config.option.self_contained_html = True
    adapters.configure_html_report(config, config.pluginmanager.getplugin("html"))
    return config


def test_calling_pytest_html_configure_again_sets_up_the_record(pytester, tmp_path):
    from pytest_html.basereport import BaseReport
    config = html_report_set_up_late(pytester, tmp_path)
    reports = [p for p in config.pluginmanager.get_plugins() if isinstance(p, BaseReport)]
    if len(reports) != 1:
        broken("pytest-html", f"its pytest_configure called again with an htmlpath registered {len(reports)} report "
                              "plugins, not 1: no dated record would be written", "configure_html_report")


def test_pytest_html_counts_are_found_with_failed_and_error(pytester, tmp_path):
    counts = adapters.html_report_counts(html_report_set_up_late(pytester, tmp_path))
    shape_ok = isinstance(counts, dict) and all(
        isinstance(counts.get(result), dict) and isinstance(counts[result].get("value"), int)
        for result in ("failed", "error"))
    if not shape_ok:
        broken("pytest-html", f"its report's _report.outcomes is not {{'failed': {{'value': n}}, 'error': ...}} "
                              f"(found {counts!r}): a check that could not be checked would be counted as failed "
                              "in the record's filter boxes", "html_report_counts")


# --- pytest-xdist: a scheduler by group ---------------------------------------------------------------

class Worker:
    """A stand-in for xdist's WorkerController: what the scheduler sends it is kept."""

    def __init__(self, name):
        self.gateway = types.SimpleNamespace(id=name)
        self.sent, self.shutting_down = [], False

    def send_runtest_some(self, indexes):
        self.sent += indexes

    def shutdown(self):
        self.shutting_down = True


def test_xdist_scheduler_hands_each_worker_whole_groups():
    ids = [f"tests_health/test_a.py::test_{n}[{target}]" for n in range(3) for target in ("prod", "prod-eu")]
    config = types.SimpleNamespace(getvalue=lambda name: ["popen"] * 2 if name == "tx" else None,
                                   option=types.SimpleNamespace(loadscopereorder=False))
    scheduler = adapters.scheduler_by_group(config, None, lambda nodeid: nodeid.rpartition("[")[2])
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, ids)
    scheduler.schedule()
    handed = sorted(sorted({ids[i].rpartition("[")[2] for i in worker.sent}) for worker in workers)
    if handed != [["prod-eu]"], ["prod]"]]:
        broken("pytest-xdist", f"LoadScopeScheduling no longer groups by _split_scope(nodeid): the workers got "
                               f"{[sorted(ids[i] for i in w.sent) for w in workers]}; a fleet run under -n would "
                               "spread each target's checks over every worker", "scheduler_by_group")


# --- Python: fork, not vfork ---------------------------------------------------------------------------

def test_subprocess_still_reads_its_vfork_switch(monkeypatch):
    if not hasattr(subprocess, "_USE_VFORK") or "_USE_VFORK" not in inspect.getsource(subprocess.Popen):
        broken("python", "subprocess has no _USE_VFORK switch any more, or Popen no longer reads it: probes "
                         "spawned from threads may fail with EFAULT again", "spawn_without_vfork")
    monkeypatch.setattr(subprocess, "_USE_VFORK", True)  # restored after the test
    adapters.spawn_without_vfork()
    assert subprocess._USE_VFORK is False


# --- pytest-timeout: public, no adapter -------------------------------------------------------------------

def gate_conftest():
    spec = importlib.util.spec_from_file_location("gate_conftest", REPO / "tests_health" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("ini, env, args, expected", [
    ("timeout = 60", None, (), 60.0),
    ("timeout = 60", "7", (), 7.0),
    ("timeout = 60", "7", ("--timeout=2",), 2.0),
    ("", None, (), None),
    ("timeout = 60", None, ("--timeout=0",), 0.0),
    ("timeout = 60", None, ("-p", "no:timeout"), None),
])
def test_the_gate_reads_the_timeout_as_pytest_timeout_does(pytester, monkeypatch, ini, env, args, expected):
    """``--timeout`` over ``PYTEST_TIMEOUT`` over the ini key, as pytest-timeout's own get_env_settings."""
    import pytest_timeout
    if env is None:
        monkeypatch.delenv("PYTEST_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_TIMEOUT", env)
    pytester.makeini(f"[pytest]\n{ini}\n")
    config = pytester.parseconfigure(*args)
    found = gate_conftest().run_timeout_s(config)
    assert found == expected, f"the gate read a timeout of {found!r} (required: {expected!r})"
    if config.pluginmanager.hasplugin("timeout"):
        theirs = pytest_timeout.get_env_settings(config).timeout
        assert found == theirs, (f"the gate read a timeout of {found!r}, pytest-timeout {version('pytest-timeout')} "
                                 f"{theirs!r} (required: the same)")


# --- pytest-testinfra: its ssh backend's options, and its commands over our master ---------------------------

class Spawned(Exception):
    """The command line testinfra's ssh backend would have spawned, caught instead of spawning it."""


def ssh_host_of(scheme):
    """testinfra's host of a made-up destination (never connected to: no command is spawned)."""
    import testinfra
    return testinfra.get_host(f"{scheme}://ops@adapter-test.invalid:2222", ssh_config="/nonexistent/ssh_config",
                              ssh_identity_file="/nonexistent/id", timeout=7)


@pytest.mark.parametrize("scheme", ["ssh", "safe-ssh"])
def test_testinfra_ssh_backend_options_are_read(scheme):
    try:
        options = adapters.testinfra_ssh_options(ssh_host_of(scheme))
        read = options and (options.name, options.user, options.port, options.ssh_config, options.identity,
                            options.timeout, options.controlpath, options.extra_args)
    except AttributeError as e:
        read = f"AttributeError: {e}"
    if read != ("adapter-test.invalid", "ops", "2222", "/nonexistent/ssh_config", "/nonexistent/id", 7, None, ""):
        broken("pytest-testinfra", f"its {scheme} backend's host, ssh_config, ssh_identity_file, timeout, "
                                   f"controlpath or ssh_extra_args changed (read: {read!r}): host commands would "
                                   "not share the run's SSH master", "testinfra_ssh_options")


@pytest.mark.parametrize("scheme", ["ssh", "safe-ssh"])
def test_testinfra_ssh_commands_run_as_clients_of_the_given_master(scheme, monkeypatch):
    host = ssh_host_of(scheme)
    monkeypatch.setattr(host.backend, "run_ssh", host.backend.run_ssh)  # put back after the test (hosts are cached)
    monkeypatch.setattr(host.backend, "controlpath", None)
    monkeypatch.setattr(host.backend, "ssh_extra_args", None)

    def spawn(command, *args, **kwargs):
        raise Spawned(command % tuple(args))
    monkeypatch.setattr(host.backend, "run_local", spawn)
    adapters.run_ssh_commands_over(host, lambda: "/nonexistent/master.sock")
    with pytest.raises(Spawned) as spawned:
        host.run("true")
    line = str(spawned.value)
    if "-o ControlPath=/nonexistent/master.sock" not in line or "ControlMaster=no" not in line \
            or "ControlMaster=auto" in line:
        broken("pytest-testinfra", f"its {scheme} backend no longer runs each command through run_ssh with our "
                                   f"control path and ControlMaster=no (it would spawn: {line!r}): one SSH "
                                   "connection per host command", "run_ssh_commands_over")
