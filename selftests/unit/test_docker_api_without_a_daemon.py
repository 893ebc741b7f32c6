"""The local Docker API (plugins/probes/docker_api.py) without a daemon behind it: a socket nobody listens on and one
that never answers fail in the probe's words within the timeout, and only a tcp:// host goes through the Docker SDK.
Against the sandbox's real container: sandbox/test_docker_api.py."""

import socket
import sys
import threading
import time

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))
from plugins.probes import ProbeError  # noqa: E402
from plugins.probes.docker import DockerProbe  # noqa: E402


def test_a_socket_nobody_listens_on_did_not_answer(tmp_path):
    """A socket path with nothing behind it: "the Docker daemon did not answer (...)", asked once per run.

    Manual: Morning Health Check (Docker itself down).
    """
    probe = DockerProbe(5, f"unix://{tmp_path}/docker.sock")
    for _ in range(2):
        with pytest.raises(ProbeError, match=r"^the Docker daemon did not answer \(.+\)$"):
            probe.inspect("x")


def test_a_daemon_that_never_answers_fails_within_the_timeout(tmp_path):
    """A socket that accepts and never answers: "did not answer within 1 s", after about 1 s, not more.

    Manual: Morning Health Check (a hung Docker daemon).
    """
    path = str(tmp_path / "hung.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    try:
        probe = DockerProbe(1, f"unix://{path}")
        started = time.monotonic()
        with pytest.raises(ProbeError, match=r"^the Docker daemon did not answer within 1 s$"):
            probe.client
        took = time.monotonic() - started
        assert took < 3, f"waited {took:.1f} s for a daemon that never answers (timeout 1 s)"
    finally:
        server.close()


@pytest.mark.parametrize("host, local, sdk", [("", "/var/run/docker.sock", False),
                                              ("unix:///run/d.sock", "/run/d.sock", False),
                                              ("tcp://127.0.0.1:2375", None, True),
                                              ("ssh://ops@example.invalid", None, False)])
def test_only_a_tcp_host_uses_the_sdk(host, local, sdk, monkeypatch):
    """The local socket goes through pycurl, and so does ssh:// (through the socket ssh forwards to it); tcp://
    keeps the Docker SDK (its errors caught).

    Manual: Morning Health Check (a remote Docker host).
    """
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    probe = DockerProbe(5, host)
    assert probe.socket_path == local, f"{host!r}: socket {probe.socket_path!r}, want {local!r}"
    module = probe._errors()[0].__module__
    want = "docker.errors" if sdk else "plugins.probes.docker_answers"
    assert module == want, f"{host!r}: errors from {module}, want {want}"
