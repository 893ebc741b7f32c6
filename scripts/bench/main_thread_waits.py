"""A pytest plugin for scripts/bench/profile_fleet.py: how long the run's main thread waited, whatever the machine's
load. Loaded with ``-p main_thread_waits`` (scripts/bench on PYTHONPATH); writes ``BENCH_WAITS_FILE`` at the end.

The kernel counts, per thread (``/proc/self/task/<tid>/schedstat``), the time it ran on a CPU and the time it was
ready to run but waited for one (other work on the machine). The rest of its life it was blocked: on Docker, the
network, a subprocess, a probe's thread, the disk. That blocked time is the run's idle waiting; a busy machine
lengthens the wall time and the wait for a CPU, not it.
"""

import json
import os
import time

import pytest


def _lifetime_s():
    """Seconds since this process started (its start time in clock ticks after boot, against CLOCK_BOOTTIME)."""
    with open("/proc/self/stat", encoding="utf-8") as f:
        started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    path = os.environ.get("BENCH_WAITS_FILE")
    if not path or hasattr(config, "workerinput"):
        return
    with open(f"/proc/self/task/{os.getpid()}/schedstat", encoding="utf-8") as f:
        on_cpu_ns, queued_ns = (int(v) for v in f.read().split()[:2])
    wall = _lifetime_s()
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"wall_s": wall, "on_cpu_s": on_cpu_ns / 1e9, "waited_for_cpu_s": queued_ns / 1e9,
                   "blocked_s": wall - (on_cpu_ns + queued_ns) / 1e9}, f)
