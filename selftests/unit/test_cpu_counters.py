"""CPU use without idle waiting, on this machine's own counters in-process (plugins/probes/host.py): a second run
measures since the first's counters instead of a 0.25 s sample, unusable counters fall back to sampling, and each
target of a fleet keeps its own. The checks on the sandbox: sandbox/test_cpu_counters_on_the_sandbox.py.

Manual: Resource Monitoring, "CPU usage >90% (sustained)"; Performance Monitoring, `cat /proc/loadavg`."""

import json
import time

import pytest


class RecordingHost:
    """testinfra's local host, keeping every command it ran: whether a read waited shows in its commands."""

    def __init__(self):
        import testinfra
        self._host = testinfra.get_host("local://")
        self.backend = self._host.backend
        self.commands = []

    def run(self, command):
        self.commands.append(command)
        return self._host.run(command)


def host_facts(report_dir, target=None):
    """(HostFacts of this machine with counters kept in ``report_dir``, the commands it ran)."""
    from plugins.probes.host import HostFacts, KeptCounters
    host = RecordingHost()
    facts = HostFacts(host, KeptCounters(str(report_dir), "host", "local", target))
    return facts, host.commands


def test_second_run_measures_since_the_first_without_waiting(tmp_path):
    """The first read samples (sleep 0.25 s in its command); a read 1 s later uses its counters and sleeps not."""
    first, commands = host_facts(tmp_path)
    assert first.cpu_measured == "sampled 0.25 s (no recent counters from a previous run)", first.cpu_measured
    assert any("sleep 0.25" in c for c in commands), commands
    time.sleep(1.2)
    second, commands = host_facts(tmp_path)
    assert second.cpu_measured in ("since the previous run 1 s ago", "since the previous run 2 s ago"), \
        second.cpu_measured
    assert not any("sleep" in c for c in commands), f"the second read waited: {commands}"
    assert 0 <= second.cpu_busy_pct <= 100, second.cpu_busy_pct


@pytest.mark.parametrize("change, why", [
    (lambda kept: {**kept, "uptime": kept["uptime"] - 7200}, "the previous counters are 2 h 0 min old"),
    (lambda kept: {**kept, "counter": [kept["counter"][0] * 10, kept["counter"][1] * 10]},
     "the counters went backwards since the previous run"),
    (lambda kept: {**kept, "identity": "another-boot"}, "the previous counters are of another boot or host"),
    (lambda kept: {**kept, "saved_at": kept["saved_at"] - 3600}, "no recent counters from a previous run"),
    (lambda kept: "not counters", "no recent counters from a previous run"),
])
def test_unusable_counters_fall_back_to_sampling(tmp_path, change, why):
    """Counters too old (by the host's uptime or this machine's clock), gone backwards (a reboot) or of another
    boot or host are not used: the read samples 0.25 s and says why."""
    host_facts(tmp_path)
    path = tmp_path / "state" / "cpu-host-local.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    time.sleep(1.2)
    facts, commands = host_facts(tmp_path)
    assert facts.cpu_measured == f"sampled 0.25 s ({why})", facts.cpu_measured
    assert any("sleep 0.25" in c for c in commands), commands
    assert 0 <= facts.cpu_busy_pct <= 100, facts.cpu_busy_pct


def test_fleet_targets_keep_separate_counters(tmp_path):
    """Each target keeps its own file: one target's run is not another's previous run."""
    host_facts(tmp_path, "prod")
    time.sleep(1.2)
    staging, _ = host_facts(tmp_path, "staging")
    prod, _ = host_facts(tmp_path, "prod")
    assert staging.cpu_measured.startswith("sampled 0.25 s"), staging.cpu_measured
    assert prod.cpu_measured.startswith("since the previous run"), prod.cpu_measured
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["cpu-host-local-prod.json",
                                                                       "cpu-host-local-staging.json"]

