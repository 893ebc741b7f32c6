"""Faults injected into the sandbox, caught by tests_resources/ (Resource Monitoring, Weekly 1, config change).

Host memory, disk and CPU are held to lowered thresholds: filling the machine's disk or memory for real would
endanger the machine running the tests. Everything else is a real fault.
"""

import pytest

from sandbox import CONTAINER, HTTP_PORT, HTTPS_PORT, PROJECT, free_ports
from conftest import assert_caught, assert_passed

pytestmark = pytest.mark.sandbox
HOST = "tests_resources/test_host.py"
CONTAINER_CHECKS = "tests_resources/test_container.py"


def test_host_memory_over_threshold_is_a_warning(healthy_sandbox, suite):
    run = suite("-k", "test_host_memory_below_threshold", HOST, DIGITALME_MEMORY_MAX_PCT="0.5")
    check = assert_caught(run, "test_host_memory_below_threshold", "warning",
                          r"^memory at [\d.]+ % \(\d+ MiB available of \d+ MiB\) \(required: below 0.5 %\)$")
    assert 0 < check["value"] < 100


def test_disk_over_threshold_is_a_warning(healthy_sandbox, suite):
    run = suite("-k", "test_filesystems_below_disk_threshold", HOST, DIGITALME_DISK_MAX_PCT="0.5")
    check = assert_caught(run, "test_filesystems_below_disk_threshold", "warning", r"^disk / at \d+ %.* \(required: below 0.5 %\)$")
    assert "/" in check["value"] and not any(mount.startswith("/proc") for mount in check["value"])


def test_sustained_cpu_over_threshold_is_a_warning(healthy_sandbox, suite):
    run = suite("-k", "test_cpu_below_threshold_sustained", HOST, DIGITALME_CPU_MAX_PCT="0")
    check = assert_caught(run, "test_cpu_below_threshold_sustained", "warning",
                          r"^CPU at \d+ % busy now and \d+ % 5-minute load per core \(load [\d.]+ on \d+ cores\) "
                          r"\(required: not both at 0 % or above\)$")
    assert set(check["value"]) == {"load5_per_core_pct", "busy_pct_now"}


def test_container_memory_over_limit_is_a_warning(healthy_sandbox, suite):
    """The app really holds 96 MiB more; the limit is lowered to 64 MiB instead of 2 GiB."""
    healthy_sandbox.control("memory_mb", "96")
    import time
    time.sleep(1.5)  # the app allocates within half a second
    run = suite(f"{CONTAINER_CHECKS}::test_container_memory_below_limit", DIGITALME_CONTAINER_MEMORY_MAX="64MiB")
    check = assert_caught(run, "test_container_memory_below_limit", "warning",
                          rf"^{CONTAINER} uses \d+ MiB \(required: below 64 MiB\)$")
    assert check["value"] >= 96 * 1024**2


def test_closed_ports_are_critical(healthy_sandbox, suite):
    closed = free_ports(1)[0]
    run = suite("-k", "test_ports_answer", HOST, DIGITALME_BASE_URL=f"http://127.0.0.1:{closed}")
    check = assert_caught(run, "test_ports_answer", "critical",
                          rf"^nothing answers on TCP port {closed} \(of 127.0.0.1:{closed}, 127.0.0.1:{HTTPS_PORT}\): "
                          rf"127.0.0.1:{closed} connection refused \(required: every port answers\)$")
    assert check["value"][f"127.0.0.1:{HTTPS_PORT}"].startswith(f"https://127.0.0.1:{HTTPS_PORT}/health answered 200")


def test_ports_are_judged_by_answers_not_by_what_listens(healthy_sandbox, suite):
    """A port is served when connections to it are answered, whatever listens (Docker's NAT with
    userland-proxy off leaves no listener). Proven here: pointed (--hosts) at a "host" where nothing listens on
    the published ports (the sandbox container itself, whose app listens on 80 and 443), the check passes,
    because connections to the URLs' ports are answered; the listening-table check it replaces did not pass."""
    run = suite("-k", "test_ports_answer", HOST, f"--hosts=docker://{CONTAINER}")
    check = assert_passed(run, "test_ports_answer")
    assert set(check["value"]) == {f"127.0.0.1:{HTTP_PORT}", f"127.0.0.1:{HTTPS_PORT}"}, check


def test_log_rotation_off_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.recreate_with("services:\n  digitalme:\n    logging: !reset {}\n")
    run = suite(f"{CONTAINER_CHECKS}::test_log_rotation_configured")
    assert_caught(run, "test_log_rotation_configured", "warning",
                  rf"^{CONTAINER} logs with 'json-file' and no max-size")


def test_reclaimable_docker_space_over_limit_is_a_warning(healthy_sandbox, suite):
    name = f"{PROJECT}-stopped-junk"
    healthy_sandbox.docker("rm", "-f", name, check=False)
    healthy_sandbox.docker("run", "--name", name, "--entrypoint", "sh", "digitalme-sandbox:latest",
                           "-c", "head -c 3000000 /dev/zero > /tmp/junk")
    try:
        run = suite(f"{CONTAINER_CHECKS}::test_reclaimable_docker_space_below_limit", DIGITALME_DOCKER_RECLAIMABLE_MAX="1MiB")
    finally:
        healthy_sandbox.docker("rm", "-f", name, check=False)
    assert_caught(run, "test_reclaimable_docker_space_below_limit", "warning",
                  r"^\d+ MiB reclaimable \(\d+ dangling image\(s\), [1-9]\d* stopped container\(s\)\): prune them "
                  r"\(required: below 1 MiB\)$")


def test_invalid_compose_file_is_critical(healthy_sandbox, suite, tmp_path):
    from sandbox import COMPOSE_FILE
    broken = tmp_path / "docker-compose.production.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("restart: unless-stopped", "restart: [unless-stopped"))
    run = suite(f"{CONTAINER_CHECKS}::test_compose_config_valid", DIGITALME_COMPOSE_FILE=str(broken))
    assert_caught(run, "test_compose_config_valid", "critical", r"docker-compose.production.yml does not validate: ")


def test_missing_compose_file_is_critical(healthy_sandbox, suite, tmp_path):
    absent = tmp_path / "docker-compose.production.yml"
    run = suite(f"{CONTAINER_CHECKS}::test_compose_config_valid", DIGITALME_COMPOSE_FILE=str(absent))
    assert_caught(run, "test_compose_config_valid", "critical",
                  rf"^compose file {absent} does not exist \(DIGITALME_COMPOSE_FILE='{absent}'\)")
