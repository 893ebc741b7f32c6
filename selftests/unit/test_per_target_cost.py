"""What issue 27 changed to halve a deployment's cost, held to giving what the longer way gave: a check's outcome as
plain values (plugins/outcomes/run.py), one exec for the container's files and inside figures
(plugins/probes/container_exec.py), log windows fetched ahead (plugins/probes/log_windows.py), probe threads
that wait for the next probe (plugins/probes/background.py)."""

import dataclasses
import json
import threading
import time

import pytest

from plugins.outcomes.run import CheckOutcome
from plugins.probes import ProbeError, background, log_windows
from plugins.probes.container_exec import read_both
from plugins.probes.container_files import list_files
from plugins.secrets import scrubbed

SECRETS = ["s3cr3t-token", "hunter22"]


def the_long_way(outcome, secrets):
    """What CheckOutcome.to_dict gave before: a deep copy, scrubbed, through JSON and back."""
    return json.loads(json.dumps(scrubbed(dataclasses.asdict(outcome), secrets), default=str))


@dataclasses.dataclass
class Figures:
    load: float


@pytest.mark.parametrize("value", [
    {"/": 41.2, "/data": 63, "note": "token s3cr3t-token seen"},
    {80: ("answered", "open"), 443: ["refused", None]},  # integer keys and tuples: JSON makes "80" and lists
    [1.5, True, None, {"hunter22": "key of a secret"}],
    ("a", ("nested", 2)),
    {1.5: "a float key"},  # not JSON's: the long way
    Figures(0.5),  # an object: the long way (asdict makes it a dict)
    {"when": object()},  # str() of it, the long way
    float("nan"),
])
def test_an_outcome_as_plain_values_is_what_the_json_round_trip_gave(value):
    outcome = CheckOutcome(id="t::x[prod]", title="hunter22 title", manual="m", severity="critical",
                           declared_severity="critical", schedules=["daily"], outcome="failed",
                           message="found s3cr3t-token (required: none)", duration_s=0.01, value=value,
                           threshold=(1, 2), evidence={"log": "hunter22 in a line"}, target="prod")
    for secrets in (SECRETS, []):
        fast, slow = outcome.to_dict(secrets), the_long_way(outcome, secrets)
        assert repr(fast) == repr(slow)  # types too (a list, not a tuple); NaN is not equal to itself
        assert "s3cr3t-token" not in json.dumps(fast) or not secrets


class FakeDocker:
    """DockerProbe.exec's contract: (exit code, stdout, stderr), or a ProbeError naming ``what``."""

    def __init__(self, *answers):
        self.answers, self.commands = list(answers), []

    def exec(self, container, command, what):
        self.commands.append(command)
        answer = self.answers.pop(0)
        if isinstance(answer, str):
            raise ProbeError(answer.format(what=what))
        return answer


FILES_OUT = "#start\n/app/data/digitalme.db|4096|1796690945|644|digitalme|regular file\n#find|1\n"
FILES_ERR = "find: '/app/backups': Permission denied\n"
INSIDE_OUT = "#start\nMemTotal: 1000 kB\nloadavg 0.1 0.2 0.3 1/100 7\nnproc 2\n"


def test_one_exec_gives_each_reader_what_its_own_exec_answered():
    docker = FakeDocker((0, FILES_OUT + "#inside\n" + INSIDE_OUT, FILES_ERR + "#inside\nsh: nproc: odd\n"))
    files, inside = read_both(docker, "app", "/app/data/digitalme.db", "/app/backups/")
    assert len(docker.commands) == 1, "one exec for both"
    assert (files.code, files.out, files.err) == (0, FILES_OUT, FILES_ERR)
    assert (inside.code, inside.out, inside.err) == (0, INSIDE_OUT, "sh: nproc: odd\n")
    listed = list_files(None, "app", "/app/data/digitalme.db", "/app/backups/", files)
    assert list(listed.files) == ["/app/data/digitalme.db"]
    assert listed.unreadable == {"/app/backups": "find: '/app/backups': Permission denied"}


