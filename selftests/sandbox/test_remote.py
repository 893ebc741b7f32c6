"""The remote path: the suite run from another machine, Docker over DOCKER_HOST=ssh://alias, host checks over
testinfra's --hosts=ssh://alias, against a real sshd (Debian's openssh-server) on 127.0.0.1 with a key made for it,
the alias in a private ssh config (--ssh-config). ProxyJump, Match and failures naming the alias:
test_ssh_config.py."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, assert_caught
from sandbox import CONTAINER
from test_baseline import BUSY_TEST_MACHINE

pytestmark = pytest.mark.sandbox

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
DB = "/app/data/digitalme.db"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """A private sshd on 127.0.0.1, and the client side that reaches it: a key, a private ssh config (never the
    machine's ~/.ssh: the suite's ssh is given it with --ssh-config, as ``ssh -F``).

    ``sshd_extra``: more sshd_config lines (a bastion's PermitOpen). The client config names this sshd twice: as
    ``127.0.0.1`` (a URL with the port, host key not checked) and as the alias ``dm-prod`` (HostName, Port, User,
    IdentityFile, its host key in a named UserKnownHostsFile, checked), the way an operator names production.
    """

    ALIAS = "dm-prod"

    def __init__(self, folder, sshd_extra="", client_key=None):
        self.folder = folder
        self.port = free_port()
        self.key = client_key or folder / "client_key"
        self.client_config = folder / "ssh_config"
        self.known_hosts = folder / "known_hosts_named"
        self.log = folder / "sshd.log"
        self.home = folder / "home"  # an empty HOME: nothing of the machine's own ~/.ssh is read through it
        names = ("host_key",) if client_key else ("host_key", "client_key")
        for name in names:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"digitalme-selftest-{name}",
                            "-f", str(folder / name)], check=True, timeout=30)
        (folder / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        # sshd's defaults otherwise (MaxSessions 10, MaxStartups 10:30:100), as on a production host. DEBUG1 logs
        # each client's software and each forwarded channel (Docker's socket, a jump host's connection).
        (folder / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nLogLevel DEBUG1\n"
            # The temp folder is not root-owned 0755 all the way up, as StrictModes wants; the key is the test's.
            f"StrictModes no\nPidFile {folder / 'sshd.pid'}\n{sshd_extra}")
        self.known_hosts.write_text(self.known_host())
        self.client_config.write_text(
            f"Host {self.ALIAS}\n  HostName 127.0.0.1\n  Port {self.port}\n  User root\n"
            f"  IdentityFile {self.key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {self.known_hosts}\n"
            "  StrictHostKeyChecking yes\n  GlobalKnownHostsFile /dev/null\n"
            "  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 5\n"
            f"Host 127.0.0.1\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  ConnectTimeout 5\n")
        self.home.mkdir()
        self.process = None

    def known_host(self):
        """This sshd's line for a known_hosts file."""
        kind, key = (self.folder / "host_key.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def start(self):
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.folder / "sshd_config")],
                                        stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.process.returncode}): {self.log.read_text()[-1000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} within 20 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def target(self, port=None):
        """The options and environment that point the suite's Docker and host checks at this sshd over SSH: by
        its alias (the client config says where it is), or at ``port`` of 127.0.0.1 by URL."""
        url = f"ssh://root@127.0.0.1:{port}" if port else f"ssh://{self.ALIAS}"
        options = [f"--hosts={url}", f"--ssh-config={self.client_config}"]
        return options, {"DOCKER_HOST": url, "HOME": str(self.home)}

    def text(self):
        return self.log.read_text(errors="replace")

    def clients(self):
        """The software of each client that connected so far: ``OpenSSH_9.2p1 ...``."""
        return re.findall(r"remote software version (\S+)", self.text())

    def docker_forwards(self):
        """How many channels were forwarded to a unix socket (the Docker API's) so far."""
        return self.text().count("server_request_direct_streamlocal")

    def commands(self):
        """How many sessions (a command each: testinfra's) were opened so far."""
        return self.text().count("server_input_channel_open: ctype session")

    def connections(self):
        """How many clients authenticated so far."""
        return self.text().count("Accepted publickey")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD):
        pytest.fail("sshd is missing: `make setup` installs openssh-server", pytrace=False)
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def outcomes(run):
    """Check id -> (outcome, severity): the same ids whichever host the host checks read (issue 23: no ``[local]``
    or ``[ssh://...]`` parameter)."""
    return {c["id"]: (c["outcome"], c["severity"]) for c in run.results["checks"]}


