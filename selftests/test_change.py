"""The post-change gate (`pytest -m change`, tests_health/test_change.py) on the sandbox: it passes on a healthy
stack, waits through a restart, and fails on each thing it verifies."""

import contextlib
import os
import re
import select
import subprocess
import time

import pytest

from sandbox import CONTAINER, PROJECT
from conftest import PYTHON, REPO, SuiteRun, assert_caught, assert_passed

pytestmark = pytest.mark.sandbox
GATE_CHECKS = {"test_app_healthy_after_change", "test_services_run_the_images_their_compose_file_names",
               "test_no_error_logged_since_the_container_started", "test_pre_change_backup_made_within_the_hour",
               "test_compose_config_valid"}


@contextlib.contextmanager
def pre_restart_backup(sandbox, age=""):
    """The procedure's step 2, `cp /app/data/digitalme.db /app/backups/pre-restart-<stamp>.db`, as the app's user
    (``age``: a `touch -d` date to make it older); removed afterwards."""
    name = f"pre-restart-selftest-{os.getpid()}.db"
    aged = f" && touch -d {age!r} /app/backups/{name}" if age else ""
    sandbox.exec(f"cp /app/data/digitalme.db /app/backups/{name}{aged}", user="digitalme")
    try:
        yield name
    finally:
        sandbox.exec(f"rm -f /app/backups/{name}")


def names(run):
    return {c["id"].split("::")[-1].split("[")[0] for c in run.results["checks"]}


def test_gate_passes_on_a_healthy_sandbox(healthy_sandbox, suite):
    """Healthy, a fresh pre-restart backup: exit 0, every check of the gate passed, the wait recorded."""
    with pre_restart_backup(healthy_sandbox):
        run = suite("-m", "change")
    assert run.returncode == 0, run
    assert names(run) == GATE_CHECKS, run.results["checks"]
    for name in GATE_CHECKS:
        assert_passed(run, name)
    waited = run.check("test_app_healthy_after_change")["value"]
    assert waited["healthy"] is True and 0 <= waited["waited_s"] < 5, waited
    assert waited["docker"] == "health healthy" and waited["/health"].startswith("/health answered 200 'Healthy'")
    assert run.check("test_services_run_the_images_their_compose_file_names")["value"] == {
        "digitalme": ["digitalme-sandbox:latest"]}


def test_a_plain_run_leaves_the_gate_out(healthy_sandbox, suite):
    """`pytest` without -m runs every schedule, not the gate (its compose validation is also weekly)."""
    run = suite("--collect-only", "-q")
    assert "test_change.py" not in run.stdout and "test_compose_config_valid" in run.stdout, run


