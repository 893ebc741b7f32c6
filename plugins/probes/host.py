"""Host probe: ``free``, ``df``, the load average, the core count and the CPU use, from one ``host.run``.

It goes through testinfra's ``host`` (local, or ``--hosts ssh://user@prod``), so it reads the production host's
figures when pointed there. CPU use comes from ``/proc/stat``'s counters: the load average alone is not CPU use
(it counts tasks waiting on disk too, and some virtual machines show a load of 1 while idle).

CPU use is measured since the previous run when that run left its counters (``<report dir>/state/``, per host and
per target, :class:`KeptCounters`) between ``KEEP_MIN_S`` and ``KEEP_MAX_S`` ago on the same boot of the same
host: a 5-minute schedule then measures exactly the last 5 minutes, the manual's "sustained", and no run waits.
Otherwise (first run, counters too old, rebooted or another host, counters gone backwards, state unreadable) the
command samples for ``CPU_SAMPLE_S``, reading ``/proc/stat`` twice.
"""

import json
import re
import threading
import time

from plugins.files import state_path, write_atomically
from plugins.probes import ProbeError

CPU_SAMPLE_S = 0.25
# Counters kept from the previous run are used when they are this old (the host's own uptime decides). Below
# 1 s the window is hardly longer than the sample; above 6 min (a 5-minute schedule and a minute of slack) it
# would dilute a 5-minute burst (at 15 min, 5 minutes at 100 % read as 33 %) that a sample still sees whole.
KEEP_MIN_S = 1.0
KEEP_MAX_S = 360.0
PSEUDO_FILESYSTEMS = {
    "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue",
    "nsfs", "ramfs", "autofs", "efivarfs", "tracefs", "debugfs", "securityfs", "configfs", "bpf", "pstore",
    "hugetlbfs", "fusectl", "binfmt_misc", "rpc_pipefs", "fuse.lxcfs", "shm", "nfsd", "iso9660",
}
_SEPARATOR = "@@digitalme@@"
_STAT = "echo \"$(cat /proc/sys/kernel/random/boot_id) $(cut -d' ' -f1 /proc/uptime)\"; head -n 1 /proc/stat"
_COMMAND = "; ".join([
    _STAT, f"echo {_SEPARATOR}",
    "cat /proc/meminfo", f"echo {_SEPARATOR}",
    "cat /proc/loadavg", f"echo {_SEPARATOR}",
    "nproc", f"echo {_SEPARATOR}",
    "df -P -T -k", f"echo {_SEPARATOR}",
])
_SAMPLE = f"sleep {CPU_SAMPLE_S}; {_STAT}"


