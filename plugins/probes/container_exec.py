"""One exec in the app container for what a run reads there: the database files and the backup folder as ``stat``
sees them (plugins/probes/container_files.py) and the figures the container sees (plugins/probes/inside.py).

They were an exec each, and an exec is the costliest call a run makes of Docker: the engine starts a process in
the container (runc), ~60 ms of the engine's CPU and ~20 ms of the container's on this machine, and a daily run made
two per target. Now the two scripts run one after the other in one ``sh -c``, the second in a subshell (an error
that ends it cannot cut the first short), their output told apart by a marker line on stdout and on stderr. Each
reader gets what its own exec would have answered (exit code, stdout from ``#start``, stderr), and a failure of
the exec in its own words (``listing files in container X: ...``). The inside figures are read once, without a
sample: a run without recent CPU counters samples in an exec of its own (inside.py), as before.
"""

import dataclasses

from plugins.probes import ProbeError
from plugins.probes.container_files import script as files_script
from plugins.probes.inside import script as inside_script

_MARK = "#inside"  # between the two scripts' output, on stdout and on stderr
_WHAT = "<what the exec was for>"  # in a failure's message, until a reader says what it was looking at


@dataclasses.dataclass(frozen=True)
class ExecAnswer:
    """What one reader's own exec would have answered: exit code, stdout and stderr, or why the exec failed."""
    code: int = None
    out: str = ""
    err: str = ""
    failure: str = None  # the exec's ProbeError: its message, _WHAT where the reader's words go

    def said(self, what):
        """(exit code, stdout, stderr); a failed exec is the ProbeError its reader's own exec would have raised."""
        if self.failure is not None:
            raise ProbeError(self.failure.replace(_WHAT, what, 1)) from None
        return self.code, self.out, self.err


def read_both(probe, container, db_path, backup_dir):
    """(the files' answer, the inside figures' answer) from one exec through ``probe`` (a DockerProbe)."""
    folder = backup_dir.rstrip("/") or "/"
    command = ["sh", "-c", f"{files_script(db_path, folder)}\necho '{_MARK}'; echo '{_MARK}' >&2\n"
                           f"( {inside_script(0)}\n)"]
    try:
        code, out, err = probe.exec(container, command, _WHAT)
        if code == 0 and not out.startswith("#start"):  # its start lost in Docker's stream (container_files.py)
            code, out, err = probe.exec(container, command, _WHAT)
    except ProbeError as e:
        failed = ExecAnswer(failure=str(e))
        return failed, failed
    files_out, marked, inside_out = out.partition(f"\n{_MARK}\n")
    files_err, _, inside_err = err.partition(f"{_MARK}\n")
    # The files' script ends with an echo: its own exec would have exited 0 wherever it ran to its end.
    files = ExecAnswer(0 if marked else code, files_out + "\n" if marked else out, files_err)
    return files, ExecAnswer(code, inside_out, inside_err)