# daily: containers, logs, the files' stat exec, host facts; weekly adds the database copy (get_archive).
@pytest.mark.parametrize("selection", ["daily", "weekly"])
def test_schedule_over_ssh_gives_the_same_outcomes_as_locally(healthy_sandbox, suite, sshd, selection):
    """The Morning Health Check (and the weekly one) over SSH, Docker and host, finds what it finds on the host.

    Manual: Morning Health Check, Weekly Maintenance, run from another machine (docs/production.md: From another
    machine, over SSH).
    """
    local = suite("-m", selection, **BUSY_TEST_MACHINE)
    options, env = sshd.target()
    connections, commands = sshd.connections(), sshd.commands()
    remote = suite("-m", selection, *options, **env, **BUSY_TEST_MACHINE)
    connections, commands = sshd.connections() - connections, sshd.commands() - commands
    assert "Traceback" not in remote.stdout, remote
    assert outcomes(remote) == outcomes(local), (
        f"over SSH vs locally: { {k: (outcomes(remote).get(k), v) for k, v in outcomes(local).items() if outcomes(remote).get(k) != v} }"
        f"\n{remote!r}")
    errors = [c["id"] for c in remote.results["checks"] if c["outcome"] == "error"]
    assert not errors, f"checks that could not be checked over SSH: {errors}\n{remote!r}"
    assert sshd.docker_forwards() > 0, "the Docker checks never came through sshd (no Docker socket forwarded)"
    # Docker's tunnel and testinfra's commands share one master connection, not one per command.
    assert connections == 1 and commands > 0, \
        f"{connections} SSH connections for one {selection} run (want 1), carrying {commands} host commands"
    named = [c["id"] for c in remote.results["checks"] + local.results["checks"] if re.search(r"\[(local|ssh:)", c["id"])]
    assert not named, f"check ids name the host they read: {named}"


def test_faults_are_caught_over_ssh(healthy_sandbox, suite, sshd):
    """An unhealthy app and a missing database (seen through Docker over SSH) are critical over SSH too.

    Manual: Morning Health Check 2 (health) and 3 (database file).
    """
    options, env = sshd.target()
    healthy_sandbox.control("health", "Unhealthy")
    with healthy_sandbox.moved_aside(DB):
        run = suite("tests_health/test_endpoints.py::test_health_answers_healthy",
                    "tests_backup/test_database.py::test_database_file_exists", *options, **env)
    assert_caught(run, "test_health_answers_healthy", "critical", r"'Unhealthy'")
    assert_caught(run, "test_database_file_exists", "critical",
                  rf"^{re.escape(DB)} is missing in {CONTAINER} \(required: the database file\)$")
    assert sshd.docker_forwards() > 0, "the Docker checks never came through sshd (no Docker socket forwarded)"


