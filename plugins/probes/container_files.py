"""Files inside the container: the database with its -wal/-shm and the backup folder, as ``stat`` sees them.

One exec lists them all (``DockerProbe.container_files``). An absent file and one that could not be looked at
are told apart by stat's and find's own errors (C locale), so a check says "missing" only of what is missing.
"""

import dataclasses
import os
import shlex
import time

from plugins.probes import ProbeError

_STAT_FORMAT = "%n|%s|%Y|%a|%U|%F"
_ABSENT = "No such file or directory"


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


def list_files(probe, container, db_path, backup_dir, answer=None):
    """``stat`` of the database with its -wal/-shm and of everything in the backup folder: one exec through
    ``probe`` (a DockerProbe), or ``answer``'s (plugins/probes/container_exec.py: the exec shared with the inside
    figures). An exec that did not run the script at all is a ProbeError with what it said."""
    folder = backup_dir.rstrip("/") or "/"
    what = f"listing files in container {container}"
    if answer is not None:
        code, out, err = answer.said(what)
    else:
        code, out, err = probe.exec(container, ["sh", "-c", script(db_path, folder)], what)
        if code == 0 and not out.startswith("#start"):
            # The script ran, but the output's start never arrived: Docker can lose the first bytes of an exec's
            # stream under concurrent execs (moby#27289). Once more, then it stands as a probe failure.
            code, out, err = probe.exec(container, ["sh", "-c", script(db_path, folder)], what)
    if not out.startswith("#start"):
        raise ProbeError(f"{what}: the exec exited {code}: {(err.strip() or out.strip() or 'no output')[:300]}")
    files, unreadable, found = {}, {}, True
    for line in out.splitlines()[1:]:
        if line.startswith("#error|"):
            _, path, reason = line.split("|", 2)
            if _ABSENT not in reason:
                unreadable[path] = reason.strip()
        elif line.startswith("#find|") and line != "#find|0":
            found, problems = _find_errors(err, folder)
            if problems:
                unreadable[folder] = problems
        else:
            fact = _file_fact(line)
            if fact:
                files[fact.path] = fact
    return ContainerFiles(files, folder, found, unreadable, container)


def script(db_path, folder):
    """The shell script: ``#start``, a stat line (or ``#error|path|reason``) per database file, the folder's
    files, and ``#find|<exit code>``."""
    quoted_format = shlex.quote(_STAT_FORMAT)
    paths = " ".join(shlex.quote(p) for p in (db_path, db_path + "-wal", db_path + "-shm"))
    return (f"export LC_ALL=C; echo '#start'; "
            f"for p in {paths}; do if out=$(stat -c {quoted_format} -- \"$p\" 2>&1); "
            f"then printf '%s\\n' \"$out\"; else printf '#error|%s|%s\\n' \"$p\" \"$out\"; fi; done; "
            f"find -H {shlex.quote(folder)} -maxdepth 1 -type f -exec stat -c {quoted_format} {{}} +; "
            f"echo \"#find|$?\"")


def _find_errors(stderr, folder):
    """(whether the folder exists, what kept find from looking: "" when nothing) from find's error lines."""
    found, problems = True, []
    for message in stderr.splitlines():
        if _ABSENT not in message:
            problems.append(message.strip())  # permission denied, I/O error: not an absence
        elif f"'{folder}'" in message:
            found = False  # the folder itself is absent; other such lines are files rotated meanwhile
    return found, "; ".join(problems)


def _file_fact(line):
    """A ``stat`` line as a FileFact; None for anything else."""
    parts = line.rsplit("|", 5)
    if len(parts) == 6 and parts[0].startswith("/"):
        return FileFact(parts[0], int(parts[1]), float(parts[2]), int(parts[3], 8), parts[4], parts[5])
    return None