def cpu_busy_and_total(stat_line):
    """(busy, total) jiffies from /proc/stat's ``cpu`` line; waiting on disk counts as not busy."""
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in stat_line.split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def duration(seconds):
    """``4 min 58 s``, ``12 s``, ``1 h 3 min``: an interval as an operator reads it."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class KeptCounters:
    """A run's CPU counters kept for the next run: ``<report dir>/state/cpu-<kind>-<what>[-<target>].json``.

    ``kind`` is ``host`` or ``container``; ``what`` the host's pytest id or the container's name; a fleet's
    targets each keep their own. The file holds counters and times only. A state that cannot be read is no
    previous run (the next run samples); one that cannot be written is said in :attr:`problem`, never raised.
    """

    def __init__(self, report_dir, kind, what, target=None):
        self.path = state_path(report_dir, f"cpu-{kind}-{what}", target)
        self.problem = ""

    def previous(self):
        """The counters the previous run kept (a dict), if they are recent by this machine's clock; else None."""
        try:
            with open(self.path, encoding="utf-8") as f:
                kept = json.load(f)
            age = time.time() - float(kept["saved_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # A first filter only (the checked host's own uptime decides in cpu_since): a few seconds of slack for
        # clocks, and no command with a sleep is spared for counters that cannot be used anyway.
        return kept if isinstance(kept, dict) and KEEP_MIN_S <= age <= KEEP_MAX_S + 5 else None

    def keep(self, counters):
        try:
            write_atomically(self.path, json.dumps({**counters, "saved_at": time.time()}))
        except OSError as e:
            self.problem = f"counters not kept ({self.path}: {e.strerror or e})"


def cpu_since(previous, identity, uptime, counter):
    """(busy share of the counter's interval, description) from counters of the same ``identity`` (boot, host or
    container) ``KEEP_MIN_S`` to ``KEEP_MAX_S`` apart on the host's uptime, or (None, why not) to sample instead.

    ``counter`` is ``(busy, total)``; the share is busy / total (jiffies), or for a container busy / elapsed."""
    if previous is None:
        return None, "no recent counters from a previous run"
    try:
        same = previous["identity"] == identity
        elapsed = uptime - float(previous["uptime"])
        busy_0, total_0 = previous["counter"]
    except (KeyError, TypeError, ValueError):
        return None, "the previous run's counters are unreadable"
    if not same:
        return None, "the previous counters are of another boot or host"
    if not KEEP_MIN_S <= elapsed <= KEEP_MAX_S:
        return None, f"the previous counters are {duration(elapsed)} old"
    busy, total = counter
    if busy < busy_0 or total <= total_0:
        return None, "the counters went backwards since the previous run"
    return (busy - busy_0) / (total - total_0), f"since the previous run {duration(elapsed)} ago"


class HostFacts:
    """The host's figures for Resource Monitoring, read in one command (two when its CPU must be sampled)."""

    def __init__(self, host, kept=None):
        """``kept``: the host's :class:`KeptCounters` (None: no state; CPU use is sampled)."""
        previous = kept.previous() if kept is not None else None
        result = run_on(host, _COMMAND if previous else _COMMAND + "; " + _SAMPLE)
        parts = result.stdout.split(_SEPARATOR + "\n")
        if result.rc == 255 and len(parts) != 6:  # ssh's own exit code: it never reached the host
            raise unreachable(host, result.stderr)
        if result.rc != 0 or len(parts) != 6:
            raise ProbeError(f"reading memory, load and disks on host {host.backend.get_pytest_id()} "
                             f"exited {result.rc}: {result.stderr.strip()[:200]}")
        stat_before, meminfo, loadavg, cores, df = parts[:5]
        self.memory_kib = {line.split(":")[0]: int(line.split()[1]) for line in meminfo.splitlines() if ":" in line}
        self.load = [float(x) for x in loadavg.split()[:3]]
        self.cores = int(cores.strip())
        identity, uptime, counter = _counters(stat_before)
        share, self.cpu_measured = cpu_since(previous, identity, uptime, counter)
        if share is None:  # sample: the second reading is in the same command, or (rarely) one more command
            why = self.cpu_measured
            after = parts[5] if not previous else self._sample(host)
            _identity, _uptime, counter_after = _counters(after)
            (busy_0, total_0), (busy_1, total_1) = counter, counter_after
            share = (busy_1 - busy_0) / (total_1 - total_0) if total_1 > total_0 else 0.0
            self.cpu_measured = f"sampled {CPU_SAMPLE_S:g} s ({why})"
            identity, uptime, counter = _counters(after)
        self.cpu_busy_pct = round(100.0 * share, 1)
        if kept is not None:
            kept.keep({"identity": identity, "uptime": uptime, "counter": list(counter)})
            if kept.problem:
                self.cpu_measured += f"; {kept.problem}"
        self.df_text = df
        self.filesystems = real_filesystems(df)

    @staticmethod
    def _sample(host):
        result = run_on(host, _SAMPLE)
        if result.rc != 0:
            raise ProbeError(f"sampling CPU use on host {host.backend.get_pytest_id()} exited {result.rc}: "
                             f"{result.stderr.strip()[:200]}")
        return result.stdout  # read against this run's first reading: a window of the sample and a little more

    @property
    def memory_used_pct(self):
        total, available = self.memory_kib["MemTotal"], self.memory_kib["MemAvailable"]
        return round(100.0 * (total - available) / total, 1)

    @property
    def load5_per_core_pct(self):
        """The 5-minute load average per core, as a percentage: demand sustained over 5 minutes."""
        return round(100.0 * self.load[1] / self.cores, 1)


def real_filesystems(df):
    """[(mount point, type, used %, size in KiB)] of ``df -P -T -k``'s real filesystems, each device once: its bind
    mounts (a starting container's, under /var/lib/docker) repeat the first mount's figures under another name."""
    filesystems, devices = [], set()
    for line in df.splitlines()[1:]:
        device, kind, size, used, available, _capacity, mount = line.split(None, 6)
        if kind in PSEUDO_FILESYSTEMS or int(size) == 0 or device in devices:
            continue
        devices.add(device)
        percent = 100.0 * int(used) / (int(used) + int(available)) if int(used) + int(available) else 0.0
        filesystems.append((mount, kind, round(percent, 1), int(size)))
    return filesystems


def _counters(text):
    """(identity, uptime s, (busy, total)) from ``<boot id> <uptime>`` and a ``cpu`` line (the last two lines)."""
    boot_and_uptime, stat_line = text.strip().splitlines()[-2:]
    boot_id, uptime = boot_and_uptime.split()
    return boot_id, float(uptime), cpu_busy_and_total(stat_line)
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
    """Why the host could not be read, in ssh's own words where it gave them, and what ssh made of its name."""
    text = str(error)
    said = re.search(r"_stderr=b'(.*?)'\)?$", text, re.S)
    reason = (said.group(1) if said else text).replace("\\r", "").replace("\\n", " ").strip()
    return ProbeError(f"host {host.backend.get_pytest_id()} did not answer: {reason[:200]}{_resolved(host)}")


def _resolved(host):
    """`` (prod resolves to ops@10.0.0.5:2222 via bastion)`` for a host testinfra reaches with the system ssh
    (the name may be an alias of the ssh config); "" for other backends."""
    backend = host.backend
    if backend.NAME not in ("ssh", "safe-ssh"):
        return ""
    from plugins.probes.ssh import SshDestination
    spec = backend.host
    destination = SshDestination(spec.name, spec.user, spec.port, backend.ssh_config, backend.ssh_identity_file)
    return f" ({destination.described()})"
