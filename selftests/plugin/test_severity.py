"""plugins/configuration/markers.py, plugins/outcomes/run.py and plugins/outputs/results.py: classification, one-line messages, the results file."""

import json
import re

import pytest

from conftest import run_pytest, REPO

CHECKS = """
    import os, time
    import pytest
    from plugins.probes import ProbeError

    @pytest.fixture
    def unreachable():
        raise ProbeError("the Docker daemon did not answer (connection refused)")

    @pytest.mark.critical
    @pytest.mark.monitor
    @pytest.mark.manual("Morning Health Check 1")
    def test_container_up(check):
        '''Every container is up.'''
        check.record("exited", "running")
        assert os.environ.get("BREAK") != "container", "container digitalme-digitalme-1 is Exited (137)"

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(check):
        check.record({"/": 83.0}, 80)
        assert os.environ.get("BREAK") != "disk", "disk / at 83 % (required: below 80 %)"

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_partial(check):
        check.lower_to_warning()
        assert os.environ.get("BREAK") != "partial", "/health answered 200 'Degraded' in 0.01 s"

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.timeout(1)
    @pytest.mark.manual("Morning Health Check 1")
    def test_hangs(check):
        if os.environ.get("BREAK") == "hang":
            time.sleep(30)

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_needs_docker(check, request):
        if os.environ.get("BREAK") == "docker":
            request.getfixturevalue("unreachable")
"""


def test_unclassified_check_is_a_collection_error(mini_project):
    run = mini_project(CHECKS + """
    def test_forgot_markers():
        pass

    @pytest.mark.warning
    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_two_severities():
        pass
    """)("-m", "monitor")
    assert run.returncode == 4, run
    assert "tests_mini/test_checks.py::test_forgot_markers (severity markers: none, schedule markers: none)" in run.stderr
    assert "test_two_severities (severity markers: ['critical', 'warning']" in run.stderr


def test_healthy_run_writes_an_ok_results_file_and_a_status_line(mini_project):
    run = mini_project(CHECKS)("-m", "daily or monitor")
    assert run.returncode == 0, run
    results = run.results
    assert results["schema"] == 1 and results["status"] == "ok" and results["selection"] == "daily or monitor"
    assert results["counts"] == {"passed": 5, "failed": 0, "skipped": 0, "error": 0, "waived": 0, "not checked": 0}
    first = run.check("test_container_up")
    assert first["title"] == "Every container is up."
    assert first["manual"] == "Morning Health Check 1 (Check container status)"
    assert {"id", "title", "severity", "outcome", "message", "duration_s", "value", "threshold"} <= set(first)
    assert "DigitalMe: OK - 5 checks passed" in run.stdout


def test_dated_file_and_latest_are_the_same_and_nothing_half_written_remains(mini_project):
    run = mini_project(CHECKS)("-m", "daily")
    dated = list(run.report_dir.glob("*-daily.json"))
    assert len(dated) == 1 and dated[0].read_text() == (run.report_dir / "latest.json").read_text()
    assert not list(run.report_dir.glob(".tmp-*"))


def test_failure_is_one_line_with_severity_measured_value_and_threshold(mini_project):
    run = mini_project(CHECKS)(env={"BREAK": "disk"})
    assert run.returncode == 1
    disk = run.check("test_disk")
    assert (disk["outcome"], disk["severity"], disk["message"]) == ("failed", "warning", "disk / at 83 % (required: below 80 %)")
    assert disk["value"] == {"/": 83.0} and disk["threshold"] == 80
    assert run.results["status"] == "warning"
    assert "DigitalMe: WARNING - 1 failed of 5 checks (1 warning)" in run.stdout
    assert "Traceback" not in run.stdout and "assert os.environ" not in run.stdout


def test_status_is_the_worst_severity(mini_project):
    run = mini_project(CHECKS)(env={"BREAK": "container"})
    assert run.results["status"] == "critical"
    assert run.check("test_container_up")["severity"] == "critical"


def test_a_check_may_lower_its_failure_to_warning(mini_project):
    run = mini_project(CHECKS)(env={"BREAK": "partial"})
    partial = run.check("test_partial")
    assert (partial["severity"], partial["declared_severity"]) == ("warning", "critical")
    assert run.results["status"] == "warning"


def test_hung_check_times_out_at_its_severity_and_the_run_goes_on(mini_project):
    run = mini_project(CHECKS)(env={"BREAK": "hang"})
    hung = run.check("test_hangs")
    assert (hung["outcome"], hung["severity"]) == ("error", "critical")
    assert hung["message"] == "could not be checked: timed out after 1 s"
    assert run.check("test_needs_docker")["outcome"] == "passed", "the checks after the hung one still ran"


def test_unreachable_target_is_could_not_be_checked_without_traceback(mini_project):
    run = mini_project(CHECKS)(env={"BREAK": "docker"})
    docker = run.check("test_needs_docker")
    assert (docker["outcome"], docker["severity"]) == ("error", "critical")
    assert docker["message"] == "could not be checked: the Docker daemon did not answer (connection refused)"
    assert "Traceback" not in run.stdout and "raise ProbeError" not in run.stdout


