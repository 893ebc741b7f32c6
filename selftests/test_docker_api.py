"""The local Docker API over pycurl (plugins/probes/docker_api.py) against the sandbox's real container: each call
DockerProbe makes, its errors in the probe's words, its bounds, and that a local run never imports the SDK."""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time

import pytest

from conftest import REPO, assert_passed

sys.path.insert(0, str(REPO))
from plugins.probes import ProbeError  # noqa: E402
from plugins.probes.docker import DockerProbe  # noqa: E402
from plugins.probes.docker_api import LocalDockerAPI, _STREAM_BUFFER, _STREAM_QUEUE  # noqa: E402

SOCKET = "/var/run/docker.sock"


@pytest.fixture
def api():
    return LocalDockerAPI(SOCKET, 15)


def test_each_call_answers_like_the_sdk(sandbox, api):
    """ping, containers (label filter), inspect, stats, df, image inspect and exec inspect answer the SDK's shapes.

    Manual: Morning Health Check (docker-compose ps, docker stats, docker system df).
    """
    from sandbox import CONTAINER, PROJECT
    assert api.ping() is True, "the daemon's /_ping did not answer OK"
    listed = api.containers(all=True, filters={"label": f"com.docker.compose.project={PROJECT}"})
    assert CONTAINER in [c["Names"][0].lstrip("/") for c in listed], f"{CONTAINER} not listed: {listed}"
    state = api.inspect_container(CONTAINER)
    assert state["State"]["Running"] is True, f"inspect said {state['State']}"
    stats = api.stats(CONTAINER, stream=False, one_shot=True)
    assert stats["memory_stats"]["usage"] > 0, f"stats had no memory use: {stats.get('memory_stats')}"
    assert {"Images", "Containers"} <= set(api.df()), "system df lacked Images/Containers"
    assert api.inspect_image(state["Image"])["Id"] == state["Image"], "image inspect named another image"


def test_exec_splits_stdout_and_stderr_binary_and_large(sandbox, api):
    """An exec's stdout (binary, > 64 KiB, several frames) and stderr come back apart, byte for byte, with its code.

    Manual: Database Maintenance (commands run inside the container).
    """
    from sandbox import CONTAINER
    expected = bytes(range(256)) * 300  # 76.8 KiB, every byte value
    script = ("import sys; sys.stdout.buffer.write(bytes(range(256)) * 300); sys.stdout.flush(); "
              "sys.stderr.write('to stderr\\n'); sys.exit(3)")
    created = api.exec_create(CONTAINER, ["python3", "-c", script], stdout=True, stderr=True)
    out, err = api.exec_start(created["Id"], demux=True)
    assert out == expected, f"stdout: {len(out or b'')} bytes, want {len(expected)} (first differ at " \
        f"{next((i for i, (a, b) in enumerate(zip(out or b'', expected)) if a != b), None)})"
    assert err == b"to stderr\n", f"stderr: {err!r}"
    assert api.exec_inspect(created["Id"])["ExitCode"] == 3, "exit code not 3"
    silent = api.exec_create(CONTAINER, ["true"])
    assert api.exec_start(silent["Id"], demux=True) == (None, None), "a silent command gave output"


