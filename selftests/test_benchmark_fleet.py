"""The fleet benchmark (``make benchmark``'s fleet table, scripts/bench/fleetbench.py) starts its sandbox targets
from a known state, measures, and removes them afterwards, also when interrupted; it never touches a project
that is not the sandbox's.

Its stacks are named after this module's own SANDBOX_PROJECT (``dmfleetbench<pid>-fleet-<i>``), so a developer's
demo or fleet benchmark on the machine is left alone; the tests remove only what carries those names.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from sandbox import REPO, SANDBOX_LABEL
from test_safety import docker, project_resources

SANDBOX_PROJECT = f"dmfleetbench{os.getpid()}"
PROJECTS = [f"{SANDBOX_PROJECT}-fleet-{i}" for i in (1, 2)]
BENCHMARK = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--fleet-only"]


def benchmark_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_") and k != "SANDBOX_PROJECT"}
    return {**env, "SANDBOX_PROJECT": SANDBOX_PROJECT}


def left_behind():
    return [f"{kind} {name}" for project in PROJECTS for kind, name, _ in project_resources(project)]


@pytest.fixture
def no_fleet_stacks():
    """No resource of this module's fleet projects before the test; after it, whatever a failed test left is
    removed (label-checked by sandbox.sh)."""
    if docker("info", check=False).returncode != 0:
        pytest.skip("no Docker daemon answers")
    assert not left_behind(), f"resources of {PROJECTS} exist before the test: {left_behind()}"
    yield
    for project in PROJECTS:
        subprocess.run([str(REPO / "scripts" / "sandbox.sh"), "down"], cwd=REPO, capture_output=True, timeout=300,
                       env={**os.environ, "SANDBOX_PROJECT": project})
    with contextlib.suppress(FileNotFoundError):  # the benchmark's lock file, named after this module's project
        os.unlink(os.path.join(tempfile.gettempdir(), f"digitalme-benchmark-{SANDBOX_PROJECT}-fleet-lock"))


def test_fleet_benchmark_measures_and_removes_its_stacks(no_fleet_stacks):
    """`benchmark.py --fleet 2` prints the fleet table from clean runs against 2 stacks and removes both afterwards.

    Manual: none (issue 13, "Scale, measured"): 1..16 sandbox targets, serial and -n auto, ratio to 1 target.
    """
    done = subprocess.run([*BENCHMARK, "--fleet", "2", "--runs", "1"], cwd=REPO, env=benchmark_env(),
                          capture_output=True, text=True, timeout=900)
    out = done.stdout
    assert done.returncode == 0, f"the fleet benchmark exited {done.returncode}, expected 0:\n{out[-3000:]}\n" \
                                 f"{done.stderr[-2000:]}"
    for i, project in enumerate(PROJECTS, 1):
        assert f"sandbox target {i}/2 up ({project}," in out, f"stack {project} was not started:\n{out[-3000:]}"
    rows = [words for words in map(str.split, out.splitlines())  # "targets checks serial ms x1 -n-auto ms ..."
            if len(words) > 3 and words[0].isdigit() and words[1].isdigit() and words[3] == "ms"]
    assert [row[0] for row in rows] == ["1", "2"], f"expected a table row for 1 and 2 targets:\n{out[-3000:]}"
    assert "goals (issue 13" in out, f"no goal lines:\n{out[-3000:]}"
    assert "where the time goes" in out, f"no breakdown of the wall time:\n{out[-3000:]}"
    assert "did not come out clean" not in out, f"fleet runs failed (wrong targets?):\n{out[-3000:]}"
    assert "removed the 2 sandbox targets this benchmark started" in out, f"no removal reported:\n{out[-3000:]}"
    assert not left_behind(), f"the fleet benchmark left resources behind: {left_behind()}"


def test_fleet_benchmark_interrupted_removes_its_stacks(no_fleet_stacks):
    """Ctrl-C while the stacks start: the one up carried the sandbox label, and both are removed on the way out.

    Manual: none (issue 13): the benchmark cleans up after itself, also on Ctrl-C or failure.
    """
    process = subprocess.Popen([*BENCHMARK, "--fleet", "2", "--runs", "1"], cwd=REPO, env=benchmark_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 300
        for line in process.stdout:  # until the first stack is up (the second one is then starting)
            seen.append(line)
            if "sandbox target 1/2 up" in line or time.monotonic() > deadline:
                break
        resources = project_resources(PROJECTS[0])
        unlabelled = [f"{kind} {name}" for kind, name, labels in resources
                      if '"{}":"{}"'.format(*SANDBOX_LABEL.split("=")) not in labels]
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out = "".join(seen) + rest
    assert "sandbox target 1/2 up" in out, f"the first stack never came up:\n{out[-3000:]}"
    assert resources and not unlabelled, \
        f"stack {PROJECTS[0]}: resources {[r[1] for r in resources]}, without {SANDBOX_LABEL}: {unlabelled}"
    assert process.returncode != 0 and "interrupted" in out, \
        f"exit {process.returncode} after Ctrl-C, expected non-zero and 'interrupted':\n{out[-3000:]}"
    assert not left_behind(), f"after Ctrl-C the fleet benchmark left resources behind: {left_behind()}"


def test_fleet_benchmark_refuses_a_project_without_the_sandbox_label(no_fleet_stacks):
    """A volume of a fleet stack's project without the sandbox label: the benchmark stops and the volume survives.

    Manual: none (issue 10, point 1): nothing that is not the sandbox's is ever stopped or removed.
    """
    foreign = f"{PROJECTS[0]}_digitalme-data"
    docker("volume", "create", foreign)  # this test's own, unlabelled: it stands for someone else's
    try:
        done = subprocess.run([*BENCHMARK, "--fleet", "2", "--runs", "1"], cwd=REPO, env=benchmark_env(),
                              capture_output=True, text=True, timeout=300)
        survived = docker("volume", "inspect", foreign, check=False).returncode == 0
    finally:
        docker("volume", "rm", foreign, check=False)
    kept = re.search(r"its logs are in (\S*digitalme-benchmark-fleet-\S+)", done.stderr)
    if kept:
        shutil.rmtree(kept.group(1), ignore_errors=True)  # the refused run's scratch folder (its stacks.log)
    assert done.returncode != 0 and "refused or failed" in done.stderr, \
        f"exit {done.returncode}, expected a refusal:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert survived, f"the benchmark removed the unlabelled volume {foreign}"
    assert not left_behind(), f"the refused benchmark left resources behind: {left_behind()}"
