"""Faults injected into the sandbox, caught by tests_health/ (Morning 1-3, Dashboard, Troubleshooting logs)."""

import pytest

from sandbox import CONTAINER, HTTP_PORT, HTTPS_PORT, PROJECT
from conftest import assert_caught, assert_passed

pytestmark = pytest.mark.sandbox
CONTAINERS = "tests_health/test_containers.py"
ENDPOINTS = "tests_health/test_endpoints.py"
LOGS = "tests_health/test_logs.py"


def test_stopped_container_fails_the_monitor_checks_as_critical(healthy_sandbox, suite):
    """The run completes; containers, /health, the database and the ports are each reported, critical."""
    healthy_sandbox.docker("stop", "-t", "1", CONTAINER)
    run = suite("-m", "monitor or resources")
    assert_caught(run, "test_compose_containers_running", "critical", rf"{CONTAINER} is Exited")
    assert_caught(run, "test_app_container_healthy", "critical", r"is exited, not running")
    assert_caught(run, "test_health_answers_healthy", "critical", r"^/health gave no answer after [\d.]+ s: .*(refused|reset|connect)")
    assert_caught(run, "test_database_file_exists", "critical", r"^could not be checked: .*(not running|is not running)", outcome="error")
    assert_caught(run, "test_ports_listening", "critical", rf"nothing listens on TCP port {', '.join(map(str, sorted([HTTP_PORT, HTTPS_PORT])))}")
    assert run.results["status"] == "critical"
    assert "DigitalMe: CRITICAL" in run.stdout


def test_removed_containers_fail_the_container_check(healthy_sandbox, suite):
    healthy_sandbox.compose("rm", "--stop", "--force")
    run = suite(f"{CONTAINERS}::test_compose_containers_running")
    assert_caught(run, "test_compose_containers_running", "critical", rf"no containers of compose project '{PROJECT}' exist")


def test_unhealthy_docker_healthcheck_is_critical(healthy_sandbox, suite):
    healthy_sandbox.control("health", "Unhealthy")
    healthy_sandbox.wait_for("{{.State.Health.Status}}", "unhealthy")
    run = suite(f"{CONTAINERS}::test_app_container_healthy")
    assert_caught(run, "test_app_container_healthy", "critical", r"health is 'unhealthy' after \d+ failing probe")


def test_restart_loop_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("crash")
    healthy_sandbox.docker("restart", "-t", "1", CONTAINER)
    healthy_sandbox.wait_for("{{ge .RestartCount 4}}", "true", timeout=60)
    run = suite(f"{CONTAINERS}::test_app_container_not_restart_looping")
    assert_caught(run, "test_app_container_not_restart_looping", "warning", r"(is restarting|restarted \d+ times > 3)")


def test_unhealthy_health_endpoint_is_critical(healthy_sandbox, suite):
    healthy_sandbox.control("health", "Unhealthy")
    run = suite(f"{ENDPOINTS}::test_health_answers_healthy")
    assert_caught(run, "test_health_answers_healthy", "critical", r"^/health answered 503 'Unhealthy' in [\d.]+ s$")


def test_degraded_health_endpoint_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("health", "Degraded")
    run = suite(f"{ENDPOINTS}::test_health_answers_healthy")
    check = assert_caught(run, "test_health_answers_healthy", "warning", r"^/health answered 200 'Degraded'")
    assert check["declared_severity"] == "critical"


def test_missing_database_makes_health_unhealthy(healthy_sandbox, suite):
    """The app's own health check sees the database: a removed file is an outage, not just a missing file."""
    with healthy_sandbox.moved_aside("/app/data/digitalme.db"):
        run = suite(f"{ENDPOINTS}::test_health_answers_healthy")
    assert_caught(run, "test_health_answers_healthy", "critical", r"503 'Unhealthy'")


def test_readiness_failure_is_critical(healthy_sandbox, suite):
    healthy_sandbox.control("ready", "Unhealthy")
    run = suite(f"{ENDPOINTS}::test_readiness_answers_200", f"{ENDPOINTS}::test_health_answers_healthy")
    assert_caught(run, "test_readiness_answers_200", "critical", r"^/health/ready answered 503")
    assert_passed(run, "test_health_answers_healthy")