@contextlib.contextmanager
def dead_ssh_port(kind):
    """A port on 127.0.0.1 where SSH gets no answer: nothing listens (refused), or a listener that accepts the
    connection and never speaks (a host whose sshd hangs: ssh waits for its banner)."""
    if kind == "refused":
        yield free_port()
        return
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # connections complete in the kernel's backlog, and are never accepted nor answered
        yield listener.getsockname()[1]


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_ssh_target_that_does_not_answer_is_could_not_be_checked(healthy_sandbox, suite, sshd, kind):
    """DOCKER_HOST and --hosts naming an SSH port that does not answer: every Docker and host check is
    "could not be checked" at its severity, the Docker ones within one Docker timeout, without a traceback.

    Manual: Troubleshooting (the production host unreachable is itself a finding).
    """
    with dead_ssh_port(kind) as port:
        options, env = sshd.target(port=port)
        started = time.monotonic()
        run = suite("-m", "daily", *options, **env, DIGITALME_DOCKER_TIMEOUT_S="3", **BUSY_TEST_MACHINE)
        elapsed = time.monotonic() - started
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    docker_checks = ("test_compose_containers_running", "test_database_file_exists")
    for name in docker_checks:
        check = run.check(name)
        assert (check["outcome"], check["severity"]) == ("error", check["declared_severity"]), check
        assert check["message"].startswith("could not be checked: "), check
        # ssh's own words (refused; no banner within its ConnectTimeout), and what ssh made of the URL.
        why = "Connection refused" if kind == "refused" else "(banner exchange|did not connect within 3 s)"
        assert re.match(rf"^could not be checked: the Docker daemon did not answer: .*{why}.* "
                        rf"\(127\.0\.0\.1 resolves to root@127\.0\.0\.1:{port}\)$", check["message"]), check
    for name in ("test_host_memory_below_threshold", "test_filesystems_below_disk_threshold"):
        check = run.check(name)
        assert (check["outcome"], check["severity"]) == ("error", "warning"), check
        assert check["message"].startswith("could not be checked: host ssh://127.0.0.1 did not answer"), check
    # Every check that reads the host through testinfra says so in ssh's words, never as testinfra's raw object.
    dumped = [c["id"] for c in run.results["checks"] if "CommandResult" in c["message"]]
    assert not dumped, f"checks reporting testinfra's CommandResult instead of why: {dumped}"
    # One attempt per run, not one per check (14 Docker checks in daily): the run stays within a few timeouts.
    assert elapsed < 45, f"the run against a dead SSH target took {elapsed:.0f} s (> 45 s)\n{run!r}"


def test_concurrent_docker_calls_over_ssh_share_one_connection(healthy_sandbox, sshd):
    """The checks' probes call Docker from several threads at once; over SSH every call answers on one SSH
    connection (forwarded channels: sshd's 10 sessions per connection do not limit them), without the Docker SDK
    or paramiko, and the tunnel and its private folder are gone when the process ends.

    Manual: Morning Health Check, run from another machine.
    """
    _, env = sshd.target()
    connections = sshd.connections()
    script = textwrap.dedent(f"""
        import os, sys
        from concurrent.futures import ThreadPoolExecutor
        from plugins.probes.docker import DockerProbe
        probe = DockerProbe(15, ssh_config={str(sshd.client_config)!r})
        def look(i):
            code, _, _ = probe.exec({CONTAINER!r}, ["true"], "a look")
            return code, len(probe.logs({CONTAINER!r}, tail=5)), probe.memory_usage({CONTAINER!r})[0] > 0
        with ThreadPoolExecutor(6) as pool:
            print(sorted(set(pool.map(look, range(12)))))  # 36 calls: more than sshd's 10 sessions
        print(os.path.dirname(probe.tunnel.master.control), probe.tunnel.master.process.pid)
        print(sorted(m for m in ("docker", "paramiko") if m in sys.modules))
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=240,
                          env={**os.environ, **env, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and "Traceback" not in done.stderr, \
        f"concurrent Docker calls over SSH failed: {done.stdout[-1000:]}\n{done.stderr[-2000:]}"
    looks, tunnel, modules = done.stdout.strip().splitlines()
    assert re.fullmatch(r"\[\(0, 5, True\)\]", looks), f"12 looks from 6 threads gave {looks} (want all (0, 5, True))"
    assert sshd.connections() == connections + 1, f"{sshd.connections() - connections} SSH connections (want 1)"
    assert modules == "[]", f"the Docker SDK or paramiko was loaded for ssh://: {modules}"
    folder, pid = tunnel.split()
    assert not os.path.exists(folder), f"the tunnel's private folder {folder} outlived the process"
    alive = os.path.exists(f"/proc/{pid}") and "ssh" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    assert not alive, f"the tunnel's ssh (pid {pid}) outlived the process"


def test_a_local_docker_engine_is_reached_without_loading_the_ssh_transport(sandbox):
    """paramiko (~150 ms of every run's start-up, every five minutes) is not loaded for a local Docker engine (nor for
    ssh://, test_concurrent_docker_calls_over_ssh_share_one_connection)."""
    code = ("import sys; from plugins.probes.docker import DockerProbe; DockerProbe(10).client.ping(); "
            "print(sys.modules.get('paramiko') is not None)")
    environment = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "a local Docker engine loaded paramiko, the SSH transport"
