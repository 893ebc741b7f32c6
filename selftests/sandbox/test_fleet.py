"""Fleet mode (issue 13): a targets file names many deployments; every check runs once per target, the results
say each target's status, a dead or hung target never holds the live ones, ``-n`` gives what a serial run gives,
and a target reached over SSH (Docker and host) is checked like a local one. The targets file itself (collection,
invalid files, usage errors): plugin/test_targets_file.py."""

import contextlib
import os
import re
import socket
import textwrap
import threading
import time

import pytest

from conftest import REPO, run_pytest
from test_baseline import BUSY_TEST_MACHINE
from test_remote import DB, free_port, sshd  # noqa: F401 (sshd is a fixture: a real sshd on 127.0.0.1)
from test_xdist import comparable, shape

RANK = {"ok": 0, "warning": 1, "critical": 2}
# The Morning Health Check, without the machine-wide CPU check: it judges the machine these tests share with other
# sessions and may pass in one run and fail in the next (test_xdist.py's NOT_COMPARED).
DAILY = ("-m", "daily", "-k", "not test_cpu_below_threshold_sustained")
# Small timeouts for the runs with a target that does not answer: how long they may take is derived from them.
TIMEOUTS = {"DIGITALME_CONNECT_TIMEOUT_S": "1", "DIGITALME_READ_TIMEOUT_S": "2", "DIGITALME_DOCKER_TIMEOUT_S": "3"}