def test_a_failed_exec_is_each_readers_failure_in_its_own_words():
    docker = FakeDocker("{what}: not found")
    files, inside = read_both(docker, "app", "/db", "/backups")
    with pytest.raises(ProbeError, match=r"^listing files in container app: not found$"):
        list_files(None, "app", "/db", "/backups", files)
    with pytest.raises(ProbeError, match=r"^reading /proc/meminfo in app: not found$"):
        inside.said("reading /proc/meminfo in app")


def test_a_lost_start_is_asked_once_more_then_stands_as_the_readers_failure():
    docker = FakeDocker((0, "lost\n", ""), (0, "lost again\n", ""))
    files, _ = read_both(docker, "app", "/db", "/backups")
    assert len(docker.commands) == 2
    with pytest.raises(ProbeError, match=r"^listing files in container app: the exec exited 0: lost again$"):
        list_files(None, "app", "/db", "/backups", files)


class Config:
    def __init__(self):
        self.stash = pytest.Stash()


class Target:
    name = "prod"


def test_a_log_window_fetched_ahead_is_the_checks_and_a_failed_one_is_asked_again(monkeypatch):
    config, target, calls = Config(), Target(), []

    def fetch(config, target, window):
        calls.append(window)
        if len(calls) == 2:
            raise ProbeError("reading logs of app: the Docker daemon did not answer")
        return [f"line of {window}"]
    monkeypatch.setattr(log_windows, "_fetch", fetch)
    assert log_windows.read(config, target, tail=100) == ["line of (None, 100)"]  # asked: now known
    log_windows.start(config, target)  # nothing new to fetch: the window is there
    assert calls == [(None, 100)]
    other = type("Target", (), {"name": "staging"})()
    log_windows.start(config, other)  # the next target's window, ahead: it fails
    with pytest.raises(ProbeError, match="did not answer"):
        log_windows.read(config, other, tail=100)
    assert log_windows.read(config, other, tail=100) == ["line of (None, 100)"]  # asked again, as before
    assert calls == [(None, 100)] * 3


def test_every_probe_gets_a_thread_of_its_own_and_its_name_while_it_runs():
    release, names = threading.Event(), []

    def waits():
        names.append(threading.current_thread().name)
        release.wait(10)
        return "done"
    jobs = [background.Background(f"probe-{n}", waits) for n in range(12)]  # none may wait for another
    deadline = time.monotonic() + 10
    while len(names) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    assert [job.result() for job in jobs] == ["done"] * 12
    assert sorted(names) == sorted(f"probe probe-{n}" for n in range(12))
    failing = background.Background("broken", lambda: 1 / 0)  # an idle thread takes it
    with pytest.raises(ZeroDivisionError):
        failing.result()


def test_a_schedules_log_windows_are_kept_beside_its_probe_names(tmp_path, monkeypatch):
    from plugins.probes import prefetch
    kept = tmp_path / "probes-daily.json"
    monkeypatch.setattr(prefetch, "remembered_path", lambda config: str(kept))
    prefetch.remember(Config(), names={"endpoints", "tls"})
    assert json.loads(kept.read_text()) == {"probes": ["endpoints", "tls"], "log_windows": []}
    prefetch.remember(Config(), windows=[[None, 100], [24, None]])  # at the end of the run: the names stay
    assert json.loads(kept.read_text()) == {"probes": ["endpoints", "tls"], "log_windows": [[None, 100], [24, None]]}
    config = Config()
    assert prefetch.remembered(config) == {"endpoints", "tls"}
    assert prefetch.remembered_windows(config) == [(None, 100), (24, None)]
    kept.write_text(json.dumps({"probes": ["endpoints"], "log_windows": [["a", 1], [1], 5, [0.5, None]]}))
    assert prefetch.remembered_windows(Config()) == [(0.5, None)]  # what is no window is left out
    kept.write_text(json.dumps({"probes": ["endpoints"]}))  # kept by a run before issue 27: no windows yet
    assert prefetch.remembered(Config()) == {"endpoints"} and prefetch.remembered_windows(Config()) == []
