"""The healthy sandbox: every check passes, every measured value is recorded, run after run."""

import pytest

pytestmark = pytest.mark.sandbox

# Skipped on the sandbox by design, each with its reason.
EXPECTED_SKIPS = {
    "test_certificate_matches_host_name": "localhost",
    "test_no_pending_security_updates": "",
}


# The machine-wide CPU check measures the machine these tests run on, which they keep busy themselves (the
# sandbox does not model a production host's CPU): the baseline holds it to saturation, not 90 %. Its 90 %
# path is proven in test_faults_resources.py.
BUSY_TEST_MACHINE = {"DIGITALME_CPU_MAX_PCT": "100"}


# Findings about the machine running these tests, not about the sandbox: a test machine may really have pending
# security updates (the check is proven both ways in test_faults_security.py). Such a finding is allowed here
# only with exactly this message, so anything else from that check still fails the baseline.
HOST_FINDINGS = {
    "test_no_pending_security_updates":
        r"^(\d+ pending security update\(s\) on the host > 0 \(apt-get -s dist-upgrade\): "
        r"|apt lists (are \d+ days old \(> 7 days\)|were never updated \(/var/lib/apt/lists is empty\)): "
        r"the weekly apt-get update is not running; pending security updates cannot be known$)",
    # The test machine saturated (both figures at 100 % with BUSY_TEST_MACHINE): other test sessions share it.
    "test_cpu_below_threshold_sustained":
        r"^CPU at \d+ % busy now and \d+ % 5-minute load per core \(load [\d.]+ on \d+ cores\), both >= 100 %$",
}


def is_host_finding(check):
    import re
    pattern = HOST_FINDINGS.get(check["id"].split("::")[-1].split("[")[0])
    return bool(pattern and check["outcome"] == "failed" and re.match(pattern, check["message"]))


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_every_check_passes_on_the_healthy_sandbox(healthy_sandbox, suite, attempt):
    """No flakiness: three full runs of every schedule, zero failures."""
    run = suite(**BUSY_TEST_MACHINE)
    bad = [c for c in run.results["checks"] if c["outcome"] not in ("passed", "skipped") and not is_host_finding(c)]
    assert not bad, f"run {attempt}: " + "; ".join(f"{c['id']}: {c['message']}" for c in bad)
    skipped = {c["id"].split("::")[-1].split("[")[0]: c["message"] for c in run.results["checks"] if c["outcome"] == "skipped"}
    unexpected = {name: reason for name, reason in skipped.items() if name not in EXPECTED_SKIPS}
    assert not unexpected, f"unexpected skips: {unexpected}"
    host_findings = [c for c in run.results["checks"] if is_host_finding(c)]
    assert run.returncode == (1 if host_findings else 0), run
    assert run.results["status"] == ("warning" if host_findings else "ok")


def test_every_passed_check_records_its_measured_value(healthy_sandbox, suite):
    run = suite("-m", "daily", **BUSY_TEST_MACHINE)
    missing = [c["id"] for c in run.results["checks"] if c["outcome"] == "passed" and c["value"] is None]
    assert not missing, f"checks that passed without recording what they measured: {missing}"
    assert all(c["severity"] in ("critical", "warning") for c in run.results["checks"])


@pytest.mark.parametrize("selection", ["monitor", "daily", "resources", "weekly", "monthly"])
def test_each_schedule_selects_checks_and_passes(healthy_sandbox, suite, selection):
    run = suite("-m", selection, **BUSY_TEST_MACHINE)
    host_findings = [c for c in run.results["checks"] if is_host_finding(c)]
    assert run.returncode == (1 if host_findings else 0), run
    assert run.results["selection"] == selection
    assert run.results["counts"]["passed"] >= 2
    assert all(selection in c["schedules"] for c in run.results["checks"])


def test_monitor_selects_the_manuals_monitor_sh_trio(healthy_sandbox, suite):
    """pytest -m monitor replaces monitor.sh: containers Up, /health 200, database file present."""
    run = suite("-m", "monitor")
    names = {c["id"].split("::")[-1] for c in run.results["checks"]}
    assert {"test_compose_containers_running", "test_health_answers_healthy", "test_database_file_exists"} <= names
    assert all(c["severity"] == "critical" for c in run.results["checks"])


# The manual's schedules in the order a day brings them, ending with the 5-minute monitor that follows any run.
A_DAY = ("monitor", "resources", "daily", "monitor", "weekly", "monthly", "monitor")


def test_a_day_in_the_life_gives_no_finding(healthy_sandbox, suite):
    """Every schedule back to back, sharing one report folder as on a real host (alert state, the log entries
    each schedule reported, the history): zero findings and zero alerts, apart from facts about the host."""
    for n, selection in enumerate(A_DAY, 1):
        run = suite("-m", selection, DIGITALME_ALERTS="dry-run", **BUSY_TEST_MACHINE)
        assert run.results["selection"] == selection, run
        bad = [c for c in run.results["checks"] if c["outcome"] not in ("passed", "skipped") and not is_host_finding(c)]
        assert not bad, f"run {n} ({selection}): " + "; ".join(f"{c['id']}: {c['message']}" for c in bad)
        host_checks = {c["id"] for c in run.results["checks"] if is_host_finding(c)}
        alerted = [str(a.get("payload", {}).get("check", "")) for a in run.results["alerts"]]
        unexpected = [name for name in alerted if name not in host_checks]
        assert not unexpected, f"run {n} ({selection}) alerted on {unexpected}"
        assert run.returncode == (1 if host_checks else 0), run
    assert (run.report_dir / "state").is_dir(), "the runs kept no state to carry over"