def test_restart_during_the_gate_is_waited_for(healthy_sandbox, tmp_path):
    """The container is stopped when the gate starts and started 2 s after the gate's first check began (the
    manual's emergency restart: stop, start): the gate waits, passes, and records the wait."""
    with pre_restart_backup(healthy_sandbox):
        healthy_sandbox.docker("stop", "-t", "1", CONTAINER)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}
        environment.update(healthy_sandbox.settings_env, DIGITALME_REPORT_DIR=str(tmp_path / "reports"),
                           PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        gate = subprocess.Popen([PYTHON, "-m", "pytest", "-v", "-m", "change"], cwd=REPO, env=environment,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            seen = wait_for_output(gate, b"test_app_healthy_after_change", timeout=60)
            time.sleep(2)  # the gate is polling a stopped container
            healthy_sandbox.docker("start", CONTAINER)
            stdout, stderr = gate.communicate(timeout=120)
        finally:
            if gate.poll() is None:
                gate.kill()
                gate.wait()
    run = SuiteRun(subprocess.CompletedProcess(gate.args, gate.returncode, (seen + stdout).decode(), stderr.decode()),
                   tmp_path / "reports")
    assert run.returncode == 0, run
    check = assert_passed(run, "test_app_healthy_after_change")
    assert check["value"]["waited_s"] >= 2 and check["value"]["healthy"] is True, check
    saw = check["evidence"]["what the gate saw while it waited"].splitlines()
    assert re.search(r"^\s*0\.\d s: container exited; /health no answer \(", saw[0]), saw
    assert re.search(r"s: health healthy; /health 200 'Healthy'$", saw[-1]), saw
    assert_passed(run, "test_no_error_logged_since_the_container_started")


def wait_for_output(process, text, timeout):
    """Read the process's stdout until ``text`` appears (pytest -v names a check as it starts it)."""
    read, deadline = b"", time.monotonic() + timeout
    while text not in read:
        assert time.monotonic() < deadline and process.poll() is None, f"the gate never started its checks: {read!r}"
        if select.select([process.stdout], [], [], 0.5)[0]:
            read += os.read(process.stdout.fileno(), 4096)
    return read


def test_never_healthy_within_the_wait_is_critical(healthy_sandbox, suite):
    """/health Unhealthy (Docker's health too): after DIGITALME_CHANGE_WAIT_S=4 the gate fails critical, saying
    what it saw. pytest's own timeout (2 s here) does not cut the wait short: the gate's checks get the wait on top."""
    healthy_sandbox.control("health", "Unhealthy")
    healthy_sandbox.wait_for("{{.State.Health.Status}}", "unhealthy")
    run = suite("-m", "change", "--timeout=2", DIGITALME_CHANGE_WAIT_S="4")
    check = assert_caught(run, "test_app_healthy_after_change", "critical",
                          rf"^{CONTAINER} not healthy after waiting \d s: "
                          r"health unhealthy; /health answered 503 'Unhealthy' in [\d.]+ s "
                          r"\(required: Docker health healthy and /health Healthy within 4 s\)$")
    assert 4 <= check["value"]["waited_s"] < 8, check
    assert check["value"]["healthy"] is False and check["threshold"] == 4, check


def test_degraded_after_the_wait_is_a_warning(healthy_sandbox, suite):
    """/health answering Degraded (Docker's healthcheck passes on its 200) is waited out, then a warning, as in
    test_health_answers_healthy."""
    healthy_sandbox.control("health", "Degraded")
    run = suite("-m", "change", "-k", "test_app_healthy_after_change", DIGITALME_CHANGE_WAIT_S="2")
    check = assert_caught(run, "test_app_healthy_after_change", "warning",
                          rf"^{CONTAINER} not healthy after waiting \d+ s: health healthy; "
                          r"/health answered 200 'Degraded'.* \(required: Docker health healthy and /health Healthy "
                          r"within 2 s\)$")
    assert check["declared_severity"] == "critical" and check["value"]["waited_s"] >= 2, check


def test_error_logged_since_the_start_fails_and_one_before_it_does_not(healthy_sandbox, suite):
    """A fail: entry before a restart belongs to the old run (a restart keeps the container's log); one logged
    after the start fails the gate."""
    healthy_sandbox.log_entry("fail", "DigitalMe.Controllers.ChatController[0]", "Before the restart (selftest)")
    healthy_sandbox.docker("restart", "-t", "1", CONTAINER)
    healthy_sandbox.wait_healthy()
    before = suite("-m", "change", "-k", "test_no_error_logged_since_the_container_started")
    check = assert_passed(before, "test_no_error_logged_since_the_container_started")
    assert check["value"]["error entries"] == 0 and check["value"]["entries since start"] >= 2, check
    healthy_sandbox.log_entry("fail", "Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware[1]",
                              "An unhandled exception has occurred while executing the request.",
                              ["System.InvalidOperationException: injected by the selftest"])
    after = suite("-m", "change", "-k", "test_no_error_logged_since_the_container_started")
    assert_caught(after, "test_no_error_logged_since_the_container_started", "critical",
                  rf"^1 error entry logged since {CONTAINER} started at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ; "
                  r"latest: 'fail: Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware\[1\] An unhandled.* "
                  r"\(required: none\)$")


def test_missing_pre_change_backup_is_a_warning(healthy_sandbox, suite):
    """No copy at all, then one made two hours ago (named in the message): a warning each time."""
    none = suite("-m", "change", "-k", "test_pre_change_backup_made_within_the_hour")
    assert_caught(none, "test_pre_change_backup_made_within_the_hour", "warning",
                  r"^no pre-restart-\*, pre-update-\* or manual-backup-\* backup younger than 1 h in /app/backups "
                  r"\(none at all\) \(required: one younger than 1 h\)$")
    with pre_restart_backup(healthy_sandbox, age="2 hours ago") as name:
        old = suite("-m", "change", "-k", "test_pre_change_backup_made_within_the_hour")
    check = assert_caught(old, "test_pre_change_backup_made_within_the_hour", "warning",
                          rf"younger than 1 h in /app/backups \(newest: {re.escape(name)}, 2\.0 h old\) "
                          r"\(required: one younger than 1 h\)$")
    assert check["value"]["newest"] == name and 1.9 < check["value"]["age_h"] < 2.2, check


def test_service_running_another_image_than_the_compose_file_names_is_critical(healthy_sandbox, suite):
    """The container was created from another tag (a compose file changed back to :latest without `up -d`):
    the gate names both. The tag is this session's own and is removed afterwards. The file names
    `${SANDBOX_IMAGE:-digitalme-sandbox:latest}`: the checker is given SANDBOX_IMAGE, as a deploy job would be
    (unset, the default that does not run is not judged: test_image_tag_set_nowhere_is_not_judged_and_named)."""
    other = f"digitalme-sandbox:selftest-{PROJECT}"
    healthy_sandbox.docker("tag", "digitalme-sandbox:latest", other)
    try:
        healthy_sandbox.recreate_with(f"services:\n  digitalme:\n    image: {other}\n")
        run = suite("-m", "change", "-k", "test_services_run_the_images_their_compose_file_names",
                    SANDBOX_IMAGE="digitalme-sandbox:latest")
        healthy_sandbox.restore()  # back on the compose file's image before the tag goes
    finally:
        healthy_sandbox.docker("rmi", other, check=False)
    check = assert_caught(run, "test_services_run_the_images_their_compose_file_names", "critical",
                          rf"^{CONTAINER} of service 'digitalme' runs {re.escape(other)}, the compose file names "
                          r"digitalme-sandbox:latest \(.*docker-compose.production.yml: `docker-compose up -d` not applied\?\) "
                          r"\(required: every declared service runs the image its compose file names\)$")
    assert check["value"] == {"digitalme": [other]} and check["threshold"] == {"digitalme": "digitalme-sandbox:latest"}


IMAGES = "test_services_run_the_images_their_compose_file_names"


def compose_file_naming(tmp_path, image, env_file_text):
    """A copy of the sandbox's compose file whose service names ``image`` (with a variable), and the project
    folder's .env beside it (its ``env_file: .env`` too)."""
    from sandbox import COMPOSE_FILE
    compose_file = tmp_path / "project" / "docker-compose.production.yml"
    compose_file.parent.mkdir(exist_ok=True)
    text = COMPOSE_FILE.read_text()
    assert "    image: ${SANDBOX_IMAGE:-digitalme-sandbox:latest}\n" in text, "the sandbox's image line changed"
    compose_file.write_text(text.replace("${SANDBOX_IMAGE:-digitalme-sandbox:latest}", image, 1))
    (compose_file.parent / ".env").write_text(env_file_text)
    return compose_file


def test_image_tag_set_in_the_projects_env_file_passes_and_a_wrong_one_is_critical(healthy_sandbox, suite,
                                                                                    tmp_path, monkeypatch):
    """`image: digitalme-sandbox:${TAG}` with TAG=latest in the project's .env (not in the checker's environment):
    passes, as compose would run it. TAG=wrong-tag in the environment wins over the .env, as compose's rule says,
    and the real mismatch is still critical."""
    monkeypatch.delenv("TAG", raising=False)
    compose_file = compose_file_naming(tmp_path, "digitalme-sandbox:${TAG}", "TAG=latest\n")
    run = suite("-m", "change", "-k", IMAGES, DIGITALME_COMPOSE_FILE=str(compose_file))
    check = assert_passed(run, IMAGES)
    assert check["value"] == {"digitalme": ["digitalme-sandbox:latest"]}, check
    assert check["threshold"] == {"digitalme": "digitalme-sandbox:latest"}, check
    wrong = suite("-m", "change", "-k", IMAGES, DIGITALME_COMPOSE_FILE=str(compose_file), TAG="wrong-tag")
    assert_caught(wrong, IMAGES, "critical",
                  rf"^{CONTAINER} of service 'digitalme' runs digitalme-sandbox:latest, the compose file names "
                  r"digitalme-sandbox:wrong-tag \(.*docker-compose.production.yml: `docker-compose up -d` not applied\?\) "
                  r"\(required: every declared service runs the image its compose file names\)$")


def test_image_tag_set_nowhere_is_not_judged_and_named(healthy_sandbox, suite, tmp_path, monkeypatch):
    """TAG neither in the checker's environment nor in the .env: could not be checked, naming TAG and where to set
    it (never "the compose file names digitalme-sandbox:"). With a default in the file (`${TAG:-1.9}`) that is not
    what runs: not judged either (the deploying shell may have set TAG); with the default that runs: passes."""
    monkeypatch.delenv("TAG", raising=False)
    compose_file = compose_file_naming(tmp_path, "digitalme-sandbox:${TAG}", "")
    env_file = re.escape(str(compose_file.parent / ".env"))
    run = suite("-m", "change", "-k", IMAGES, DIGITALME_COMPOSE_FILE=str(compose_file))
    check = assert_caught(run, IMAGES, "critical",
                          r"^could not be checked: the image the deploy chose is not known here: "
                          rf"{CONTAINER} of service 'digitalme' runs digitalme-sandbox:latest; the compose file names "
                          r"digitalme-sandbox:\$\{TAG\}, TAG unset here \(compose would interpolate a blank\) "
                          rf"\(set TAG as the deploy does, in the checker's environment or in {env_file}\)$",
                          outcome="error")
    assert check["threshold"] == {"digitalme": "digitalme-sandbox:${TAG}"}, check
    assert "the compose file names digitalme-sandbox:," not in run.stdout, run

    compose_file_naming(tmp_path, "digitalme-sandbox:${TAG:-1.9}", "")
    run = suite("-m", "change", "-k", IMAGES, DIGITALME_COMPOSE_FILE=str(compose_file))
    assert_caught(run, IMAGES, "critical",
                  rf"runs digitalme-sandbox:latest; the compose file names digitalme-sandbox:\$\{{TAG:-1\.9\}}, "
                  rf"TAG unset here \(the file's default used\) \(set TAG as the deploy does, .* or in {env_file}\)$",
                  outcome="error")
    compose_file_naming(tmp_path, "digitalme-sandbox:${TAG:-latest}", "")
    assert_passed(suite("-m", "change", "-k", IMAGES, DIGITALME_COMPOSE_FILE=str(compose_file)), IMAGES)


def test_required_variable_set_nowhere_is_not_an_invalid_compose_file(healthy_sandbox, suite, tmp_path, monkeypatch):
    """`${TAG:?...}` (compose refuses to run without it): set in the .env, the gate's validation and image checks
    pass; set nowhere, both could not be checked, naming TAG (not "does not validate", critical)."""
    monkeypatch.delenv("TAG", raising=False)
    compose_file = compose_file_naming(tmp_path, "digitalme-sandbox:${TAG:?the deploy sets TAG}", "TAG=latest\n")
    checks = f"{IMAGES} or test_compose_config_valid"
    run = suite("-m", "change", "-k", checks, DIGITALME_COMPOSE_FILE=str(compose_file))
    assert run.returncode == 0, run
    assert_passed(run, IMAGES)
    assert_passed(run, "test_compose_config_valid")
    (compose_file.parent / ".env").write_text("")
    run = suite("-m", "change", "-k", checks, DIGITALME_COMPOSE_FILE=str(compose_file))
    env_file = re.escape(str(compose_file.parent / ".env"))
    assert_caught(run, "test_compose_config_valid", "critical",
                  rf"^could not be checked: .*docker-compose.production.yml requires TAG, unset here \(.*required "
                  rf"variable TAG is missing a value.*\): set TAG as the deploy does, in the checker's environment or "
                  rf"in {env_file}$", outcome="error")
    assert_caught(run, IMAGES, "critical",
                  r"^could not be checked: the images the compose file names are not known: .* required variable TAG "
                  rf"is missing a value.* \(set TAG as the deploy does, in the checker's environment or in {env_file}\)$",
                  outcome="error")


def test_image_variables_are_read_as_the_compose_binary_reads_them(tmp_path, monkeypatch):
    """The real compose binary, no sandbox: the environment wins over .env; an empty value is unset; a default, a
    required variable, ``$$`` and a variable inside a default are told apart."""
    from plugins.probes.compose import declared_images
    from plugins.probes.compose_template import variables_in
    assert variables_in("a:${TAG}") == [("TAG", False)] and variables_in("a:$TAG") == [("TAG", False)]
    assert variables_in("a:${TAG:-1}${B-2}${C:+x}${D?e}${E:?e}$$F") == [
        ("TAG", True), ("B", True), ("C", True), ("D", False), ("E", False)]
    assert variables_in("${REG:-${MIRROR}/x}:1") == [("REG", True), ("MIRROR", False)]
    (tmp_path / "docker-compose.yml").write_text(  # a typed field naming a variable loads only interpolated
        'services:\n  app:\n    image: "digitalme:${TAG}"\n    healthcheck:\n      interval: ${INTERVAL:-5s}\n'
        '  cache:\n    image: "redis:${RTAG:-7}"\n')
    (tmp_path / ".env").write_text("TAG=1.4\nRTAG=\n")
    for name in ("TAG", "RTAG"):
        monkeypatch.delenv(name, raising=False)
    declared = declared_images(str(tmp_path / "docker-compose.yml"), [], "p")
    assert declared.images == {"app": "digitalme:1.4", "cache": "redis:7"}, declared
    assert declared.unset == {"cache": (("RTAG", True),)} and declared.env_file == str(tmp_path / ".env"), declared
    monkeypatch.setenv("TAG", "2.0")
    assert declared_images(str(tmp_path / "docker-compose.yml"), [], "p").images["app"] == "digitalme:2.0"
    monkeypatch.delenv("TAG")
    (tmp_path / ".env").write_text("")
    declared = declared_images(str(tmp_path / "docker-compose.yml"), [], "p")
    assert declared.unset == {"app": (("TAG", False),), "cache": (("RTAG", True),)}, declared
    assert declared.raw == {"app": "digitalme:${TAG}", "cache": "redis:${RTAG:-7}"}, declared
    (tmp_path / "docker-compose.yml").write_text('services:\n  app:\n    image: "${REGISTRY:?set it}/digitalme:1"\n')
    monkeypatch.delenv("REGISTRY", raising=False)
    declared = declared_images(str(tmp_path / "docker-compose.yml"), [], "p")  # a required variable: compose refuses
    assert declared.images is None and "required variable REGISTRY is missing a value" in declared.why_unknown
    assert declared.unset == {"app": (("REGISTRY", False),)}, declared


def test_kept_compose_answer_is_asked_again_when_the_env_file_or_a_variable_changes(tmp_path, monkeypatch):
    """The kept `config --services` answer (state/compose-services*.json) is keyed on what compose reads: a changed
    .env, a variable the file or the .env names, changes the key."""
    from plugins.probes.compose import compose_command, inputs_digest
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text('services:\n  app:\n    image: "digitalme:${TAG}"\n')
    paths, command = [str(compose_file)], [*compose_command(), "-f", str(compose_file), "config", "--services"]
    monkeypatch.delenv("TAG", raising=False)
    monkeypatch.delenv("DEPLOY_TAG", raising=False)
    keys = [inputs_digest(paths, command)]
    (tmp_path / ".env").write_text("TAG=1.4\n")
    keys.append(inputs_digest(paths, command))
    (tmp_path / ".env").write_text("TAG=${DEPLOY_TAG}\n")
    keys.append(inputs_digest(paths, command))
    monkeypatch.setenv("DEPLOY_TAG", "1.5")
    keys.append(inputs_digest(paths, command))
    monkeypatch.setenv("TAG", "1.6")
    keys.append(inputs_digest(paths, command))
    assert None not in keys and len(set(keys)) == len(keys), keys
    assert inputs_digest(paths, command) == keys[-1], "the same inputs must give the same key"


# --- Performance Monitoring inside the container (tests_resources/test_container.py) ---------------------------

INSIDE = ["tests_resources/test_container.py::test_memory_available_in_container",
          "tests_resources/test_container.py::test_load_in_container_below_threshold"]


def test_in_container_figures_pass_and_fail_below_what_was_measured(healthy_sandbox, suite):
    """Recorded and passing on the sandbox; with the thresholds below what was measured, both are warnings."""
    run = suite(*INSIDE)
    memory = assert_passed(run, "test_memory_available_in_container")["value"]
    load = assert_passed(run, "test_load_in_container_below_threshold")["value"]
    assert 0 < memory["mem_available"] <= memory["mem_total"] and memory["limit"] is None, memory
    assert 0 < memory["used_pct"] < 100, memory
    assert load["cpus_seen"] >= 1 and load["load5"] >= 0 and load["busy_pct_now"] is not None, load
    below = round(memory["used_pct"] / 2, 1)
    low = suite(*INSIDE, DIGITALME_MEMORY_MAX_PCT=str(below), DIGITALME_CPU_MAX_PCT="0")
    assert_caught(low, "test_memory_available_in_container", "warning",
                  rf"^{CONTAINER} has \d+ MiB of \d+ MiB left: [\d.]+ % in use "
                  rf"\(MemAvailable \d+ MiB, no memory limit\) \(required: below {below:g} % in use\)$")
    assert_caught(low, "test_load_in_container_below_threshold", "warning",
                  rf"^{CONTAINER} busy at [\d.]+ % of its \d+ CPU\(s\) (now|since the previous run \d+ s ago) and "
                  r"[\d.]+ % 5-minute load per CPU it sees "
                  r"\(load [\d.]+ on \d+\) \(required: not both at 0 % or above\)$")


def test_memory_limit_bounds_what_the_container_has_left(healthy_sandbox, suite):
    """Under a 160 MiB limit, holding 96 MiB leaves the app little, though the host has plenty: the container's
    figure fails at 50 % where the host's passes."""
    healthy_sandbox.recreate_with("services:\n  digitalme:\n    mem_limit: 160m\n")
    healthy_sandbox.control("memory_mb", "96")
    time.sleep(2)  # the app allocates within half a second
    run = suite(INSIDE[0], "tests_resources/test_host.py::test_host_memory_below_threshold",
                DIGITALME_MEMORY_MAX_PCT="50")
    check = assert_caught(run, "test_memory_available_in_container", "warning",
                          rf"^{CONTAINER} has \d+ MiB of 160 MiB left: [\d.]+ % in use \(MemAvailable \d+ MiB, "
                          r"limit 160 MiB of which it uses \d+ MiB\) \(required: below 50 % in use\)$")
    assert check["value"]["limit"] == 160 * 1024**2 and check["value"]["used_pct"] >= 60, check
    assert_passed(run, "test_host_memory_below_threshold")


def test_absent_container_fails_and_unreachable_docker_is_not_judged(healthy_sandbox, suite):
    """A container that does not exist (never came back) fails the gate; a Docker API that does not answer leaves
    it "could not be checked", within the wait, not a finding about the app."""
    from sandbox import free_ports
    absent = suite("-m", "change", "-k", "test_app_healthy_after_change", DIGITALME_CONTAINER="dmselftest-absent",
                   DIGITALME_CHANGE_WAIT_S="1")
    assert_caught(absent, "test_app_healthy_after_change", "critical",
                  r"^dmselftest-absent not healthy after waiting \d+ s: inspecting container "
                  r"dmselftest-absent: not found; /health answered 200 'Healthy'.* \(required: Docker health healthy "
                  r"and /health Healthy within 1 s\)$")
    closed = free_ports(1)[0]
    unreachable = suite("-m", "change", "-k", "test_app_healthy_after_change",
                        DIGITALME_DOCKER_HOST=f"tcp://127.0.0.1:{closed}", DIGITALME_CHANGE_WAIT_S="1")
    assert_caught(unreachable, "test_app_healthy_after_change", "critical",
                  r"^could not be checked: the Docker daemon did not answer .*\(waited \d+ s; /health answered 200",
                  outcome="error")


def test_inside_figures_parse_cgroup_v2_and_v1_answers():
    """The exec's answer on a cgroup v2 host (cpu.max, usage_usec) and v1 (cfs quota, cpuacct ns); this machine
    shows only one of them, so both are proven on text as the script prints it."""
    from plugins.probes.inside import parse
    common = "MemTotal:       2048000 kB\nMemAvailable:    512000 kB\nloadavg 1.50 3.00 2.00 2/300 99\nnproc 4\n"
    v2 = parse(common + "quota 200000 100000\nsample 100.00 usec 1000000\nsample 100.25 usec 1250000\n")
    assert (v2.mem_total, v2.mem_available, v2.load) == (2048000 * 1024, 512000 * 1024, (1.5, 3.0, 2.0)), v2
    assert (v2.cpus_seen, v2.cpus_allowed, v2.busy_pct, v2.load5_per_cpu_pct) == (4, 2.0, 50.0, 75.0), v2
    v1 = parse(common + "quota -1 100000\nsample 100.00 nsec 1000000000\nsample 100.50 nsec 1500000000\n")
    assert (v1.cpus_allowed, v1.busy_pct) == (4.0, 25.0), v1
    unlimited = parse(common + "quota max 100000\nsample 1.00 none 0\nsample 1.25 none 0\n")
    assert (unlimited.cpus_allowed, unlimited.busy_pct) == (4.0, None), unlimited
    # Memory as docker stats counts it (usage less inactive file cache); no limit is the machine's memory.
    limited = parse(common + "memory 300000000 268435456 100000000\n")
    assert limited.memory == (200000000, 268435456), limited
    assert parse(common + "memory 300000000 max 100000000\n").memory == (200000000, 2048000 * 1024)
    assert parse(common + "memory 300000000 9223372036854771712 0\n").memory == (300000000, 2048000 * 1024)
    assert v1.memory is None, "no memory line: docker stats is asked instead"
