"""Resource Monitoring (every 4 hours): ``free -h``, ``df -h``, ``top -bn1 | grep Cpu``, ``netstat -tlnp``.

Alert thresholds: memory >85 %, disk >80 % on any partition, CPU >90 % for more than 5 minutes;
ports 80 and 443 served. The figures come from one command per host (plugins/probes/host.py); whether the
ports answer, from the endpoints' own answers (plugins/probes/http.py).
"""

import pytest


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Memory Usage", "Warning Alerts: Memory usage >85%")
def test_host_memory_below_threshold(host_facts, settings, check):
    """Host memory in use is below {memory_max_pct} %.

    The manual's `free -h`.
    """
    used = host_facts.memory_used_pct
    check.record(used, settings.memory_max_pct, unit="pct", trend="host-memory", trend_title="Host memory")
    assert used < settings.memory_max_pct, (
        f"memory at {used:.1f} % ({host_facts.memory_kib['MemAvailable'] // 1024} MiB available of "
        f"{host_facts.memory_kib['MemTotal'] // 1024} MiB) (required: below {settings.memory_max_pct:g} %)")


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage", "Warning Alerts: Disk usage >80%")
def test_filesystems_below_disk_threshold(host_facts, settings, check):
    """Every real filesystem is below {disk_max_pct} % (pseudo filesystems ignored).

    The manual's `df -h`, on any partition.
    """
    usage = {mount: percent for mount, _kind, percent, _size in host_facts.filesystems}
    check.record(usage, settings.disk_max_pct, unit="pct",
                 trend="disk-use", trend_title="Disk use (fullest filesystem)", trend_of=max)
    check.attach("df -P -T -k", host_facts.df_text)
    assert usage, "df listed no real filesystem (required: at least one, each below the threshold)"
    full = [f"{mount} at {percent:.0f} %" for mount, percent in usage.items() if percent >= settings.disk_max_pct]
    assert not full, f"disk {', '.join(full)} (required: below {settings.disk_max_pct:g} %)"


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: CPU Usage", "Warning Alerts: CPU usage >90% (sustained)")
def test_cpu_below_threshold_sustained(host_facts, settings, check):
    """CPU use is not at {cpu_max_pct} % or above sustained (5-minute load per core and CPU busy now, both).

    The manual's `top -bn1 | grep "Cpu"`.
    "Busy now" is measured since the previous run when it kept its counters 1 s to 6 min ago (a 5-minute schedule:
    exactly the last 5 minutes), else over a 0.25 s sample; the evidence "CPU use measured" says which.
    """
    load, busy = host_facts.load5_per_core_pct, host_facts.cpu_busy_pct
    check.record({"load5_per_core_pct": load, "busy_pct_now": busy}, settings.cpu_max_pct, unit="pct")
    check.attach("CPU use measured", host_facts.cpu_measured)
    # The load average says demand has been high for about 5 minutes, the CPU use that it still is, and that it
    # is CPU: the load also counts tasks waiting on disk, and a burst that ended minutes ago still lifts it.
    over = "now" if host_facts.cpu_measured.startswith("sampled") else host_facts.cpu_measured.split(";")[0]
    assert not (load >= settings.cpu_max_pct and busy >= settings.cpu_max_pct), (
        f"CPU at {busy:.0f} % busy {over} and {load:.0f} % 5-minute load per core (load {host_facts.load[1]:.2f} on "
        f"{host_facts.cores} cores) (required: not both at {settings.cpu_max_pct:g} % or above)")


@pytest.mark.critical
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Network connectivity")
def test_ports_answer(endpoints, check):
    """The ports of the configured URLs (80 and 443 by default) answer connections.

    The manual's `netstat -tlnp | grep :80` and `grep :443`. A port is served when a connection
    to it is answered, whatever listens: with Docker's `userland-proxy: false` no process listens on the host
    and NAT serves the port, so the listening table would call a working port closed.
    """
    ports = endpoints.ports()
    check.record({port: how for port, (_served, how) in ports.items()}, "every port answers")
    silent = {port: how for port, (served, how) in ports.items() if not served}
    assert not silent, (f"nothing answers on TCP port {', '.join(p.rsplit(':', 1)[1] for p in silent)} "
                        f"(of {', '.join(ports)}): " + "; ".join(f"{p} {how}" for p, how in silent.items())
                        + " (required: every port answers)")
