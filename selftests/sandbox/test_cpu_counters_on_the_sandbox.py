"""CPU use without idle waiting, on the sandbox: the checks say what they measured and measure since the previous
run's counters instead of a 0.25 s sample where those counters are usable (not a restarted container's, not without
a writable state folder), and a schedule's probes start before its checks are collected. The counters themselves,
in-process: unit/test_cpu_counters.py.

Manual: Resource Monitoring, "CPU usage >90% (sustained)"; Performance Monitoring, `cat /proc/loadavg`.
"""

import json
import os
import re
import time

import pytest

from conftest import REPO, assert_passed, run_pytest
from test_baseline import BUSY_TEST_MACHINE, is_host_finding

CPU_CHECKS = ["tests_resources/test_host.py::test_cpu_below_threshold_sustained",
              "tests_resources/test_container.py::test_load_in_container_below_threshold"]
SINCE = r"since the previous run \d+ s ago"


def measured(run, name):
    return run.check(name)["evidence"]["CPU use measured"]


def assert_judged(run, name):
    """Passed; or, the host's CPU check only, failed with the saturation the baseline's allowance accepts: the machine
    these tests share with other test sessions (and under `make test`, with the other workers) at 100 % is a fact about
    it. Which measurement a check used, what these tests prove, is read from the check either way."""
    check = run.check(name)
    if check["outcome"] == "failed" and is_host_finding(check):
        return check
    return assert_passed(run, name)


@pytest.mark.sandbox
def test_checks_say_what_they_measured_and_reuse_counters(healthy_sandbox, suite):
    """The host's and the container's CPU checks record which they used: a sample in the first run, the interval
    since it in the next; a fault at 0 % is still caught with the counters (the message names the interval)."""
    first = suite(*CPU_CHECKS, **BUSY_TEST_MACHINE)
    for name in ("test_cpu_below_threshold_sustained", "test_load_in_container_below_threshold"):
        assert_judged(first, name)
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
            assert_judged(run, name)
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
