"""SSH as ``ssh`` does it: Docker (DOCKER_HOST, DIGITALME_DOCKER_HOST, a target's docker_host) and host checks
(--hosts, DIGITALME_HOST, a target's host) named by an alias of the operator's ssh config reach what ``ssh alias``
reaches: HostName, Port, User, IdentityFile, ProxyJump, Match, the known-hosts files it names.

Real sshds on 127.0.0.1 (a target and a bastion in front of it), keys made for the test, and a private ssh config
given with --ssh-config (as ``ssh -F``): the machine's own ~/.ssh is never read.
"""

import os
import re
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_pytest
from test_baseline import BUSY_TEST_MACHINE
from test_fleet import TIMEOUTS, fleet_run, of_target
from test_remote import SSHD, Sshd, free_port

DOCKER_CHECK = "tests_health/test_containers.py::test_compose_containers_running"
FILES_CHECK = "tests_backup/test_database.py::test_database_file_exists"
HOST_CHECK = "tests_resources/test_host.py::test_host_memory_below_threshold"
CHECKS = (DOCKER_CHECK, FILES_CHECK, HOST_CHECK)


class SshWorld:
    """A target sshd, a bastion sshd that may open connections to the target only (PermitOpen), one client key,
    and one ssh config naming them as an operator's would: ``dm-behind`` (through the bastion with ProxyJump),
    ``dm-matched`` (its port only in a Match block), ``dm-wrong-port``, ``dm-behind-dead`` (a jump host that
    does not answer) and ``dm-unknown-key`` (a known-hosts file without the target's key). The bastion's host
    key is in the named GlobalKnownHostsFile, the target's in the named UserKnownHostsFile;
    StrictHostKeyChecking: an unknown key is refused."""

    def __init__(self, folder):
        (folder / "target").mkdir()
        (folder / "bastion").mkdir()
        self.target = Sshd(folder / "target")
        self.bastion = Sshd(folder / "bastion", sshd_extra=f"PermitOpen 127.0.0.1:{self.target.port}\n",
                            client_key=self.target.key)
        self.dead_port = free_port()  # nothing listens there
        self.user_known = folder / "known_hosts_of_targets"
        self.global_known = folder / "known_hosts_of_bastions"
        self.user_known.write_text(self.target.known_host())
        self.global_known.write_text(self.bastion.known_host())
        (folder / "known_hosts_empty").write_text("")
        self.config = folder / "ssh_config"
        key, target = self.target.key, self.target.port
        self.config.write_text(
            f"Host dm-bastion\n  HostName 127.0.0.1\n  Port {self.bastion.port}\n  User root\n"
            f"Host dm-behind\n  HostName 127.0.0.1\n  Port {target}\n  User root\n  ProxyJump dm-bastion\n"
            f"Host dm-behind-dead\n  HostName 127.0.0.1\n  Port {target}\n  User root\n  ProxyJump dm-dead-bastion\n"
            f"Host dm-dead-bastion\n  HostName 127.0.0.1\n  Port {self.dead_port}\n  User root\n"
            f"Host dm-wrong-port\n  HostName 127.0.0.1\n  Port {self.dead_port}\n  User root\n"
            # The target, but its key in no known-hosts file this alias names: refused, never accepted.
            f"Host dm-unknown-key\n  HostName 127.0.0.1\n  Port {target}\n  User root\n"
            f"  UserKnownHostsFile {folder / 'known_hosts_empty'}\n"
            # No port for dm-matched but in the Match block: without it, ssh would try 22 and fail.
            "Host dm-matched\n  HostName 127.0.0.1\n  User root\n"
            f"Match originalhost dm-matched\n  Port {target}\n"
            f"Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n"
            f"  UserKnownHostsFile {self.user_known}\n  GlobalKnownHostsFile {self.global_known}\n"
            "  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 5\n")

    def start(self):
        self.target.start()
        self.bastion.start()

    def stop(self):
        self.bastion.stop()
        self.target.stop()

    def jumps_to_target(self):
        """How many connections the bastion forwarded to the target's port so far."""
        return len(re.findall(rf"server_request_direct_tcpip: .*target 127\.0\.0\.1 port {self.target.port}\b",
                              self.bastion.text()))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not os.path.exists(SSHD):
        pytest.fail("sshd is missing: `make setup` installs openssh-server", pytrace=False)
    found = SshWorld(tmp_path_factory.mktemp("ssh-world"))
    try:
        found.start()
        yield found
    finally:
        found.stop()


def assert_passed_through_ssh(checks, where):
    """Every named check passed (Docker and host), none "could not be checked"."""
    wrong = {name: (c["outcome"], c["message"]) for name, c in checks.items() if c["outcome"] != "passed"}
    assert not wrong, f"{where}: checks that did not pass: {wrong}"