def test_logs_are_demultiplexed_and_a_tty_log_is_raw(sandbox, api):
    """Logs of a non-TTY container lose Docker's 8-byte frame headers; a TTY container's log comes as it is.

    Manual: Log Review (docker logs --since).
    """
    from sandbox import CONTAINER, PROJECT
    lines = api.logs(CONTAINER, stdout=True, stderr=True, timestamps=True, tail=20).decode().splitlines()
    assert lines, "the sandbox's log was empty"
    framed = [line for line in lines if not line[:4].isdigit()]
    assert not framed, f"lines not starting with Docker's timestamp (frame headers left in?): {framed[:3]}"
    name = f"{PROJECT}-tty"
    subprocess.run(["docker", "run", "-d", "-t", "--name", name, "--label", f"com.docker.compose.project={PROJECT}",
                    "--entrypoint", "sh", api.inspect_container(CONTAINER)["Image"], "-c",
                    "echo tty-line; sleep 60"], check=True, capture_output=True, timeout=60)
    try:
        deadline = time.monotonic() + 10
        while b"tty-line" not in api.logs(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert api.logs(name) == b"tty-line\r\n", f"TTY log: {api.logs(name)!r}"
        assert api.logs(name, since=int(time.time()) + 5) == b"", "since= in the future still gave lines"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def test_archive_of_several_mb_streams_in_bounded_chunks(sandbox, api):
    """get_archive streams: an 8 MB file comes in chunks of at most the buffer, whole, and a stopped stream ends
    its transfer thread.

    Manual: Backup Verification (the database copied out, however large).
    """
    from sandbox import CONTAINER
    made = api.exec_create(CONTAINER, ["python3", "-c", "import hashlib, os; data = os.urandom(8 * 1024 * 1024); "
                                       "open('/tmp/dapi-big', 'wb').write(data); print(hashlib.sha256(data).hexdigest())"])
    digest = (api.exec_start(made["Id"])[0] or b"").decode().strip()
    stream, stat = api.get_archive(CONTAINER, "/tmp/dapi-big")
    assert stat["size"] == 8 * 1024 * 1024, f"stat: {stat}"
    chunks = [len(chunk) for chunk in stream]
    assert max(chunks) <= _STREAM_BUFFER, f"a chunk of {max(chunks)} bytes > {_STREAM_BUFFER}"
    assert sum(chunks) > 8 * 1024 * 1024, f"{sum(chunks)} bytes of archive for an 8 MiB file"
    stream, _ = api.get_archive(CONTAINER, "/tmp/dapi-big")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        got = hashlib.sha256(archive.extractfile("dapi-big").read()).hexdigest()
    assert got == digest, f"sha256 {got} != {digest} in the container"
    stream, _ = api.get_archive(CONTAINER, "/tmp/dapi-big")
    next(stream)
    time.sleep(0.5)  # a consumer that waits: the transfer fills the bounded queue and waits too
    pending = stream.gi_frame.f_locals["self"].chunks
    assert pending.maxsize == _STREAM_QUEUE and pending.full(), \
        f"{pending.qsize()} chunks queued (bound {pending.maxsize}, want {_STREAM_QUEUE}, full: the transfer waits)"
    stream.close()
    alive = [t.name for t in threading.enumerate() if t.name == "docker-archive"]
    assert not alive, f"the transfer thread outlived the closed stream: {alive}"


def test_absent_things_keep_the_probes_words(sandbox):
    """404s read as before: "inspecting container X: not found", "no such file or folder", an absent image None.

    Manual: Morning Health Check.
    """
    from sandbox import CONTAINER
    probe = DockerProbe(15)
    with pytest.raises(ProbeError, match=r"^inspecting container dmselftest-absent: not found$"):
        probe.inspect("dmselftest-absent")
    with pytest.raises(ProbeError, match=rf"^reading /absent\.pem in {CONTAINER}: no such file or folder$"):
        probe.read_files(CONTAINER, "/absent.pem")
    assert probe.image_id("dmselftest-absent:none") is None, "an absent image had an id"
    assert probe.copy_out(CONTAINER, ["/absent-wal"], "/tmp") == [], "an absent file was copied"


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


def test_a_local_daily_run_never_imports_the_docker_sdk(healthy_sandbox, suite, tmp_path):
    """A whole daily run on the local socket never loads docker or requests (~100 ms of every run's start-up).

    Manual: Morning Health Check.
    """
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "dm_modules_seen.py").write_text(
        "import json, os, sys\n"
        "def pytest_unconfigure(config):\n"
        "    seen = [m for m in ('docker', 'requests', 'urllib3') if m in sys.modules]\n"
        "    open(os.environ['DM_MODULES_SEEN'], 'w').write(json.dumps(seen))\n")
    seen = tmp_path / "seen.json"
    run = suite("-m", "daily", "-p", "dm_modules_seen", PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path / 'plugin'}",
                DM_MODULES_SEEN=str(seen), DOCKER_HOST="")
    assert_passed(run, "test_compose_containers_running")  # Docker was really asked
    loaded = json.loads(seen.read_text())
    assert loaded == [], f"a local daily run imported {loaded}"
