"""A Docker host over SSH without the sandbox: a host that forbids socket forwarding says so in ssh's words, naming the
socket and what the alias resolved to (a real hardened sshd on 127.0.0.1); an ssh:// Docker host that cannot mean what
was typed (DIGITALME_DOCKER_HOST, or DOCKER_HOST where the checks use it) stops the run (exit 4) naming the setting,
and an alias is accepted. The ssh config's aliases against the sandbox: sandbox/test_ssh_config.py."""

import re
import subprocess
import sys

import pytest

from conftest import REPO
from test_remote import Sshd


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
