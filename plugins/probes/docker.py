"""Docker probe: one client for the run; container state, stats, logs, disk usage, images, and the files inside
the container.

Everything a group of checks needs comes from one call: one ``stat`` exec lists the database, its -wal/-shm
and the whole backup folder (plugins/probes/container_files.py); one archive copies the database files out for
SQLite to read. Each failure to reach Docker becomes a :class:`ProbeError` whose text says what could not be
looked at.
"""

import dataclasses
import datetime as dt
import os
import re
import threading
import time

from plugins.probes import ProbeError
from plugins.probes.container_files import list_files
from plugins.probes.docker_answers import one_line


@dataclasses.dataclass(frozen=True)
class ReclaimableSpace:
    """What ``docker image prune`` and ``docker container prune`` would free, and of how many of each."""
    size: int  # bytes
    dangling_images: int
    stopped_containers: int


@dataclasses.dataclass(frozen=True)
class ImageAge:
    """When an image was built (Docker's ``Created``), and how many days ago that was when it was inspected."""
    created: dt.datetime
    days: float


def local_socket(base_url):
    """The unix socket path of a local Docker host (no ``base_url``: /var/run/docker.sock; ``unix:///path``),
    None for a tcp:// or ssh:// one."""
    if not base_url:
        return "/var/run/docker.sock"
    if base_url.startswith("unix://"):
        return base_url[len("unix://"):] or "/var/run/docker.sock"
    return None


