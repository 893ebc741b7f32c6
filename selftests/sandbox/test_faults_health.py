"""Faults injected into the sandbox, caught by tests_health/ (Morning 1-3, Dashboard, Troubleshooting logs)."""

import re
import shutil
import time

import pytest

from sandbox import CONTAINER, HTTP_PORT, HTTPS_PORT, PROJECT
from conftest import assert_caught, assert_passed

pytestmark = pytest.mark.sandbox
CONTAINERS = "tests_health/test_containers.py"
ENDPOINTS = "tests_health/test_endpoints.py"
LOGS = "tests_health/test_logs.py"


def test_stopped_container_fails_the_monitor_checks_as_critical(healthy_sandbox, suite):
    """The run completes; the target's headline is the one critical finding, and containers, /health, the
    database and the ports are each "not checked" because of it, keeping what each found (plugins/outcomes/reachability.py).
    Without the headline in the selection they are each reported, critical, as they always were."""
    healthy_sandbox.docker("stop", "-t", "1", CONTAINER)
    run = suite("-m", "monitor or resources")
    assert_caught(run, "test_target_reachable", "critical", rf"^the target is unreachable: app container {CONTAINER} "
                  r"is exited .*, not running; HTTP: .*gave no answer")
    for name, pattern in (("test_compose_containers_running", rf"{CONTAINER} is Exited"),
                          ("test_app_container_healthy", r"is exited, not running"),
                          ("test_health_answers_healthy", r"^/health gave no answer after [\d.]+ s: .*(refused|reset|connect)"),
                          ("test_database_file_exists", r"^could not be checked: .*(not running|is not running)"),
                          ("test_ports_answer", rf"^nothing answers on TCP port {HTTP_PORT}, {HTTPS_PORT} .*connection refused")):
        check = run.check(name)
        assert check["outcome"] == "not checked" and re.search(pattern, check["blocked_by"]["message"]), check
    assert run.results["status"] == "critical"
    assert "DigitalMe: CRITICAL" in run.stdout
    alone = suite("-m", "monitor or resources", "-k", "not test_target_reachable")
    assert_caught(alone, "test_health_answers_healthy", "critical", r"^/health gave no answer after [\d.]+ s")
    assert_caught(alone, "test_database_file_exists", "critical", r"^could not be checked: .*not running", outcome="error")


def test_removed_containers_fail_the_container_check(healthy_sandbox, suite):
    healthy_sandbox.compose("rm", "--stop", "--force")
    run = suite(f"{CONTAINERS}::test_compose_containers_running")
    assert_caught(run, "test_compose_containers_running", "critical", rf"no containers of compose project '{PROJECT}' exist")


def test_exited_one_off_container_is_not_the_service_down(healthy_sandbox, suite):
    """`docker compose run` (a migration, a shell) leaves an exited one-off container: shown, not a finding."""
    healthy_sandbox.compose("run", "-T", "--no-deps", "digitalme", "true")
    one_offs = healthy_sandbox.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}",
                                      "--filter", "label=com.docker.compose.oneoff=True").stdout.split()
    try:
        assert one_offs, "compose run left no one-off container"
        run = suite(f"{CONTAINERS}::test_compose_containers_running")
    finally:
        healthy_sandbox.docker("rm", "-f", *one_offs, check=False)
    check = assert_passed(run, "test_compose_containers_running")
    assert re.search(rf"{PROJECT}-digitalme-run-\w+ .*Exited \(0\).*\(one-off\)",
                     check["evidence"]["docker-compose ps -a"]), check
    assert check["value"]["declared services"] == ["digitalme"], check


def test_declared_service_without_a_container_is_critical(healthy_sandbox, suite, tmp_path):
    """The project was started from a compose file declaring a second service that never got a container.

    The configured file is absent here, so the check also proves it finds the file the containers were started
    from (their label com.docker.compose.project.config_files)."""
    override = tmp_path / "override.yml"
    override.write_text("services:\n  worker:\n    image: ${SANDBOX_IMAGE:-digitalme-sandbox:latest}\n"
                        "    command: [\"sleep\", \"600\"]\n")
    healthy_sandbox.recreate_on_restore = True
    healthy_sandbox.compose("up", "--detach", "--wait", "--force-recreate", "--no-deps", "digitalme", override=override)
    run = suite(f"{CONTAINERS}::test_compose_containers_running", DIGITALME_COMPOSE_FILE=str(tmp_path / "absent.yml"))
    check = assert_caught(run, "test_compose_containers_running", "critical",
                          r"^container not running: service 'worker' declared in .*docker-compose.production.yml,"
                          r".*override.yml has no container \(required: every declared service has a running container\)$")
    assert check["value"]["declared services"] == ["digitalme", "worker"], check


