"""The host's figures for Resource Monitoring, read in one command through testinfra's ``host``.

``host`` is testinfra's fixture, so ``--hosts ssh://user@prod`` runs these checks on the production host.
"""

import pytest

PSEUDO_FILESYSTEMS = {
    "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue",
    "nsfs", "ramfs", "autofs", "efivarfs", "tracefs", "debugfs", "securityfs", "configfs", "bpf", "pstore",
    "hugetlbfs", "fusectl", "binfmt_misc", "rpc_pipefs", "fuse.lxcfs", "shm", "nfsd", "iso9660",
}
_SEPARATOR = "@@digitalme@@"


class HostFacts:
    """``free``, ``df``, the load average and the core count, from one ``host.run``."""

    def __init__(self, host):
        result = host.run(f"cat /proc/meminfo; echo {_SEPARATOR}; cat /proc/loadavg; echo {_SEPARATOR}; "
                          f"nproc; echo {_SEPARATOR}; df -P -T -k")
        meminfo, loadavg, cores, df = result.stdout.split(_SEPARATOR + "\n")
        self.memory_kib = {line.split(":")[0]: int(line.split()[1]) for line in meminfo.splitlines() if ":" in line}
        self.load = [float(x) for x in loadavg.split()[:3]]
        self.cores = int(cores.strip())
        self.df_text = df
        self.filesystems = []  # (mount point, type, used %, size in KiB), real filesystems only
        for line in df.splitlines()[1:]:
            device, kind, size, used, available, _capacity, mount = line.split(None, 6)
            if kind in PSEUDO_FILESYSTEMS or int(size) == 0:
                continue
            percent = 100.0 * int(used) / (int(used) + int(available)) if int(used) + int(available) else 0.0
            self.filesystems.append((mount, kind, round(percent, 1), int(size)))

    @property
    def memory_used_pct(self):
        total, available = self.memory_kib["MemTotal"], self.memory_kib["MemAvailable"]
        return round(100.0 * (total - available) / total, 1)

    @property
    def cpu_sustained_pct(self):
        """The 5-minute load average per core, as a percentage: CPU demand sustained over 5 minutes."""
        return round(100.0 * self.load[1] / self.cores, 1)


@pytest.fixture(scope="module")
def host_facts(host):
    return HostFacts(host)