def write_targets(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "targets.toml"
    path.write_text(textwrap.dedent(text))
    return path


def fleet_run(sandbox, folder, targets_text, *args, env=None, timeout=300):
    """The suite run against the sandbox with the targets file ``targets_text`` (its tables inherit the
    sandbox's settings from the environment); results in ``folder/reports``."""
    path = write_targets(folder, targets_text)
    environment = {**sandbox.settings_env, "DIGITALME_TARGETS": str(path), **BUSY_TEST_MACHINE, **(env or {})}
    return run_pytest(REPO, list(args), environment, folder / "reports", timeout)


def without_target(check_id, name):
    """A check's id without its target's parameter: ``...::test_z[prod]`` -> ``...::test_z``, and (a check with
    parameters of its own, which pytest joins after the target's) ``...::test_t[prod-/health]`` -> ``...[/health]``."""
    return re.sub(rf"\[{re.escape(name)}(\]|-)", lambda m: "" if m.group(1) == "]" else "[", check_id)


def with_target(check_id, name):
    """The id a check gets in fleet mode: the inverse of :func:`without_target`."""
    if check_id.endswith("]"):
        return re.sub(r"\[", f"[{name}-", check_id, count=1) if "[" in check_id.split("::")[-1] else check_id
    return f"{check_id}[{name}]"


def name_of(check):
    """A results entry's check, without its target parameter."""
    return without_target(check["id"], check["target"])


def of_target(run, name):
    """{check without its parameter: results entry} of one target."""
    found = {name_of(c): c for c in run.results["checks"] if c["target"] == name}
    assert found, f"no check of target {name} in the results: {run!r}"
    return found


def status_line(run):
    lines = [line for line in run.stdout.splitlines() if re.match(r"DigitalMe: (OK|WARNING|CRITICAL) - ", line)]
    assert len(lines) == 1, f"expected one status line, got {lines}\n{run!r}"
    return lines[0]


# --- per-target results -------------------------------------------------------------------------

@pytest.mark.sandbox
def test_each_target_has_its_status_and_one_targets_setting_fails_only_its_checks(healthy_sandbox, tmp_path):
    """Two targets on one healthy sandbox, one with backups_min = 99: only that target's backup check fails; the
    results name each check's target and each target's status, the run's status is the worst, and the status
    line names the failing target and not the healthy one.

    Manual: Morning Health Check 5 (at least 3 recent backups), for each deployment.
    """
    run = fleet_run(healthy_sandbox, tmp_path, """
        [targets.prod]
        [targets.staging]
        backups_min = 99
        """, "tests_backup/test_backups.py::test_enough_recent_backups",
        "tests_health/test_endpoints.py::test_health_answers_healthy")
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    results = run.results
    names = ("tests_backup/test_backups.py::test_enough_recent_backups",
             "tests_health/test_endpoints.py::test_health_answers_healthy")
    assert sorted(c["id"] for c in results["checks"]) == sorted(f"{n}[{t}]" for n in names for t in ("prod", "staging")), \
        [c["id"] for c in results["checks"]]
    for check in results["checks"]:
        assert check["id"].endswith(f"[{check['target']}]"), f"entry's target is not its parameter: {check}"
    staging, prod = of_target(run, "staging"), of_target(run, "prod")
    backups = names[0]
    assert all(c["outcome"] == "passed" for c in prod.values()), f"prod should pass: {prod}"
    assert staging[names[1]]["outcome"] == "passed", staging[names[1]]
    failed = staging[backups]
    assert failed["outcome"] == "failed" and re.search(r"\(required: at least 99\)$", failed["message"]), failed
    assert results["targets"] == {"prod": "ok", "staging": failed["severity"]}, results["targets"]
    assert results["status"] == max(results["targets"].values(), key=RANK.get), (results["status"], results["targets"])
    line = status_line(run)
    assert re.search(rf"on 2 targets \[staging {failed['severity'].upper()}: 1 {failed['severity']}\]", line), line
    assert "prod" not in line, f"the status line names the healthy target: {line}"
    assert set(results["target_settings"]) == {"prod", "staging"}, results.get("target_settings")
    assert results["target_settings"]["staging"]["backups_min"] == 99, results["target_settings"]["staging"]


# --- a dead and a hung target among live ones ---------------------------------------------------

@contextlib.contextmanager
def silent_listener(bound_s=240):
    """A port on 127.0.0.1 that accepts every TCP connection and never says a word (a hung HTTP server, Docker
    daemon or sshd); connections are held open until the end, or ``bound_s`` at most."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held, stop = [], threading.Event()
    deadline = time.monotonic() + bound_s

    def accept():
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(listener.accept()[0])
            except (socket.timeout, OSError):
                continue
    worker = threading.Thread(target=accept, daemon=True)
    worker.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        worker.join(5)
        for connection in held:
            connection.close()
        listener.close()


def unreachable_table(name, port):
    """A target whose HTTP, HTTPS, Docker API and SSH all point at ``port`` on 127.0.0.1."""
    return (f"[targets.{name}]\nbase_url = \"http://127.0.0.1:{port}\"\nhttps_url = \"https://127.0.0.1:{port}\"\n"
            f"docker_host = \"tcp://127.0.0.1:{port}\"\nhost = \"ssh://root@127.0.0.1:{port}\"\n")


HEADLINE = "test_target_reachable"  # a dead target's one finding; its other checks are "not checked" because of it


def judged(check):
    """(outcome, message) a check found: its own, or for one "not checked" what it would have been."""
    blocked = check.get("blocked_by") or {}
    return blocked.get("outcome", check["outcome"]), blocked.get("message", check["message"])


# Checks that read nothing of the target (the compose file is read on the machine running the suite) or skip on
# what the target's settings say: they may pass or skip on a dead target. Every other check must not pass there.
TARGET_FREE = {"test_compose_config_valid": ("passed",),
               "test_certificate_matches_host_name": ("skipped", "error", "not checked")}
# The manual's port check is `netstat -tlnp | grep :80`: a port that accepts connections is served, answer or not.
HUNG_LISTENS = {("hung", "test_ports_answer")}


@pytest.mark.sandbox
def test_a_dead_and_a_hung_target_leave_the_live_one_as_it_is_within_the_timeouts(healthy_sandbox, tmp_path):
    """Beside a live target: one whose every port refuses (HTTP, Docker tcp://, SSH) and one whose every port
    accepts and never answers. The live target's outcomes are those of a run without them; each of theirs is one
    headline (the target unreachable) and its checks "not checked" because of it, each keeping what it found
    ("could not be checked", or failed with a clear message) at the check's severity; the run takes no longer than the
    connect, read, Docker and SSH timeouts (once each, not once per check) past the run without them.

    Manual: Troubleshooting (a deployment that does not answer is itself a finding, and the others still count).
    """
    started = time.monotonic()
    alone = fleet_run(healthy_sandbox, tmp_path / "alone", "[targets.live]\n", *DAILY, env=TIMEOUTS)
    alone_s = time.monotonic() - started
    assert "Traceback" not in alone.stdout, alone
    with silent_listener() as hung:
        started = time.monotonic()
        fleet = fleet_run(healthy_sandbox, tmp_path / "fleet",
                          "[targets.live]\n" + unreachable_table("dead", free_port()) + unreachable_table("hung", hung),
                          *DAILY, "--durations=8", env=TIMEOUTS)
        elapsed = time.monotonic() - started
    assert fleet.returncode == 1 and "Traceback" not in fleet.stdout, fleet
    # The live target: the same checks, outcomes, severities and messages as alone.
    live, reference = of_target(fleet, "live"), of_target(alone, "live")
    assert sorted(live) == sorted(reference), set(live) ^ set(reference)
    differ = {name: (live[name]["outcome"], live[name]["message"], reference[name]["outcome"], reference[name]["message"])
              for name in live if (comparable(live[name])["outcome"], comparable(live[name])["message"],
                                   live[name]["severity"]) != (comparable(reference[name])["outcome"],
                                                               comparable(reference[name])["message"],
                                                               reference[name]["severity"])}
    assert not differ, f"the live target's outcomes changed beside dead and hung targets: {differ}"
    assert fleet.results["targets"]["live"] == alone.results["targets"]["live"], fleet.results["targets"]
    for name in ("dead", "hung"):
        assert fleet.results["targets"][name] == "critical", fleet.results["targets"]
        checks = of_target(fleet, name)
        assert sorted(checks) == sorted(reference), f"{name}: not every check ran: {set(checks) ^ set(reference)}"
        wrong = []
        headline = checks.pop(f"tests_health/test_reachable.py::{HEADLINE}")
        assert (headline["outcome"], headline["severity"]) == ("failed", "critical"), headline
        assert "neither HTTP nor Docker answers" in headline["message"], headline
        for check in checks.values():
            short = check["id"].split("::")[-1].split("[")[0]
            outcome, message = judged(check)
            if short in TARGET_FREE or (name, short) in HUNG_LISTENS:
                wrong += [] if check["outcome"] in TARGET_FREE.get(short, ("passed",)) else [check]
            elif check["outcome"] != "not checked" or check["severity"] != check["declared_severity"]:
                wrong.append(check)  # not the headline's: passed, skipped or failed alone, or its severity changed
            elif outcome not in ("error", "failed"):
                wrong.append(check)
            elif outcome == "error" and not re.match(r"could not be checked: .{10}", message):
                wrong.append(check)
            elif outcome == "failed" and len(message) < 10:
                wrong.append(check)
        assert not wrong, f"{name}: checks not 'could not be checked' nor failed with a reason:\n" + \
            "\n".join(f"{c['id']}: {c['outcome']} {c['severity']} {c['message']!r}" for c in wrong)
        messages = {c["id"].split("::")[-1]: c["message"] for c in checks.values()}
        assert "CommandResult" not in str(messages) and "Traceback" not in str(messages), messages
        docker = judged(checks["tests_health/test_containers.py::test_compose_containers_running"])
        assert docker[0] == "error" and "the Docker daemon did not answer" in docker[1], docker
        memory = judged(checks["tests_resources/test_host.py::test_host_memory_below_threshold"])
        assert memory[0] == "error" and re.match(
            r"could not be checked: host ssh://127\.0\.0\.1 did not answer", memory[1]), memory
        health = judged(checks["tests_health/test_endpoints.py::test_health_answers_healthy"])
        assert health[0] == "failed" and "gave no answer" in health[1], health
    # Each unreachable target waits once for HTTP (connect 1 s + read 2 s, all endpoints at once), Docker (3 s) and
    # ssh (connect 1 s), and its two TLS checks each wait for a handshake (connect + read, 3 s; the TLS probe does
    # not remember a failed handshake), plus a margin for a machine shared with other test sessions.
    budget = alone_s + 2 * (3 + 3 + 1 + 2 * 3) + 15
    assert elapsed < budget, (f"the run with a dead and a hung target took {elapsed:.0f} s (> {budget:.0f} s: "
                              f"the live target alone + the timeouts once + margin)\n{fleet.stdout[-4000:]}")


HOST_CHECKS = ("tests_resources/test_host.py::test_host_memory_below_threshold",
               "tests_resources/test_host.py::test_filesystems_below_disk_threshold",
               "tests_security/test_deployment_secrets.py::test_env_file_protected_and_complete",
               "tests_security/test_container_hardening.py::test_data_files_not_exposed",
               "tests_security/test_container_hardening.py::test_no_pending_security_updates",
               "tests_security/test_tls.py::test_certificate_matches_host_name")


@pytest.mark.sandbox
def test_a_hung_ssh_host_costs_one_connect_timeout_not_one_per_host_check(healthy_sandbox, tmp_path):
    """A target whose ssh host accepts and never sends its banner: every check run on the host (its facts, the
    .env, the host folders, pending updates) is "could not be checked", and the run waits for ssh once, for the
    target's connect timeout, not testinfra's 10 s once per check.

    Manual: Troubleshooting (the production host unreachable is itself a finding).
    """
    with silent_listener() as hung:
        started = time.monotonic()
        run = fleet_run(healthy_sandbox, tmp_path, f"[targets.hung]\nhost = \"ssh://root@127.0.0.1:{hung}\"\n",
                        *HOST_CHECKS, env=TIMEOUTS)
        elapsed = time.monotonic() - started
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    checks = of_target(run, "hung")
    assert sorted(checks) == sorted(HOST_CHECKS), sorted(checks)
    for check in checks.values():
        assert (check["outcome"], check["severity"]) == ("error", check["declared_severity"]), check
        assert re.match(r"could not be checked: host ssh://127\.0\.0\.1 did not answer: .*banner", check["message"]), check
    # ssh waits the target's connect timeout (1 s), not testinfra's 10 s: no check waits much longer than that.
    slowest = max(checks.values(), key=lambda c: c["duration_s"])
    assert slowest["duration_s"] < 1 + 3, f"{slowest['id']} waited {slowest['duration_s']:.1f} s for ssh (> 1 s + 3 s)"
    # And once for the whole run, plus start-up and a margin: ssh's 10 s once per check would be 50 s.
    assert elapsed < 20, f"{len(checks)} host checks against a hung ssh host took {elapsed:.0f} s (> 20 s)\n{run!r}"


# --- pytest-xdist -------------------------------------------------------------------------------

# "prod-eu" beside "prod": a check with parameters of its own is ``test_t[prod-eu-/health]``.
FLEET_OF_THREE = "[targets.prod]\n[targets.prod-eu]\nbackups_min = 99\n[targets.qa]\n"
FLEET_NAMES = ("prod", "prod-eu", "qa")


# Measured at the moment, beside test_xdist.py's MEASURED_NOW: compared by shape only.
ALSO_MEASURED_NOW = ("test_memory_available_in_container", "test_load_in_container_below_threshold")
# Response times are compared, not judged: on a machine shared with other sessions one run may take 1.05 s.
NOT_JUDGING_TIME = {"DIGITALME_RESPONSE_TIME_MAX_S": "30"}


def same_in_both(check):
    """What a serial run and an xdist run must agree on for a check (test_xdist.comparable, and the target)."""
    same = comparable(check)
    if check["id"].split("::")[-1].split("[")[0] in ALSO_MEASURED_NOW:
        same["value"] = shape(check["value"])
        same["message"] = "" if check["outcome"] == "passed" else same["message"]
    return same, check["target"]


def workers_of_targets(stdout, names):
    """{target: {worker}} from ``-v`` lines of xdist: ``[gw0] PASSED tests_x.py::test_y[prod] ``."""
    found = {}
    by_length = sorted(names, key=len, reverse=True)
    for worker, node in re.findall(r"^\[(gw\d+)\] (?:\[\s*\d+%\] )?(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+::\S+)", stdout, re.M):
        params = re.sub(r"@[^\]]*$", "", node).rpartition("[")[2].rstrip("]")
        target = next(n for n in by_length if params == n or params.startswith(n + "-"))
        found.setdefault(target, set()).add(worker)
    return found


@pytest.mark.sandbox
@pytest.mark.parametrize("workers", ["2", "auto"])
def test_a_fleet_under_xdist_gives_the_serial_outcomes_each_target_on_one_worker(healthy_sandbox, tmp_path, workers):
    """Three targets (one failing its backups) under ``-n 2`` / ``-n auto``: the same checks, outcomes, severities,
    values and targets' statuses as a serial run, and each target's checks all on one worker, which fetches its
    probes once (plugins/configuration/targets.py's scheduler: xdist's own loadgroup spreads them under pytest 9).

    Manual: Morning Health Check, for each deployment.
    """
    serial = fleet_run(healthy_sandbox, tmp_path / "serial", FLEET_OF_THREE, *DAILY, env=NOT_JUDGING_TIME)
    xdist = fleet_run(healthy_sandbox, tmp_path / "xdist", FLEET_OF_THREE, *DAILY, "-n", workers, "-v",
                      env=NOT_JUDGING_TIME)
    assert serial.returncode == xdist.returncode == 1, f"expected exit 1 (prod-eu's backups): {serial!r}\n{xdist!r}"
    assert "Traceback" not in xdist.stdout, xdist
    mine, theirs = xdist.results, serial.results
    assert [c["id"] for c in mine["checks"]] == [c["id"] for c in theirs["checks"]], \
        set(c["id"] for c in mine["checks"]) ^ set(c["id"] for c in theirs["checks"])
    differ = [f"xdist  {a}\nserial {b}" for a, b in zip(mine["checks"], theirs["checks"])
              if same_in_both(a) != same_in_both(b)]
    assert not differ, "\n".join(differ)
    assert (mine["status"], mine["targets"], mine["counts"]) == (theirs["status"], theirs["targets"], theirs["counts"])
    assert theirs["targets"]["prod-eu"] != "ok" and theirs["targets"]["prod"] == "ok", theirs["targets"]
    workers_used = workers_of_targets(xdist.stdout, FLEET_NAMES)
    assert set(workers_used) == set(FLEET_NAMES), f"no -v lines of xdist for every target: {workers_used}"
    split = {t: sorted(w) for t, w in workers_used.items() if len(w) != 1}
    assert not split, f"a target's checks ran on several workers: {split}"
    assert len(set().union(*workers_used.values())) == 2, f"expected 2 workers used: {workers_used}"


# --- a target over SSH --------------------------------------------------------------------------

def ssh_fleet(sshd):
    """A local target and a remote one reaching the same sandbox over SSH (Docker and host), and the options."""
    url = f"ssh://root@127.0.0.1:{sshd.port}"
    text = f"[targets.local]\n[targets.remote]\ndocker_host = \"{url}\"\nhost = \"{url}\"\n"
    return text, [f"--ssh-identity-file={sshd.key}", f"--ssh-config={sshd.client_config}"], {"HOME": str(sshd.home)}


@pytest.mark.sandbox
def test_a_target_over_ssh_gives_the_same_outcomes_as_a_local_one(healthy_sandbox, tmp_path, sshd):
    """A target whose Docker and host are reached over SSH (a real sshd) beside a local target on the same
    sandbox: the Morning Health Check gives both the same outcomes, none "could not be checked".

    Manual: Morning Health Check, run from another machine for each deployment.
    """
    text, options, env = ssh_fleet(sshd)
    run = fleet_run(healthy_sandbox, tmp_path, text, *DAILY, *options, env=env)
    assert "Traceback" not in run.stdout, run
    local, remote = of_target(run, "local"), of_target(run, "remote")
    assert sorted(local) == sorted(remote), set(local) ^ set(remote)
    differ = {n: (remote[n]["outcome"], remote[n]["message"], local[n]["outcome"], local[n]["message"])
              for n in local if (remote[n]["outcome"], remote[n]["severity"]) != (local[n]["outcome"], local[n]["severity"])}
    assert not differ, f"over SSH vs locally (remote, local): {differ}"
    errors = [c["id"] for c in remote.values() if c["outcome"] == "error"]
    assert not errors, f"checks that could not be checked over SSH: {errors}\n{run!r}"
    assert sshd.docker_forwards() > 0, "the remote target's Docker checks never came through sshd"
    assert sshd.commands() > 0, "the remote target's host checks never came through sshd"


@pytest.mark.sandbox
def test_faults_are_caught_on_a_target_over_ssh(healthy_sandbox, tmp_path, sshd):
    """An unhealthy app and a missing database are critical on the target reached over SSH (Docker through sshd).

    Manual: Morning Health Check 2 (health) and 3 (database file).
    """
    text, options, env = ssh_fleet(sshd)
    healthy_sandbox.control("health", "Unhealthy")
    with healthy_sandbox.moved_aside(DB):
        run = fleet_run(healthy_sandbox, tmp_path, text, "tests_health/test_endpoints.py::test_health_answers_healthy",
                        "tests_backup/test_database.py::test_database_file_exists", *options, env=env)
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    remote = of_target(run, "remote")
    health = remote["tests_health/test_endpoints.py::test_health_answers_healthy"]
    database = remote["tests_backup/test_database.py::test_database_file_exists"]
    assert (health["outcome"], health["severity"]) == ("failed", "critical") and "'Unhealthy'" in health["message"], health
    assert (database["outcome"], database["severity"]) == ("failed", "critical"), database
    assert re.match(rf"^{re.escape(DB)} is missing in ", database["message"]), database
    assert run.results["targets"]["remote"] == "critical", run.results["targets"]
    assert sshd.docker_forwards() > 0, "the remote target's Docker checks never came through sshd"


# --- probes in background threads ---------------------------------------------------------------

@pytest.mark.sandbox
def test_docker_calls_never_read_the_environment_that_pytest_changes_meanwhile(sandbox):
    """A Docker call never reads the proxy variables by iterating os.environ: probes call Docker from background
    threads (plugins/probes/prefetch.py) while pytest sets and removes PYTEST_CURRENT_TEST around every check, and such a
    read then fails at random with KeyError('PYTEST_CURRENT_TEST') (seen as "could not be checked" in fleet runs).

    Manual: Morning Health Check (a check's outcome is the target's, never the test runner's).
    """
    import subprocess
    import sys
    from sandbox import CONTAINER
    script = textwrap.dedent(f"""
        import urllib.request, requests.utils
        from plugins.probes.docker import DockerProbe
        def environment_read(*args, **kwargs):
            raise AssertionError("the proxy variables were read from os.environ")
        urllib.request.getproxies = requests.utils.getproxies = environment_read
        probe = DockerProbe(15, "unix:///var/run/docker.sock")
        print(probe.exec({CONTAINER!r}, ["true"], "a look")[0], probe.inspect({CONTAINER!r})["State"]["Running"])
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and done.stdout.split() == ["0", "True"], \
        f"a Docker call read the environment (or failed): {done.stdout[-500:]}\n{done.stderr[-1500:]}"