def test_declared_services_are_kept_only_while_what_compose_reads_is_unchanged(healthy_sandbox, suite, tmp_path):
    """compose's answer (config --services) is reused by a run whose files and variables hash the same; a changed
    file or a COMPOSE_* variable makes the next run ask compose again, and it sees the change."""
    from sandbox import COMPOSE_FILE
    compose_file = tmp_path / "docker-compose.production.yml"
    shutil.copyfile(COMPOSE_FILE, compose_file)
    (tmp_path / ".env").write_text("")  # the project folder's .env (env_file: .env) is one of compose's inputs

    def declared(**env):
        run = suite(f"{CONTAINERS}::test_compose_containers_running", DIGITALME_COMPOSE_FILE=str(compose_file), **env)
        return run, run.check("test_compose_containers_running")["value"]

    run, value = declared()
    assert run.returncode == 0 and value["declared services"] == ["digitalme"], run
    assert "declared services as" not in value, value  # the first run asks compose
    run, value = declared()
    assert run.returncode == 0 and value["declared services"] == ["digitalme"], run
    assert re.fullmatch(r"docker compose config --services answered at \d{4}-\d\d-\d\d \d\d:\d\d UTC "
                        r"\(its inputs unchanged since\)", value["declared services as"]), value
    worker = '\n  worker:\n    image: busybox-not-pulled\n    profiles: ["${WORKER_PROFILE:-}"]\n'  # active unless
    compose_file.write_text(compose_file.read_text().replace("\nvolumes:\n", worker + "\nvolumes:\n", 1))  # profile off
    run, value = declared(WORKER_PROFILE="")
    assert value["declared services"] == ["digitalme", "worker"] and "declared services as" not in value, value
    assert_caught(run, "test_compose_containers_running", "critical", r"service 'worker' declared in .* has no container")
    run, value = declared(WORKER_PROFILE="later")  # a variable the file names: compose asked again, worker inactive
    assert value["declared services"] == ["digitalme"] and "declared services as" not in value, value
    run, value = declared(WORKER_PROFILE="later", COMPOSE_PROFILES="later")
    assert value["declared services"] == ["digitalme", "worker"] and "declared services as" not in value, value


def test_starting_within_the_start_period_is_not_judged_yet(healthy_sandbox, suite):
    """Health `starting` right after a (re)start, inside a 60 s start period: skipped, saying so, not critical."""
    healthy_sandbox.recreate_without_waiting(
        "services:\n  digitalme:\n    healthcheck:\n      interval: 30s\n      start_period: 60s\n")
    healthy_sandbox.wait_for("{{.State.Running}} {{.State.Health.Status}}", "true starting")
    run = suite(f"{CONTAINERS}::test_app_container_healthy")
    check = run.check("test_app_container_healthy")
    assert check["outcome"] == "skipped", check
    assert re.fullmatch(r"not judged yet: health 'starting' \d+ s after start, within its 60 s start period",
                        check["message"]), check


def test_starting_past_the_start_period_is_critical(healthy_sandbox, suite):
    """Still `starting` after a 1 s start period (the first probe comes only after 30 s): critical, saying why."""
    healthy_sandbox.recreate_without_waiting(
        "services:\n  digitalme:\n    healthcheck:\n      interval: 30s\n      start_period: 1s\n")
    healthy_sandbox.wait_for("{{.State.Running}} {{.State.Health.Status}}", "true starting")
    time.sleep(1.5)
    run = suite(f"{CONTAINERS}::test_app_container_healthy")
    assert healthy_sandbox.inspect("{{.State.Health.Status}}") == "starting", "a probe ran: the scenario did not hold"
    assert_caught(run, "test_app_container_healthy", "critical",
                  rf"^{CONTAINER} health is still 'starting' \d+ s after start, past its 1 s start period")


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
    assert_caught(run, "test_app_container_not_restart_looping", "warning", r"(is restarting .*\(required: running, not restarting\)|restarted \d+ times since it was created \(required: at most 3\))$")


def test_unhealthy_health_endpoint_is_critical(healthy_sandbox, suite):
    healthy_sandbox.control("health", "Unhealthy")
    run = suite(f"{ENDPOINTS}::test_health_answers_healthy")
    assert_caught(run, "test_health_answers_healthy", "critical", r"^/health answered 503 'Unhealthy' in [\d.]+ s \(required: 200 Healthy\)$")


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


def test_info_answering_a_json_array_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("info", "array")
    run = suite(f"{ENDPOINTS}::test_info_names_version_and_environment")
    check = assert_caught(run, "test_info_names_version_and_environment", "warning",
                          r"^/info answered a JSON array: '\[.*' \(required: 200 with a JSON object naming version and environment\)$")
    assert check["value"] == "array"


def test_slow_endpoints_are_warnings_with_their_timing(healthy_sandbox, suite):
    healthy_sandbox.control("delay", "0.6")
    run = suite("-k", "test_endpoint_answers_within_time", ENDPOINTS, DIGITALME_RESPONSE_TIME_MAX_S="0.4")
    for path in ("/health", "/health/ready", "/info"):
        check = assert_caught(run, f"test_endpoint_answers_within_time[{path}]", "warning",
                              rf"^{path} took (0\.[6-9]|[1-9]\d*\.\d)\d s \(connect .*\) "  # 0.6 s or more: load adds
                              r"\(required: an answer within 0.4 s\)$")
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


def test_degraded_https_health_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("health", "Degraded")
    run = suite(f"{ENDPOINTS}::test_https_health_answers_healthy")
    check = assert_caught(run, "test_https_health_answers_healthy", "warning",
                          rf"^https://127.0.0.1:{HTTPS_PORT}/health answered 200 'Degraded'")
    assert check["declared_severity"] == "critical"


def test_https_check_skips_where_https_does_not_apply(healthy_sandbox, suite):
    run = suite(f"{ENDPOINTS}::test_https_health_answers_healthy", DIGITALME_HTTPS_URL="")
    check = run.check("test_https_health_answers_healthy")
    assert check["outcome"] == "skipped" and "HTTPS not applicable" in check["message"]
