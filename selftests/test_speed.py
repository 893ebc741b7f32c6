"""Speed without idle waiting (issue 16): CPU use since the previous run's counters instead of a 0.25 s sample,
where those counters are usable, and a sample wherever they are not.

Manual: Resource Monitoring, "CPU usage >90% (sustained)"; Performance Monitoring, `cat /proc/loadavg`.
"""

import json
import os
import re
import time

import pytest

from conftest import REPO, assert_passed, run_pytest
from test_baseline import BUSY_TEST_MACHINE

CPU_CHECKS = ["tests_resources/test_host.py::test_cpu_below_threshold_sustained",
              "tests_resources/test_container.py::test_load_in_container_below_threshold"]
SINCE = r"since the previous run \d+ s ago"


class RecordingHost:
    """testinfra's local host, keeping every command it ran: whether a read waited shows in its commands."""

    def __init__(self):
        import testinfra
        self._host = testinfra.get_host("local://")
        self.backend = self._host.backend
        self.commands = []

    def run(self, command):
        self.commands.append(command)
        return self._host.run(command)


def host_facts(report_dir, target=None):
    """(HostFacts of this machine with counters kept in ``report_dir``, the commands it ran)."""
    from plugins.probes.host import HostFacts, KeptCounters
    host = RecordingHost()
    facts = HostFacts(host, KeptCounters(str(report_dir), "host", "local", target))
    return facts, host.commands


def measured(run, name):
    return run.check(name)["evidence"]["CPU use measured"]


# --- the host's counters, in-process (no sandbox) -----------------------------------------------------------

def test_second_run_measures_since_the_first_without_waiting(tmp_path):
    """The first read samples (sleep 0.25 s in its command); a read 1 s later uses its counters and sleeps not."""
    first, commands = host_facts(tmp_path)
    assert first.cpu_measured == "sampled 0.25 s (no recent counters from a previous run)", first.cpu_measured
    assert any("sleep 0.25" in c for c in commands), commands
    time.sleep(1.2)
    second, commands = host_facts(tmp_path)
    assert second.cpu_measured in ("since the previous run 1 s ago", "since the previous run 2 s ago"), \
        second.cpu_measured
    assert not any("sleep" in c for c in commands), f"the second read waited: {commands}"
    assert 0 <= second.cpu_busy_pct <= 100, second.cpu_busy_pct


@pytest.mark.parametrize("change, why", [
    (lambda kept: {**kept, "uptime": kept["uptime"] - 7200}, "the previous counters are 2 h 0 min old"),
    (lambda kept: {**kept, "counter": [kept["counter"][0] * 10, kept["counter"][1] * 10]},
     "the counters went backwards since the previous run"),
    (lambda kept: {**kept, "identity": "another-boot"}, "the previous counters are of another boot or host"),
    (lambda kept: {**kept, "saved_at": kept["saved_at"] - 3600}, "no recent counters from a previous run"),
    (lambda kept: "not counters", "no recent counters from a previous run"),
])
def test_unusable_counters_fall_back_to_sampling(tmp_path, change, why):
    """Counters too old (by the host's uptime or this machine's clock), gone backwards (a reboot) or of another
    boot or host are not used: the read samples 0.25 s and says why."""
    host_facts(tmp_path)
    path = tmp_path / "state" / "cpu-host-local.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    time.sleep(1.2)
    facts, commands = host_facts(tmp_path)
    assert facts.cpu_measured == f"sampled 0.25 s ({why})", facts.cpu_measured
    assert any("sleep 0.25" in c for c in commands), commands
    assert 0 <= facts.cpu_busy_pct <= 100, facts.cpu_busy_pct


def test_fleet_targets_keep_separate_counters(tmp_path):
    """Each target keeps its own file: one target's run is not another's previous run."""
    host_facts(tmp_path, "prod")
    time.sleep(1.2)
    staging, _ = host_facts(tmp_path, "staging")
    prod, _ = host_facts(tmp_path, "prod")
    assert staging.cpu_measured.startswith("sampled 0.25 s"), staging.cpu_measured
    assert prod.cpu_measured.startswith("since the previous run"), prod.cpu_measured
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["cpu-host-local-prod.json",
                                                                       "cpu-host-local-staging.json"]


# --- the checks, on the sandbox ------------------------------------------------------------------------------


