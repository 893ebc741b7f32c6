"""Docker probe: one client for the run; container state, stats, logs, and the files inside the container.

Everything a group of checks needs comes from one call: one ``stat`` exec lists the database, its -wal/-shm
and the whole backup folder; one archive copies the database files out for SQLite to read. Each failure to
reach Docker becomes a :class:`ProbeError` whose text says what could not be looked at.
"""

import dataclasses
import io
import os
import re
import shlex
import tarfile
import threading
import time

from plugins.severity import ProbeError

_STAT_FORMAT = "%n|%s|%Y|%a|%U|%F"


@dataclasses.dataclass(frozen=True)
class FileFact:
    """One file inside the container, as ``stat`` sees it."""
    path: str
    size: int
    mtime: float
    mode: int  # permission bits
    owner: str
    kind: str

    @property
    def name(self):
        return os.path.basename(self.path)

    @property
    def age_h(self):
        return (time.time() - self.mtime) / 3600

    @property
    def world_readable(self):
        return bool(self.mode & 0o004)

    def ls_line(self):
        return f"{self.mode:04o} {self.owner:<10} {self.size:>12} {time.strftime('%Y-%m-%d %H:%M', time.gmtime(self.mtime))} {self.name}"


@dataclasses.dataclass
class ContainerFiles:
    """What ``stat`` saw of the database files and the backup folder, in one exec."""
    files: dict  # path -> FileFact
    backup_dir_listed: bool
    errors: str

    def get(self, path):
        return self.files.get(path)

    def in_folder(self, folder):
        folder = folder.rstrip("/") + "/"
        return sorted((f for f in self.files.values() if f.path.startswith(folder) and f.kind.startswith("regular")),
                      key=lambda f: f.mtime)


def _docker_errors():
    import docker.errors  # imported where first needed: start-up time matters every five minutes
    import requests.exceptions
    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


class DockerProbe:
    """Looks at the deployment through the Docker API (local socket, or DOCKER_HOST=ssh://... for a remote host)."""

    def __init__(self, timeout_s):
        self.timeout_s = timeout_s
        self._client = None
        self._client_lock = threading.Lock()  # probes start in background threads (plugins/prefetch.py): one client
        self._inspected = {}

    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                import docker
                try:
                    client = docker.from_env(timeout=int(max(1, self.timeout_s)))
                    client.ping()
                except _docker_errors() as e:
                    raise ProbeError(f"the Docker daemon did not answer ({_short(e)})") from None
                self._client = client
            return self._client

    def call(self, what, function, *args, **kwargs):
        """Run one Docker API call; a failure becomes a ProbeError naming ``what`` was being looked at."""
        import docker.errors
        try:
            return function(*args, **kwargs)
        except docker.errors.NotFound:
            raise ProbeError(f"{what}: not found") from None
        except _docker_errors() as e:
            raise ProbeError(f"{what}: {_short(e)}") from None

    def project_containers(self, project):
        """Every container of the compose project, running or not (docker-compose ps -a)."""
        listed = self.call(f"listing containers of compose project {project!r}", self.client.api.containers,
                           all=True, filters={"label": f"com.docker.compose.project={project}"})
        return [{
            "name": c["Names"][0].lstrip("/"),
            "service": c["Labels"].get("com.docker.compose.service", "?"),
            "state": c["State"],
            "status": c["Status"],
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
        """The container's log lines (stdout and stderr), the last ``since_s`` seconds and/or ``tail`` lines."""
        kwargs = {"stdout": True, "stderr": True, "timestamps": False}
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
        paths = " ".join(shlex.quote(p) for p in (db_path, db_path + "-wal", db_path + "-shm"))
        script = (f"stat -c {shlex.quote(_STAT_FORMAT)} {paths} 2>/dev/null; "
                  f"cd {shlex.quote(backup_dir)} && echo '#listed' && "
                  f"find . -maxdepth 1 -type f -exec stat -c {shlex.quote(_STAT_FORMAT)} {{}} +")
        code, out, err = self.exec(container, ["sh", "-c", script], f"listing files in container {container}")
        files, listed = {}, False
        for line in out.splitlines():
            if line == "#listed":
                listed = True
                continue
            parts = line.split("|")
            if len(parts) != 6:
                continue
            path = parts[0] if parts[0].startswith("/") else os.path.join(backup_dir, parts[0][2:])
            files[path] = FileFact(path, int(parts[1]), float(parts[2]), int(parts[3], 8), parts[4], parts[5])
        return ContainerFiles(files, listed, err.strip())

    def copy_out(self, container, paths, folder):
        """Copy files out of the container (running or not) into ``folder``; returns the local paths copied."""
        copied = []
        for path in paths:
            import docker.errors
            try:
                stream, _ = self.client.api.get_archive(container, path)
            except docker.errors.NotFound:
                continue  # an absent -wal or -shm is normal
            except _docker_errors() as e:
                raise ProbeError(f"copying {path} out of {container}: {_short(e)}") from None
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                member = archive.getmembers()[0]
                target = os.path.join(folder, os.path.basename(path))
                with archive.extractfile(member) as source, open(target, "wb") as out:
                    out.write(source.read())
            copied.append(target)
        return copied


def _short(error):
    """An API error in one line, without the library's noise."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"\s+", " ", text)[:300]