@pytest.mark.sandbox
def test_docker_and_host_checks_reach_a_target_behind_a_bastion_with_proxyjump(healthy_sandbox, world, tmp_path):
    """DIGITALME_DOCKER_HOST and DIGITALME_HOST name an alias whose config says ProxyJump: the Docker and host
    checks pass, and the bastion's sshd forwarded their connections to the target (its only way in here).

    Manual: Morning Health Check, run from another machine (README: production behind a bastion).
    """
    target = world.target
    jumps, forwards, connections, commands = (world.jumps_to_target(), target.docker_forwards(), target.connections(),
                                              target.commands())
    run = run_pytest(REPO, [*CHECKS, f"--ssh-config={world.config}"],
                     {**healthy_sandbox.settings_env, **BUSY_TEST_MACHINE, "DIGITALME_DOCKER_HOST": "ssh://dm-behind",
                      "DIGITALME_HOST": "ssh://dm-behind", "HOME": str(world.target.home)}, tmp_path / "reports")
    assert "Traceback" not in run.stdout, run
    checks = {c["id"].split("[")[0]: c for c in run.results["checks"]}
    assert sorted(checks) == sorted(CHECKS), sorted(checks)
    assert_passed_through_ssh(checks, "through dm-behind")
    assert target.docker_forwards() > forwards, "the target's sshd never forwarded the Docker socket"
    assert target.commands() > commands, "the target's sshd never ran a host command"
    # Every connection the target accepted in this run was one the bastion forwarded to it: Docker's and the
    # host commands' (one master connection for both).
    jumped, accepted = world.jumps_to_target() - jumps, target.connections() - connections
    assert 1 <= jumped == accepted, (f"the bastion forwarded {jumped} connections to the target, which accepted "
                                     f"{accepted}\n{world.bastion.text()[-3000:]}")


@pytest.mark.sandbox
def test_a_match_block_and_a_targets_file_alias_are_honoured(healthy_sandbox, world, tmp_path):
    """A target of the targets file names an alias whose port comes only from a ``Match`` block: its Docker and
    host checks pass (without the Match, ssh would knock on port 22).

    Manual: Morning Health Check, run from another machine for each deployment.
    """
    connections = world.target.connections()
    text = '[targets.matched]\ndocker_host = "ssh://dm-matched"\nhost = "ssh://dm-matched"\n'
    run = fleet_run(healthy_sandbox, tmp_path, text, *CHECKS, f"--ssh-config={world.config}",
                    env={"HOME": str(world.target.home)})
    assert "Traceback" not in run.stdout, run
    checks = of_target(run, "matched")
    assert sorted(checks) == sorted(CHECKS), sorted(checks)
    assert_passed_through_ssh(checks, "through dm-matched")
    assert world.target.connections() > connections, "the target's sshd saw no connection for dm-matched"


@pytest.mark.sandbox
def test_a_wrong_port_a_dead_bastion_or_an_unknown_key_says_what_the_alias_resolved_to(healthy_sandbox, world,
                                                                                        tmp_path):
    """An alias whose Port has nothing listening, one whose ProxyJump host does not answer, and one whose named
    known-hosts file lacks the host's key: every Docker and host check of each is "could not be checked", in
    ssh's words, naming the alias and the user, host, port (and jump host) it resolved to; within the timeouts,
    without a traceback.

    Manual: Troubleshooting (the production host unreachable is itself a finding).
    """
    text = ('[targets.wrong-port]\ndocker_host = "ssh://dm-wrong-port"\nhost = "ssh://dm-wrong-port"\n'
            '[targets.no-bastion]\ndocker_host = "ssh://dm-behind-dead"\nhost = "ssh://dm-behind-dead"\n'
            '[targets.unknown-key]\ndocker_host = "ssh://dm-unknown-key"\nhost = "ssh://dm-unknown-key"\n')
    started = time.monotonic()
    run = fleet_run(healthy_sandbox, tmp_path, text, *CHECKS, f"--ssh-config={world.config}",
                    env={**TIMEOUTS, "HOME": str(world.target.home)})
    elapsed = time.monotonic() - started
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    port, target = world.dead_port, world.target.port
    refused = rf"ssh: connect to host 127\.0\.0\.1 port {port}: Connection refused"
    expected = {
        "wrong-port": (rf"^could not be checked: the Docker daemon did not answer: {refused} "
                       rf"\(dm-wrong-port resolves to root@127\.0\.0\.1:{port}\)$",
                       rf"^could not be checked: host ssh://dm-wrong-port did not answer: {refused} "
                       rf"\(dm-wrong-port resolves to root@127\.0\.0\.1:{port}\)$"),
        # ssh names the jump host's refusal, then its own lost connection; the alias resolves to the target.
        "no-bastion": (rf"^could not be checked: the Docker daemon did not answer: .*{refused}.* "
                       rf"\(dm-behind-dead resolves to root@127\.0\.0\.1:{target} via dm-dead-bastion\)$",
                       rf"^could not be checked: host ssh://dm-behind-dead did not answer: .*{refused}.* "
                       rf"\(dm-behind-dead resolves to root@127\.0\.0\.1:{target} via dm-dead-bastion\)$"),
        "unknown-key": (r"^could not be checked: the Docker daemon did not answer: .*Host key verification failed.* "
                        rf"\(dm-unknown-key resolves to root@127\.0\.0\.1:{target}\)$",
                        r"^could not be checked: host ssh://dm-unknown-key did not answer: .*Host key verification "
                        rf"failed.* \(dm-unknown-key resolves to root@127\.0\.0\.1:{target}\)$"),
    }
    for name, (docker, host) in expected.items():
        checks = of_target(run, name)
        for check_name in (DOCKER_CHECK, FILES_CHECK):
            check = checks[check_name]
            assert (check["outcome"], check["severity"]) == ("error", check["declared_severity"]), check
            assert re.match(docker, check["message"]), (name, check["message"])
        check = checks[HOST_CHECK]
        assert (check["outcome"], check["severity"]) == ("error", "warning"), check
        assert re.match(host, check["message"]), (name, check["message"])
    assert elapsed < 60, f"three unreachable aliases took {elapsed:.0f} s (> 60 s)\n{run!r}"