@pytest.mark.sandbox
def test_checks_say_what_they_measured_and_reuse_counters(healthy_sandbox, suite):
    """The host's and the container's CPU checks record which they used: a sample in the first run, the interval
    since it in the next; a fault at 0 % is still caught with the counters (the message names the interval)."""
    first = suite(*CPU_CHECKS, **BUSY_TEST_MACHINE)
    for name in ("test_cpu_below_threshold_sustained", "test_load_in_container_below_threshold"):
        assert_passed(first, name)
        assert measured(first, name) == "sampled 0.25 s (no recent counters from a previous run)", first.check(name)
    time.sleep(1)
    second = suite(*CPU_CHECKS, DIGITALME_CPU_MAX_PCT="0")
    host, container = (second.check(name) for name in ("test_cpu_below_threshold_sustained",
                                                       "test_load_in_container_below_threshold"))
    assert re.fullmatch(SINCE, host["evidence"]["CPU use measured"]), host
    assert re.fullmatch(SINCE, container["evidence"]["CPU use measured"]), container
    assert host["outcome"] == container["outcome"] == "failed", (host, container)
    assert re.search(rf"^CPU at \d+ % busy {SINCE} and", host["message"]), host["message"]
    assert re.search(rf" busy at [\d.]+ % of its \d+ CPU\(s\) {SINCE} and", container["message"]), container
    assert "Traceback" not in second.stdout, second


@pytest.mark.sandbox
def test_restarted_container_counter_is_not_used(healthy_sandbox, suite, tmp_path):
    """A container counter from before a restart (another PID 1 start; here: a changed identity, and a counter
    above today's) is not used: the container's CPU use is sampled and the run says why."""
    suite(CPU_CHECKS[1], **BUSY_TEST_MACHINE)
    [path] = (tmp_path / "reports" / "state").glob("cpu-container-*.json")
    kept = json.loads(path.read_text())
    path.write_text(json.dumps({**kept, "counter": [kept["counter"][0] + 1e6, kept["counter"][1]]}))
    time.sleep(1)
    run = suite(CPU_CHECKS[1], **BUSY_TEST_MACHINE)
    assert_passed(run, "test_load_in_container_below_threshold")
    assert measured(run, "test_load_in_container_below_threshold") == \
        "sampled 0.25 s (the counters went backwards since the previous run)", run.check(
            "test_load_in_container_below_threshold")


@pytest.mark.sandbox
def test_unwritable_state_folder_samples_without_a_traceback(healthy_sandbox, sandbox, tmp_path):
    """Where the state folder cannot be written (here a file stands where it should be), both CPU checks sample,
    pass, and say the counters were not kept; no traceback reaches the operator."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "state").write_text("not a folder")
    env = {**sandbox.settings_env, **BUSY_TEST_MACHINE}
    for _ in range(2):
        run = run_pytest(REPO, CPU_CHECKS, env, reports)
        assert "Traceback" not in run.stdout + run.stderr, run
        for name in ("test_cpu_below_threshold_sustained", "test_load_in_container_below_threshold"):
            assert_passed(run, name)
            assert measured(run, name).startswith("sampled 0.25 s (no recent counters from a previous run); "
                                                  "counters not kept ("), run.check(name)
        time.sleep(1)


PROBE_STARTS = '''
import json, os
import pytest

def record(config, when):
    from plugins.probes.registry import _STARTED
    started = sorted({name for jobs in config.stash.get(_STARTED, {}).values() for name in jobs})
    path = os.environ["PROBE_STARTS"]
    seen = json.load(open(path)) if os.path.exists(path) else {}
    seen[when] = started
    json.dump(seen, open(path, "w"))

@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    record(session.config, "before collection")

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config):
    record(config, "collected")
'''


@pytest.mark.sandbox
def test_a_schedules_probes_start_before_its_checks_are_collected(healthy_sandbox, suite, tmp_path):
    """A schedule's run (`-m daily`, no paths) starts, before collecting, the probes its previous run used (kept
    in the state folder by name); its first run starts each as a check using it is collected. An expression starts
    them when collection is done; neither it nor a run naming paths changes the kept names."""
    (tmp_path / "probe_starts.py").write_text(PROBE_STARTS)
    kept = tmp_path / "reports" / "state" / "probes-daily.json"

    def starts(*args):
        seen = tmp_path / f"starts-{len(list(tmp_path.glob('starts-*')))}.json"
        run = suite("-p", "probe_starts", *args, PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}", PROBE_STARTS=str(seen),
                    **BUSY_TEST_MACHINE)
        assert "Traceback" not in run.stdout + run.stderr and run.results["counts"].get("error", 0) == 0, run
        return json.loads(seen.read_text())

    first = starts("-m", "daily")
    assert first["before collection"] == [], first
    assert {"endpoints", "inside_container", "host_facts_by_host", "tls"} <= set(first["collected"]), first
    used = json.loads(kept.read_text())["probes"]
    assert set(first["collected"]) == set(used), (first, used)
    second = starts("-m", "daily")
    assert second["before collection"] == used, second
    expression = starts("-m", "daily or monitor")
    assert expression == {"before collection": [], "collected": []}, expression
    paths_named = starts("-m", "daily", "tests_health")  # its checks start theirs as they are collected
    assert paths_named["before collection"] == [] and {"endpoints"} <= set(paths_named["collected"]) < set(used)
    assert json.loads(kept.read_text())["probes"] == used  # an ad-hoc run does not change a schedule's names
    kept.write_text("{not json")
    third = starts("-m", "daily")  # unreadable: as a first run, and kept again
    assert third["before collection"] == [] and json.loads(kept.read_text())["probes"] == used, third
