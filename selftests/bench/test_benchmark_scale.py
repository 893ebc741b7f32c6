"""The scale benchmark (``make benchmark``'s scale table, scripts/bench/scalebench.py, issue 27) measures one
deployment, N healthy ones on the sandbox and N dead ones side by side, says whether each goal is met, and leaves
nothing behind: its temporary folder is removed, and it creates nothing in Docker.
"""

import os
import re
import subprocess
import sys

import pytest

from sandbox import PROJECT, REPO
from test_safety import docker

BENCHMARK = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--scale-only", "--no-sandbox"]


def dead_targets_containers():
    """Containers named like the dead targets' (other sessions' containers come and go meanwhile)."""
    return [name for name in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
            if name.startswith("digitalme-benchmark-dead-")]


@pytest.mark.sandbox
def test_scale_benchmark_measures_1_n_healthy_and_n_dead_deployments(healthy_sandbox, tmp_path):
    """`benchmark.py --scale-only --scale 2`: a table row for 1 target, 2 healthy and 2 dead deployments, from
    clean runs (the dead ones all "not checked" behind their headline), the three goals each MET or NOT MET.

    Manual: none (issue 27, "Goals"): 32 healthy within 5x one, 32 dead within 1.2x 32 healthy, wall within 1.25x CPU.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}
    env.update({"SANDBOX_PROJECT": PROJECT, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"})
    done = subprocess.run([*BENCHMARK, "--scale", "2", "--runs", "1"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, f"the scale benchmark exited {done.returncode}:\n{out[-3000:]}\n{done.stderr[-2000:]}"
    rows = {m.group(1): m.groups()[1:] for m in
            re.finditer(r"^(1 target|2 healthy|2 dead) +(\d+)ms .* (\d+) +(\d+)$", out, re.MULTILINE)}
    assert sorted(rows) == ["1 target", "2 dead", "2 healthy"], f"expected a row of each kind:\n{out[-3000:]}"
    assert int(rows["2 dead"][2]) > 0 and int(rows["2 healthy"][2]) == 0, \
        f"the dead deployments' checks are not checked, the healthy ones' are:\n{out[-3000:]}"
    goals = re.findall(r"^  (MET    |NOT MET)  (.*): (\d+\.\d+)x", out, re.MULTILINE)
    assert [text for _, text, _ in goals] == [
        "2 healthy deployments within 5x the wall time of one", "2 dead deployments within 1.2x the wall time of 2 "
        "healthy", "a daily run's wall time within 1.25x its CPU time (1 target)"], f"goal lines:\n{out[-3000:]}"
    assert "did not come out clean" not in out, f"a run went wrong (wrong targets?):\n{out[-3000:]}"
    assert not list(tmp_path.iterdir()), f"the benchmark left {list(tmp_path.iterdir())} in its temporary folder"
    assert not dead_targets_containers(), f"the dead targets have containers: {dead_targets_containers()}"