class DockerProbe:
    """Looks at the deployment through the Docker API: ``base_url`` (a target's ``docker_host``), else
    ``DOCKER_HOST``, else the local socket; ``ssh://[user@]host-or-alias[:port]`` for a remote host.

    A local Docker host (its unix socket) is spoken to with pycurl (plugins/probes/docker_api.py), without
    importing the Docker SDK (~100 ms of every run); so is an ssh:// one, through a local socket the system
    ``ssh`` forwards to it (plugins/probes/ssh.py: the operator's ssh config applies as to ``ssh``; ``ssh_config``
    and ``ssh_identity`` are the run's ``--ssh-config`` and ``--ssh-identity-file``). tcp:// goes through the SDK.
    """

    def __init__(self, timeout_s, base_url="", ssh_config=None, ssh_identity=None):
        self.timeout_s = timeout_s
        self.base_url = base_url or os.environ.get("DOCKER_HOST", "")
        self.remote = self.base_url.startswith("ssh://")
        self.socket_path = local_socket(self.base_url)
        self.tunnel = None
        if self.remote:
            from plugins.probes.ssh import DockerTunnel, SshDestination
            self.tunnel = DockerTunnel(SshDestination.from_url(self.base_url, ssh_config, ssh_identity), timeout_s)
        self._client = None
        self._connect_error = None
        self._client_lock = threading.Lock()  # probes start in background threads (plugins/probes/prefetch.py): one client
        self._inspected = {}

    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                # A daemon that did not answer is not asked again in this run: each Docker check would otherwise
                # wait the whole timeout for it, one after the other.
                if self._connect_error is None:
                    try:
                        self._client = self._connect()
                    except ProbeError as e:
                        self._connect_error = e
                if self._connect_error is not None:
                    raise ProbeError(str(self._connect_error)) from None
            return self._client

    def _errors(self):
        """(NotFound, ImageNotFound, every failure) of the client in use."""
        if self.socket_path or self.remote:
            from plugins.probes import docker_answers
            return docker_answers.NotFound, docker_answers.ImageNotFound, docker_answers.ERRORS
        from plugins.probes.docker_sdk import sdk_errors
        return sdk_errors()

    def _connect_local(self, socket_path):
        """The local socket's API, which answered a ping within the Docker timeout (curl's own timers bound it:
        no thread needed), or a ProbeError."""
        from plugins.probes.docker_answers import ERRORS
        from plugins.probes.docker_api import LocalDockerAPI
        client = LocalDockerAPI(socket_path, self.timeout_s)
        try:
            client.ping()
        except ERRORS as e:
            timed_out = getattr(e, "timed_out", False)
            if self.tunnel is not None:
                raise ProbeError(self._remote_ping_failed(one_line(e), timed_out)) from None
            if timed_out:
                raise ProbeError(f"the Docker daemon did not answer within {self.timeout_s:g} s") from None
            raise ProbeError(f"the Docker daemon did not answer ({one_line(e)})") from None
        return client

    def _connect_remote(self):
        """The remote Docker API through the tunnel's local socket (one SSH connection for the run), or a
        ProbeError in ssh's words, naming what the alias resolved to."""
        try:
            socket_path = self.tunnel.open()
        except ProbeError as e:
            raise ProbeError(f"the Docker daemon did not answer: {e}") from None
        return self._connect_local(socket_path)

    def _remote_ping_failed(self, curl_said, timed_out):
        """Connected over SSH, but no answer from the Docker socket at its end: ssh's words (a channel the host
        refused to open: no socket there, or no permission) rather than curl's about the local end."""
        said = self.tunnel.ssh_said() or curl_said
        if "open failed" in said:  # sshd tells the client no more than that
            said += (": no Docker socket there, no permission for this user, or sshd forbids socket forwarding "
                     "(AllowStreamLocalForwarding)")
        within = f" within {self.timeout_s:g} s" if timed_out else ""
        return (f"the Docker daemon did not answer{within} at {self.tunnel.remote_socket} over ssh ({said}; "
                f"{self.tunnel.destination.described()})")

    def _connect(self):
        """A client that answered a ping, within the Docker timeout, or a ProbeError.

        ``unix://`` and ``ssh://`` go through pycurl (the SSH tunnel bounds its own wait); ``tcp://`` through the
        SDK, which does not bound the connection itself, so it is made in a thread waited for no longer than the
        timeout.
        """
        if self.socket_path:
            return self._connect_local(self.socket_path)
        if self.remote:
            return self._connect_remote()
        from plugins.probes.docker_sdk import connect_tcp
        return connect_tcp(self.base_url, self.timeout_s)

    def call(self, what, function, *args, **kwargs):
        """Run one Docker API call; a failure becomes a ProbeError naming ``what`` was being looked at."""
        not_found, _, failures = self._errors()
        try:
            return function(*args, **kwargs)
        except not_found:
            raise ProbeError(f"{what}: not found") from None
        except failures as e:
            raise ProbeError(f"{what}: {one_line(e)}") from None

    def project_containers(self, project):
        """Every container of the compose project, running or not (docker-compose ps -a), one-offs marked.

        A one-off is what ``docker compose run`` leaves (label ``com.docker.compose.oneoff=True``): a migration
        or a shell, not the service. ``config_files`` is the compose file(s) the project was started from.
        """
        listed = self.call(f"listing containers of compose project {project!r}", self.client.api.containers,
                           all=True, filters={"label": f"com.docker.compose.project={project}"})
        return [{
            "name": c["Names"][0].lstrip("/"),
            "service": c["Labels"].get("com.docker.compose.service", "?"),
            "state": c["State"],
            "status": c["Status"],
            "oneoff": c["Labels"].get("com.docker.compose.oneoff", "False") == "True",
            "config_files": c["Labels"].get("com.docker.compose.project.config_files", ""),
        } for c in listed]

    def inspect(self, container):
        """``docker inspect``, once per run per container."""
        if container not in self._inspected:
            self._inspected[container] = self.call(f"inspecting container {container}",
                                                   self.client.api.inspect_container, container)
        return self._inspected[container]

    def memory_usage(self, container):
        """Memory in use as ``docker stats`` shows it: usage less the inactive page cache."""
        stats = self.call(f"reading stats of {container}", self.client.api.stats, container,
                          stream=False, one_shot=True)
        memory = stats.get("memory_stats") or {}
        if "usage" not in memory:
            raise ProbeError(f"reading stats of {container}: no memory figures (is it running?)")
        detail = memory.get("stats", {})
        cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
        return memory["usage"] - cache, memory.get("limit", 0)

    def logs(self, container, since_s=None, tail=None):
        """The container's log lines (stdout and stderr), the last ``since_s`` seconds and/or ``tail`` lines.

        Each line starts with Docker's timestamp of it (RFC 3339, nanoseconds) and a space: it tells one log
        entry from an identical one written later (plugins/probes/logs.py splits it off).
        """
        kwargs = {"stdout": True, "stderr": True, "timestamps": True}
        if since_s is not None:
            kwargs["since"] = int(time.time() - since_s)
        if tail is not None:
            kwargs["tail"] = tail
        data = self.call(f"reading logs of {container}", self.client.api.logs, container, **kwargs)
        return data.decode("utf-8", "replace").splitlines()

    def exec(self, container, command, what):
        """One command inside the container; returns (exit code, stdout, stderr)."""
        result = self.call(what, self.client.api.exec_create, container, command, stdout=True, stderr=True)
        output = self.call(what, self.client.api.exec_start, result["Id"], demux=True)
        code = self.call(what, self.client.api.exec_inspect, result["Id"])["ExitCode"]
        stdout, stderr = output if isinstance(output, tuple) else (output, b"")
        return code, (stdout or b"").decode("utf-8", "replace"), (stderr or b"").decode("utf-8", "replace")

    def container_files(self, container, db_path, backup_dir):
        """``stat`` of the database with its -wal/-shm and of everything in the backup folder: one exec."""
        return list_files(self, container, db_path, backup_dir)

    def reclaimable_space(self):
        """Reclaimable space as ``docker system df`` counts it: dangling images no container uses, and the
        writable layers of stopped containers."""
        usage = self.call("reading Docker disk usage", self.client.api.df)
        dangling = [i for i in usage.get("Images") or [] if not i.get("RepoTags") or i["RepoTags"] == ["<none>:<none>"]]
        stopped = [c for c in usage.get("Containers") or [] if c.get("State") != "running"]
        size = sum(i.get("Size", 0) for i in dangling if not i.get("Containers")) + \
            sum(c.get("SizeRw", 0) or 0 for c in stopped)
        return ReclaimableSpace(size, len(dangling), len(stopped))

    def image_age(self, image_id):
        """When the image was built (``docker image inspect``), and its age in days now."""
        image = self.call(f"inspecting image {image_id[:19]}", self.client.api.inspect_image, image_id)
        created = parse_docker_time(image["Created"])
        return ImageAge(created, (dt.datetime.now(dt.timezone.utc) - created).total_seconds() / 86400)

    def image_id(self, reference):
        """The id the image reference (``name:tag``) names on the Docker host now, or None where it names none."""
        _, image_not_found, failures = self._errors()
        try:
            return self.client.api.inspect_image(reference)["Id"]
        except image_not_found:
            return None
        except failures as e:
            raise ProbeError(f"inspecting image {reference}: {one_line(e)}") from None

    def read_files(self, container, path, max_bytes=1024 * 1024, links=5):
        """The regular files at ``path`` in the container (a file, or a folder's files), as {path in the
        container: bytes}, through the archive API (no exec). A symbolic link given as ``path`` (certbot's
        live/ folder) is followed, up to ``links`` times; files larger than ``max_bytes`` are left out."""
        from plugins.probes.docker_archive import read_files
        return read_files(self, container, path, max_bytes, links)

    def pid1_uid(self, container):
        """The effective uid of the container's PID 1 (``/proc/1/status``); None where the exec could not read it."""
        code, status, _ = self.exec(container, ["cat", "/proc/1/status"], f"reading PID 1 of {container}")
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.MULTILINE) if code == 0 else None
        return int(uids.group(2)) if uids else None

    def copy_out(self, container, paths, folder):
        """Copy files out of the container (running or not) into ``folder``; returns the local paths copied."""
        from plugins.probes.docker_archive import copy_out
        return copy_out(self, container, paths, folder)


def parse_docker_time(text):
    """Docker's RFC 3339 time with nanoseconds (``2026-11-27T08:25:21.471101203Z``) as an aware datetime."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if not match:
        raise ProbeError(f"unreadable time from Docker {text!r}")
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return dt.datetime.fromisoformat(f"{match.group(1)}.{fraction}{zone}")