def test_a_host_that_forbids_socket_forwarding_says_so(tmp_path):
    """sshd with ``AllowStreamLocalForwarding no`` (a hardened host): the connection is made, the Docker socket is
    not reached, and the Docker probe says so in ssh's words, naming the socket and what the alias resolved to.

    Manual: Troubleshooting (the production host's Docker cannot be reached).
    """
    hardened = Sshd(tmp_path, sshd_extra="AllowStreamLocalForwarding no\n")
    hardened.start()
    try:
        code = ("from plugins.probes.docker import DockerProbe\nfrom plugins.probes import ProbeError\n"
                f"probe = DockerProbe(5, 'ssh://{Sshd.ALIAS}', ssh_config={str(hardened.client_config)!r})\n"
                "try:\n    probe.client\nexcept ProbeError as e:\n    print(e)\n")
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(hardened.home)})
    finally:
        hardened.stop()
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    # sshd tells the client "open failed" and no more; the message lists what that can mean.
    assert re.fullmatch(r"the Docker daemon did not answer at /var/run/docker\.sock over ssh \(.*open failed: no "
                        r"Docker socket there, .*AllowStreamLocalForwarding\); "
                        rf"{Sshd.ALIAS} resolves to root@127\.0\.0\.1:{hardened.port}\)", done.stdout.strip()), \
        done.stdout


CHECK_READING_DOCKER_HOST = """
    import pytest

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_docker_host(settings, check):
        check.record(settings.docker_host, None)
"""


@pytest.mark.parametrize("value, why", [
    ("ssh://prod/run/user/1000/docker.sock", "takes no path or query"),
    ("ssh://prod?socket=/run/docker.sock", "takes no path or query"),
    ("ssh://", "names a host or an ssh config alias"),
    ("ssh://ops@prod:99999", "port is not a number"),
])
def test_an_ssh_docker_host_that_cannot_mean_what_was_typed_stops_the_run(mini_project, value, why):
    """DIGITALME_DOCKER_HOST=ssh://... with a path, a query, no host or a bad port: exit 4 before any check, naming
    the setting, instead of a path silently ignored (the Docker socket there is Docker's default).

    Manual: (the suite's own settings) Point it at the real production host.
    """
    run = mini_project(CHECK_READING_DOCKER_HOST)("-m", "daily", env={"DIGITALME_DOCKER_HOST": value})
    assert run.returncode == 4, run
    assert "DIGITALME_DOCKER_HOST" in run.stderr and why in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr


def test_an_ssh_docker_host_alias_is_accepted(mini_project):
    """``ssh://prod`` (an alias, no user or port) is a valid Docker host: the config says the rest."""
    run = mini_project(CHECK_READING_DOCKER_HOST)("-m", "daily", env={"DIGITALME_DOCKER_HOST": "ssh://prod"})
    assert run.returncode == 0, run


@pytest.mark.parametrize("value, why", [
    ("ssh://prod/run/user/1000/docker.sock", "takes no path or query"),
    ("http://prod:2375", "expected empty, or a Docker host"),
])
def test_a_docker_host_variable_that_cannot_mean_what_was_typed_stops_the_run(mini_project, value, why):
    """DOCKER_HOST, where the checks use it (DIGITALME_DOCKER_HOST empty), is held to the same rules: exit 4 naming
    DOCKER_HOST; DIGITALME_DOCKER_HOST set, DOCKER_HOST is not the checks' and is left alone."""
    run = mini_project(CHECK_READING_DOCKER_HOST)("-m", "daily", env={"DOCKER_HOST": value})
    assert run.returncode == 4, run
    assert "DOCKER_HOST (from environment, used as DIGITALME_DOCKER_HOST is empty)" in run.stderr, run.stderr
    assert why in run.stderr and "Traceback" not in run.stderr, run.stderr
    overridden = mini_project(CHECK_READING_DOCKER_HOST)("-m", "daily", env={
        "DOCKER_HOST": value, "DIGITALME_DOCKER_HOST": "ssh://prod"})
    assert overridden.returncode == 0, overridden
