"""Inside the container: the manual's Performance Monitoring figures as the app container sees them.

``docker exec digitalme-digitalme-1 cat /proc/meminfo | grep MemAvailable`` and ``cat /proc/loadavg``, with what
the container may use (``nproc``: its cpuset; a CPU quota of its cgroup, v1 or v2) and its cgroup's CPU use, so
that a load is judged with whether the app itself is busy: all in one exec.

Its CPU use is measured since the previous run when that run kept the cgroup's usage counter (with the uptime,
the boot and the start of the container's PID 1: ``<report dir>/state/``, plugins/probes/host.py's
``KeptCounters``) 1 s to 6 min ago; otherwise (first run, too old, a restarted container, the state unreadable)
the exec samples it for ``SAMPLE_S``.

The same exec reads the container's memory where ``docker stats`` reads it, the cgroup's files (v1 or v2): in use
less the inactive page cache, and the limit. That is ``docker stats``'s figure without its wait: Docker 20.10
answers a one-shot stats call only at its next one-second sample, which bounded how fast a fleet is checked.
"""

import dataclasses
import re

from plugins.probes import ProbeError
from plugins.probes.host import cpu_since

SAMPLE_S = 0.25
# Shell builtins only (read, case, echo; nproc and sleep aside): each $(...) or command is a fork and an exec in
# the container, and ~20 of them made this exec the slowest probe of a run (0.4 s beside the others on 2 cores).
_SCRIPT = r"""
export LC_ALL=C
set -f  # no globbing of the fields split below
while read -r key value unit; do
  case $key in MemTotal:|MemAvailable:) echo "$key $value $unit";; esac
done < /proc/meminfo
read -r line < /proc/loadavg; echo "loadavg $line"
printf 'nproc '; nproc
if [ -r /sys/fs/cgroup/cpu.max ]; then read -r line < /sys/fs/cgroup/cpu.max; echo "quota $line"
else v1=/sys/fs/cgroup/cpu; quota= period=
  [ -r $v1/cpu.cfs_quota_us ] && read -r quota < $v1/cpu.cfs_quota_us
  [ -r $v1/cpu.cfs_period_us ] && read -r period < $v1/cpu.cfs_period_us
  echo "quota $quota $period"; fi
field() {  # field FILE KEY: the value of "KEY value" in FILE, into $found
  found=; while read -r key value; do [ "$key" = "$2" ] && found=$value; done < "$1"
}
usage() {
  if [ -r /sys/fs/cgroup/cpu.stat ]; then field /sys/fs/cgroup/cpu.stat usage_usec; usage="usec $found"
  elif [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then read -r found < /sys/fs/cgroup/cpuacct/cpuacct.usage; usage="nsec $found"
  else usage="none 0"; fi
}
if [ -r /sys/fs/cgroup/memory.current ]; then v2=/sys/fs/cgroup
  read -r current < $v2/memory.current; read -r max < $v2/memory.max; field $v2/memory.stat inactive_file
  echo "memory $current $max $found"
elif [ -r /sys/fs/cgroup/memory/memory.usage_in_bytes ]; then v1=/sys/fs/cgroup/memory
  read -r current < $v1/memory.usage_in_bytes; read -r max < $v1/memory.limit_in_bytes; field $v1/memory.stat total_inactive_file
  echo "memory $current $max $found"
fi
boot=; [ -r /proc/sys/kernel/random/boot_id ] && read -r boot < /proc/sys/kernel/random/boot_id
read -r stat < /proc/1/stat; set -- ${stat##*") "}; echo "identity $boot/${20}"
read -r uptime rest < /proc/uptime; usage; echo "sample $uptime $usage"
if [ SAMPLE_S != 0 ]; then sleep SAMPLE_S; read -r uptime rest < /proc/uptime; usage; echo "sample $uptime $usage"; fi
"""
_NS = {"usec": 1e3, "nsec": 1}


@dataclasses.dataclass(frozen=True)
class InsideFigures:
    """What the container sees: /proc/meminfo and /proc/loadavg (the host's, unless something like lxcfs
    virtualises them), its CPUs, and its own CPU use over the sample."""
    mem_total: int  # bytes
    mem_available: int  # bytes
    load: tuple  # 1, 5 and 15 minutes
    cpus_seen: int  # nproc: the CPUs of its cpuset
    cpus_allowed: float  # cpus_seen, lowered by a CPU quota
    busy_pct: float = None  # its cgroup's CPU use over the sample, as a share of cpus_allowed; None: unreadable
    memory: tuple = None  # (in use less inactive page cache, limit) in bytes, as docker stats counts; None: unreadable
    busy_measured: str = f"sampled {SAMPLE_S:g} s"  # over what busy_pct was measured: the sample or since a run

    @property
    def load5_per_cpu_pct(self):
        return 100 * self.load[1] / self.cpus_seen


