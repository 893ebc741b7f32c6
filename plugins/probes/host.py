"""Host probe: ``free``, ``df``, the load average, the core count and a CPU sample, from one ``host.run``.

It goes through testinfra's ``host`` (local, or ``--hosts ssh://user@prod``), so it reads the production host's
figures when pointed there. CPU use is read twice from ``/proc/stat``, ``CPU_SAMPLE_S`` apart, in the same
command: the load average alone is not CPU use (it counts tasks waiting on disk too, and some virtual machines
show a load of 1 while idle).
"""

import re
import threading

from plugins.probes import ProbeError

CPU_SAMPLE_S = 0.25
PSEUDO_FILESYSTEMS = {
    "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue",
    "nsfs", "ramfs", "autofs", "efivarfs", "tracefs", "debugfs", "securityfs", "configfs", "bpf", "pstore",
    "hugetlbfs", "fusectl", "binfmt_misc", "rpc_pipefs", "fuse.lxcfs", "shm", "nfsd", "iso9660",
}
_SEPARATOR = "@@digitalme@@"
_COMMAND = "; ".join([
    "head -n 1 /proc/stat", f"echo {_SEPARATOR}",
    "cat /proc/meminfo", f"echo {_SEPARATOR}",
    "cat /proc/loadavg", f"echo {_SEPARATOR}",
    "nproc", f"echo {_SEPARATOR}",
    "df -P -T -k", f"echo {_SEPARATOR}",
    f"sleep {CPU_SAMPLE_S}", "head -n 1 /proc/stat",
])


def cpu_busy_and_total(stat_line):
    """(busy, total) jiffies from /proc/stat's ``cpu`` line; waiting on disk counts as not busy."""
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in stat_line.split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


class HostFacts:
    """The host's figures for Resource Monitoring, read in one command."""

    def __init__(self, host):
        result = run_on(host, _COMMAND)  # an unreachable host (ssh) is a probe failure, not a finding
        parts = result.stdout.split(_SEPARATOR + "\n")
        if result.rc == 255 and len(parts) != 6:  # ssh's own exit code: it never reached the host
            raise unreachable(host, result.stderr)
        if result.rc != 0 or len(parts) != 6:
            raise ProbeError(f"reading memory, load and disks on host {host.backend.get_pytest_id()} "
                             f"exited {result.rc}: {result.stderr.strip()[:200]}")
        stat_before, meminfo, loadavg, cores, df, stat_after = parts
        self.memory_kib = {line.split(":")[0]: int(line.split()[1]) for line in meminfo.splitlines() if ":" in line}
        self.load = [float(x) for x in loadavg.split()[:3]]
        self.cores = int(cores.strip())
        (busy_0, total_0), (busy_1, total_1) = cpu_busy_and_total(stat_before), cpu_busy_and_total(stat_after)
        self.cpu_busy_pct = round(100.0 * (busy_1 - busy_0) / (total_1 - total_0), 1) if total_1 > total_0 else 0.0
        self.df_text = df
        self.filesystems = []  # (mount point, type, used %, size in KiB), real filesystems only
        for line in df.splitlines()[1:]:
            _device, kind, size, used, available, _capacity, mount = line.split(None, 6)
            if kind in PSEUDO_FILESYSTEMS or int(size) == 0:
                continue
            percent = 100.0 * int(used) / (int(used) + int(available)) if int(used) + int(available) else 0.0
            self.filesystems.append((mount, kind, round(percent, 1), int(size)))

    @property
    def memory_used_pct(self):
        total, available = self.memory_kib["MemTotal"], self.memory_kib["MemAvailable"]
        return round(100.0 * (total - available) / total, 1)

    @property
    def load5_per_core_pct(self):
        """The 5-minute load average per core, as a percentage: demand sustained over 5 minutes."""
        return round(100.0 * self.load[1] / self.cores, 1)


_UNREACHABLE = {}  # testinfra Host -> the ProbeError of its first failed connection in this run
_UNREACHABLE_LOCK = threading.Lock()


def run_on(host, command):
    """``host.run(command)``, where a host that cannot be reached (testinfra's ssh backend raises on ssh's own exit
    255) is a ProbeError in ssh's words, not a dump of testinfra's CommandResult.

    A host that could not be reached is not tried again in this run: each host check would otherwise wait ssh's
    whole connect timeout for it, one after the other (a fleet's dead host would hold the live ones that long).
    """
    with _UNREACHABLE_LOCK:
        known = _UNREACHABLE.get(host)
    if known is not None:
        raise ProbeError(str(known))
    try:
        return host.run(command)
    except Exception as e:
        error = unreachable(host, e)
        if host.backend.NAME != "local":  # this machine is not "unreachable": a failed spawn is that command's
            with _UNREACHABLE_LOCK:
                _UNREACHABLE.setdefault(host, error)
        raise error from None


def unreachable(host, error):
    """Why the host could not be read, in ssh's own words where it gave them."""
    text = str(error)
    said = re.search(r"_stderr=b'(.*?)'\)?$", text, re.S)
    reason = (said.group(1) if said else text).replace("\\r", "").replace("\\n", " ").strip()
    return ProbeError(f"host {host.backend.get_pytest_id()} did not answer: {reason[:200]}")