def test_broken_info_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("info", "broken")
    run = suite(f"{ENDPOINTS}::test_info_names_version_and_environment")
    assert_caught(run, "test_info_names_version_and_environment", "warning", r"^/info answered 500")


def test_slow_endpoints_are_warnings_with_their_timing(healthy_sandbox, suite):
    healthy_sandbox.control("delay", "0.6")
    run = suite("-k", "test_endpoint_answers_within_time", ENDPOINTS, DIGITALME_RESPONSE_TIME_MAX_S="0.4")
    for path in ("/health", "/health/ready", "/info"):
        check = assert_caught(run, f"test_endpoint_answers_within_time[{path}]", "warning",
                              rf"^{path} took 0\.[6-9]\d s >= 0.4 s \(connect")
        assert set(check["value"]) >= {"dns_s", "connect_s", "tls_s", "first_byte_s", "total_s"}
        assert check["value"]["total_s"] >= 0.6


def test_hung_endpoint_is_a_critical_no_answer_within_the_read_timeout(healthy_sandbox, suite):
    healthy_sandbox.control("delay", "5")
    run = suite(f"{ENDPOINTS}::test_health_answers_healthy", DIGITALME_READ_TIMEOUT_S="0.5")
    assert_caught(run, "test_health_answers_healthy", "critical", r"^/health gave no answer after [\d.]+ s: .*timed out")


def test_https_without_a_certificate_is_critical(healthy_sandbox, suite):
    for name in ("digitalme.crt", "digitalme.key"):
        (healthy_sandbox.certs_dir / name).unlink()
    run = suite(f"{ENDPOINTS}::test_https_health_answers_healthy", f"{ENDPOINTS}::test_health_answers_healthy")
    assert_caught(run, "test_https_health_answers_healthy", "critical", rf"^https://127.0.0.1:{HTTPS_PORT}/health gave no answer")
    assert_passed(run, "test_health_answers_healthy")


def test_https_check_skips_where_https_does_not_apply(healthy_sandbox, suite):
    run = suite(f"{ENDPOINTS}::test_https_health_answers_healthy", DIGITALME_HTTPS_URL="")
    check = run.check("test_https_health_answers_healthy")
    assert check["outcome"] == "skipped" and "HTTPS not applicable" in check["message"]


def test_critical_log_pattern_is_critical(healthy_sandbox, suite):
    healthy_sandbox.log_line("crit: DigitalMe.Program[0] FATAL: System.OutOfMemoryException: injected by the selftest")
    run = suite(f"{LOGS}::test_no_critical_pattern_in_recent_logs")
    check = assert_caught(run, "test_no_critical_pattern_in_recent_logs", "critical",
                          r"^1 critical line\(s\) in the last 100 log lines, e\.g\. .*OutOfMemoryException")
    assert "injected by the selftest" in check["evidence"]["matching lines"]


def test_errors_in_the_last_day_beyond_the_limit_are_a_warning(healthy_sandbox, suite):
    for n in range(3):
        healthy_sandbox.log_line(f"fail: DigitalMe.Api[0] request {n} failed with System.InvalidOperationException")
    run = suite(f"{LOGS}::test_errors_in_last_day_within_limit", DIGITALME_LOG_ERRORS_MAX="2")
    assert_caught(run, "test_errors_in_last_day_within_limit", "warning", r"^3 error line\(s\) in the last 24 h > 2")


def test_slow_lines_in_the_last_month_beyond_the_limit_are_a_warning(healthy_sandbox, suite):
    for n in range(3):
        healthy_sandbox.log_line(f"warn: DigitalMe.Data[0] Slow query {n}: 2300 ms")
    run = suite(f"{LOGS}::test_performance_lines_in_last_month_within_limit", DIGITALME_LOG_SLOW_MAX="2")
    assert_caught(run, "test_performance_lines_in_last_month_within_limit", "warning",
                  r"^3 slow/timeout/performance line\(s\) in the last 720 h > 2")