def read_inside(probe, container, kept=None, shared=None):
    """The figures, from one exec through ``probe`` (a DockerProbe); an answer that cannot be read is a ProbeError.

    ``kept``: the container's KeptCounters (None: no state, the CPU use is sampled). Counters that turn out
    unusable (a restarted container, another boot) cost one more exec, which samples. ``shared``: where the run
    has recent counters (no sample), a function giving the answer of the exec shared with the container's files
    (plugins/probes/container_exec.py) instead of an exec of its own."""
    previous = kept.previous() if kept is not None else None
    answer = shared() if previous and shared is not None else None
    figures, counters = _read(probe, container, 0 if previous else SAMPLE_S, answer)
    if counters is not None and previous is not None:
        identity, uptime, usage_s = counters
        share, measured = cpu_since(previous, identity, uptime, (usage_s, uptime))
        if share is not None:
            figures = dataclasses.replace(figures, busy_pct=round(100 * share / figures.cpus_allowed, 1),
                                          busy_measured=measured)
        else:
            figures, counters = _read(probe, container, SAMPLE_S)
            figures = dataclasses.replace(figures, busy_measured=f"{figures.busy_measured} ({measured})")
    elif counters is not None and kept is not None:
        figures = dataclasses.replace(figures, busy_measured=f"{figures.busy_measured} (no recent counters from a "
                                                             f"previous run)")
    if kept is not None and counters is not None:
        identity, uptime, usage_s = counters
        kept.keep({"identity": identity, "uptime": uptime, "counter": [usage_s, uptime]})
        if kept.problem:
            figures = dataclasses.replace(figures, busy_measured=f"{figures.busy_measured}; {kept.problem}")
    return figures


def script(sample_s):
    """The shell script: ``#start``, then the figures; the CPU use sampled for ``sample_s`` (0: read once)."""
    return "echo '#start'; " + _SCRIPT.replace("SAMPLE_S", f"{sample_s:g}")


def _read(probe, container, sample_s, answer=None):
    """(figures, (identity, uptime, CPU seconds used) of the last reading or None) from one exec, or ``answer``'s
    (the shared exec's, which read without a sample)."""
    what = f"reading /proc/meminfo and /proc/loadavg in {container}"
    if answer is not None:
        code, out, err = answer.said(what)
    else:
        command = ["sh", "-c", script(sample_s)]
        code, out, err = probe.exec(container, command, what)
        if code == 0 and not out.startswith("#start"):  # its start lost in Docker's stream (container_files.py)
            code, out, err = probe.exec(container, command, what)
    try:
        if not out.startswith("#start"):
            raise ValueError("no start marker")
        return parse(out), counters_of(out)
    except (ValueError, KeyError, IndexError, ZeroDivisionError):
        shown = (err.strip() or out.strip() or "no output")[:300]
        raise ProbeError(f"{what}: the exec exited {code}: {shown}") from None


def counters_of(out):
    """(identity, uptime s, CPU seconds the cgroup used) from the exec's last ``sample`` line and its ``identity``
    (the boot and when the container's PID 1 started: a restarted container's counter starts again); None when
    the cgroup's usage is unreadable."""
    identity = next((line.split(" ", 1)[1].strip() for line in out.splitlines() if line.startswith("identity ")), "")
    samples = [line.split()[1:] for line in out.splitlines() if line.startswith("sample ")]
    if not samples or samples[-1][1] not in _NS or not identity.strip("/"):
        return None
    uptime, unit, usage = samples[-1]
    return identity, float(uptime), int(usage) * _NS[unit] / 1e9


def parse(out):
    lines = {}
    samples = []
    for line in out.splitlines():
        key, _, rest = line.partition(" ")
        if key == "sample":
            samples.append(rest.split())
        else:
            lines[key.rstrip(":")] = rest.strip()
    kib = {name: int(re.match(r"(\d+)\s*kB", lines[name]).group(1)) * 1024 for name in ("MemTotal", "MemAvailable")}
    load = tuple(float(x) for x in lines["loadavg"].split()[:3])
    cpus_seen = int(lines["nproc"])
    quota = lines.get("quota", "").split()
    allowed = float(cpus_seen)
    if len(quota) == 2 and quota[0] not in ("max", "-1") and float(quota[1]) > 0:
        allowed = min(allowed, float(quota[0]) / float(quota[1]))
    busy = None
    if len(samples) == 2 and samples[0][1] in _NS and samples[1][1] == samples[0][1]:
        elapsed_s = float(samples[1][0]) - float(samples[0][0])
        used_s = (int(samples[1][2]) - int(samples[0][2])) * _NS[samples[0][1]] / 1e9
        if elapsed_s > 0:
            busy = round(100 * used_s / elapsed_s / allowed, 1)
    return InsideFigures(kib["MemTotal"], kib["MemAvailable"], load, cpus_seen, round(allowed, 2), busy,
                         cgroup_memory(lines.get("memory", ""), kib["MemTotal"]))


def cgroup_memory(line, mem_total):
    """(in use, limit) from ``<usage> <limit> <inactive_file>``, as ``docker stats`` computes them: usage less the
    inactive page cache; no limit (v2 ``max``, v1's huge number) is the machine's memory. None when unreadable."""
    parts = line.split()
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
        return None
    usage, limit, inactive = int(parts[0]), parts[1], int(parts[2])
    limit = min(int(limit), mem_total) if limit.isdigit() else mem_total
    return max(0, usage - inactive), limit
