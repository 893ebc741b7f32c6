"""SSH as ``ssh`` does it: Docker (DOCKER_HOST, DIGITALME_DOCKER_HOST, a target's docker_host) and host checks
(--hosts, DIGITALME_HOST, a target's host) named by an alias of the operator's ssh config reach what ``ssh alias``
reaches: HostName, Port, User, IdentityFile, ProxyJump, Match, the known-hosts files it names.

Real sshds on 127.0.0.1 (a target and a bastion in front of it), keys made for the test, and a private ssh config
given with --ssh-config (as ``ssh -F``): the machine's own ~/.ssh is never read. A host that forbids socket
forwarding, and ssh:// Docker hosts refused as settings: plugin/test_ssh_docker_host.py.
"""

import os
import re
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

    Manual: Morning Health Check, run from another machine (docs/production.md: behind a bastion).
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