def test_dead_docker_daemon_fails_the_real_checks_cleanly(tmp_path):
    """The real suite with no Docker daemon behind DOCKER_HOST and no HTTP answer: the run completes; the target's
    headline is the one critical finding, and each Docker check is "not checked" because of it, keeping the error
    it would have been (plugins/outcomes/reachability.py)."""
    run = run_pytest(REPO, ["-m", "monitor"], {"DOCKER_HOST": "unix:///nonexistent/docker.sock",
                                                "DIGITALME_BASE_URL": "http://127.0.0.1:9",
                                                "DIGITALME_HTTPS_URL": "https://127.0.0.1:9",  # not a demo's :443
                                                "DIGITALME_ALERTS": "off"}, tmp_path / "reports")
    assert run.returncode == 1, run
    assert "Traceback" not in run.stdout
    headline = run.check("test_target_reachable")
    assert (headline["outcome"], headline["severity"]) == ("failed", "critical"), headline
    assert "neither HTTP nor Docker answers" in headline["message"], headline
    containers = run.check("test_compose_containers_running")
    assert containers["outcome"] == "not checked" and containers["severity"] == "critical"
    assert containers["blocked_by"]["outcome"] == "error"
    assert containers["blocked_by"]["message"].startswith("could not be checked: the Docker daemon did not answer")
    health = run.check("test_health_answers_healthy")
    assert health["blocked_by"]["outcome"] == "failed" and "/health gave no answer" in health["blocked_by"]["message"]
    assert json.loads((tmp_path / "reports" / "latest.json").read_text())["status"] == "critical"


def test_unreachable_host_fails_the_host_checks_cleanly(tmp_path):
    """--hosts naming a host that does not answer: each host check errors at its severity, in ssh's words; with
    neither HTTP nor Docker answering either, the target's headline stands for them ("not checked")."""
    run = run_pytest(REPO, ["-m", "resources", "--hosts=ssh://nobody@127.0.0.1:9"],
                     {"DIGITALME_ALERTS": "off", "DOCKER_HOST": "unix:///nonexistent/docker.sock",
                      # nothing answers, even with a demo sandbox on localhost:80/443
                      "DIGITALME_BASE_URL": "http://127.0.0.1:9", "DIGITALME_HTTPS_URL": "https://127.0.0.1:9"},
                     tmp_path / "reports")
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    for name, severity in (("test_host_memory_below_threshold", "warning"),
                           ("test_filesystems_below_disk_threshold", "warning")):
        check = run.check(name)
        assert (check["outcome"], check["severity"]) == ("not checked", severity), check
        assert (check["blocked_by"]["outcome"], check["blocked_by"]["message"]) == (
            "error", "could not be checked: host ssh://127.0.0.1 did not answer: "
            "ssh: connect to host 127.0.0.1 port 9: Connection refused "
            "(127.0.0.1 resolves to nobody@127.0.0.1:9)"), check


# A probe failing inside a check's body, one failing in its fixture, a finding, and a passing check.
UNCHECKED = """
    import pytest
    from plugins.probes import ProbeError

    @pytest.fixture
    def docker():
        raise ProbeError("the Docker daemon did not answer (connection refused)")

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_probe_fails_in_the_body(check):
        raise ProbeError("the Docker daemon did not answer (connection refused)")

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_probe_fails_in_the_fixture(check, docker):
        pass

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(check):
        assert False, "disk / at 83 % >= 80 %"

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Memory Usage")
    def test_memory(check):
        pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_terminal_and_results_file_count_alike(mini_project, workers):
    """"Could not be checked" is an error wherever it broke: pytest's own line says what the results file and the
    status line say (pytest alone would count the one in the check's body as failed)."""
    run = mini_project(UNCHECKED)(*workers)
    assert run.returncode == 1, run
    assert run.results["counts"] == {"passed": 1, "failed": 1, "skipped": 0, "error": 2, "waived": 0, "not checked": 0}
    assert re.search(r"=+ 1 failed, 1 passed, 2 errors in [\d.]+s", run.stdout), run
    assert "DigitalMe: CRITICAL - 1 failed, 2 errors of 4 checks (1 critical, 2 warning) - report " in run.stdout
    assert "ERROR tests_mini/test_checks.py::test_probe_fails_in_the_body" in run.stdout, run
    assert "FAILED tests_mini/test_checks.py::test_disk" in run.stdout, run


def test_a_run_without_errors_counts_failed_alike(mini_project):
    run = mini_project(UNCHECKED.replace('raise ProbeError("the Docker daemon did not answer (connection refused)")',
                                         "pass"))()
    assert run.returncode == 1 and run.results["counts"]["failed"] == 1 and run.results["counts"]["error"] == 0
    assert re.search(r"=+ 1 failed, 3 passed in [\d.]+s", run.stdout), run
    assert "DigitalMe: WARNING - 1 failed of 4 checks (1 warning) - report " in run.stdout, run
