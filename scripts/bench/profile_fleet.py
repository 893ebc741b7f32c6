#!/usr/bin/env python3
"""Issue 27's per-deployment cost and idle waiting, measured: ``pytest -m daily`` against N targets that all point
at one healthy sandbox (so the target's side does not grow with N), and back-to-back daily runs of one target.

    .venv/bin/python scripts/bench/profile_fleet.py [--counts 1,32,100] [--runs 5] [--daily-runs 9]
                                                     [--profile 32] [--project NAME]

- The sandbox is compose project ``--project`` (default ``$SANDBOX_PROJECT``, else ``digitalme-sandbox``): a running
  one is used as it is (``scripts/sandbox.sh env``); ``--up`` starts it first and ``--down`` removes it at the end,
  both through ``scripts/sandbox.sh`` (label-checked: a project with anything unlabelled is refused, untouched).
- Each count's runs alternate with the other counts' (order flipped every round, one unmeasured warm-up each), each
  into its own report folder kept between its runs (a scheduler's folder: the previous run's CPU counters are
  there). Per count: median wall, CPU (``os.wait4``: pytest, its threads and every command it waited for), wall /
  CPU, and what each extra target adds (least squares over the counts). ``DIGITALME_CPU_MAX_PCT=100``: the host's
  CPU check would otherwise fail now and then on a busy machine, and a failed check costs more than a passed one.
- ``--daily-runs N``: N back-to-back ``pytest -m daily`` runs of the sandbox alone (no targets file): median wall,
  CPU and wall / CPU (issue 27's goal: <= 1.25x).
- ``--profile N``: one run of N targets under cProfile (in-process: ``python -m cProfile -m pytest``); the profile
  is written to ``--out`` and its top functions by own time and by cumulative time are printed.

The machine is shared: CPU time is the steadier figure; wall medians move with other work (load shown).
"""

import argparse
import os
import pstats
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetbench  # noqa: E402  (run_group, fit: the fleet table's own)

REPO, VENV_BIN, PYTEST = fleetbench.REPO, fleetbench.VENV_BIN, fleetbench.PYTEST
SANDBOX_SH = fleetbench.SANDBOX_SH
RUN_TIMEOUT_S = 600


def sandbox(project, action):
    env = dict(os.environ, SANDBOX_PROJECT=project)
    done = subprocess.run([SANDBOX_SH, action], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"profile_fleet: scripts/sandbox.sh {action} ({project}): exit {done.returncode}: "
                         f"{done.stderr.strip()}")
    return done.stdout


def sandbox_settings(project):
    return dict(line.split("=", 1) for line in sandbox(project, "env").splitlines() if "=" in line)


def targets_file(settings, count, folder):
    """``count`` targets (fleet-001, ...) all pointing at the one sandbox: its settings in ``[defaults]``."""
    keys = ("base_url", "https_url", "compose_file", "compose_project", "container", "env_file")
    lines = ["# written by scripts/bench/profile_fleet.py: every target is the one sandbox", "[defaults]"]
    lines += [f'{key} = "{settings["DIGITALME_" + key.upper()]}"' for key in keys]
    lines += [f"\n[targets.fleet-{i:03d}]" for i in range(1, count + 1)]
    path = os.path.join(folder, f"targets-{count}.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def base_env(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as cron runs it
    # A healthy fleet: the host's CPU check would fail on a busy shared machine (another session's load), and a
    # failure costs more than a pass (its report): 100 % keeps every run's outcomes alike.
    return dict(env, DIGITALME_ALERTS="off", DIGITALME_CPU_MAX_PCT="100")


def run(env, report_dir, extra=(), prefix=(PYTEST,)):
    """One ``pytest -m daily``: (exit code, wall s, CPU s)."""
    env = dict(env, DIGITALME_REPORT_DIR=report_dir)
    with open(os.path.join(report_dir + ".log"), "w") as log:
        code, wall, cpu, _ = fleetbench.run_group([*prefix, "-m", "daily", "-q", *extra], env=env, stdout=log,
                                                  timeout=RUN_TIMEOUT_S)
    if code not in (0, 1):
        print(f"  ! exit {code}: see {report_dir}.log")
    return code, wall, cpu


def load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def measure_counts(settings, counts, runs, scratch):
    env = base_env(settings)
    configs = {n: (targets_file(settings, n, scratch), os.path.join(scratch, f"reports-{n}")) for n in counts}
    for path, report_dir in configs.values():
        os.makedirs(report_dir, exist_ok=True)
    samples = {n: [] for n in counts}
    print(f"fleet: {runs} runs of {counts} targets (one sandbox), alternating, after a warm-up; load {load()}")
    for n, (path, report_dir) in configs.items():
        run(dict(env, DIGITALME_TARGETS=path), report_dir)
    for i in range(runs):
        for n in counts if i % 2 == 0 else counts[::-1]:
            path, report_dir = configs[n]
            samples[n].append(run(dict(env, DIGITALME_TARGETS=path), report_dir))
    print(f"{'targets':>8} {'wall':>9} {'CPU':>9} {'wall/CPU':>9} {'x 1 wall':>9}   (medians; load after {load()})")
    walls = {n: statistics.median(s[1] for s in samples[n]) for n in counts}
    cpus = {n: statistics.median(s[2] for s in samples[n]) for n in counts}
    for n in counts:
        codes = sorted({s[0] for s in samples[n]})
        print(f"{n:>8} {walls[n] * 1000:7.0f}ms {cpus[n] * 1000:7.0f}ms {walls[n] / cpus[n]:8.2f}x "
              f"{walls[n] / walls[counts[0]]:8.2f}x   exit {codes}, walls {' '.join(f'{s[1]:.2f}' for s in samples[n])}")
    if len(counts) > 1:
        wall_slope, wall_fixed = fleetbench.fit(list(walls.items()))
        cpu_slope, cpu_fixed = fleetbench.fit(list(cpus.items()))
        print(f"each extra target: wall {wall_slope * 1000:.0f} ms, CPU {cpu_slope * 1000:.0f} ms "
              f"(fixed: wall {wall_fixed * 1000:.0f} ms, CPU {cpu_fixed * 1000:.0f} ms)")


def measure_daily(settings, runs, scratch):
    env = dict(base_env(settings), **settings)
    report_dir = os.path.join(scratch, "reports-daily")
    os.makedirs(report_dir, exist_ok=True)
    run(env, report_dir)  # warm-up, and the CPU counters the next run measures from
    samples = [run(env, report_dir) for _ in range(runs)]
    ratios = [wall / cpu for _, wall, cpu in samples]
    print(f"daily, back to back, {runs} runs (load after {load()}): wall {statistics.median(s[1] for s in samples) * 1000:.0f} ms, "
          f"CPU {statistics.median(s[2] for s in samples) * 1000:.0f} ms, wall/CPU median "
          f"{statistics.median(ratios):.2f}x (each: {' '.join(f'{r:.2f}' for r in ratios)})")


def profile(settings, count, out, scratch, top=40):
    env = dict(base_env(settings), DIGITALME_TARGETS=targets_file(settings, count, scratch))
    report_dir = os.path.join(scratch, f"reports-profile-{count}")
    os.makedirs(report_dir, exist_ok=True)
    prefix = (os.path.join(VENV_BIN, "python"), "-m", "cProfile", "-o", out, "-m", "pytest")
    run(env, report_dir, prefix=prefix)  # warm-up (compiled modules, CPU counters)
    code, wall, cpu = run(env, report_dir, prefix=prefix)
    print(f"profile of {count} targets: exit {code}, wall {wall:.2f} s, CPU {cpu:.2f} s (under cProfile) -> {out}")
    stats = pstats.Stats(out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=os.environ.get("SANDBOX_PROJECT") or "digitalme-sandbox")
    parser.add_argument("--up", action="store_true", help="start the sandbox first (scripts/sandbox.sh up)")
    parser.add_argument("--down", action="store_true", help="remove the sandbox at the end (scripts/sandbox.sh down)")
    parser.add_argument("--counts", default="1,32", help="target counts, comma-separated (default 1,32; '' none)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--daily-runs", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile one run of N targets")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "profile_fleet.prof"))
    args = parser.parse_args()
    if args.up:
        sandbox(args.project, "up")
    try:
        settings = sandbox_settings(args.project)
        with tempfile.TemporaryDirectory(prefix="profile-fleet-") as scratch:
            counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
            if counts:
                measure_counts(settings, counts, args.runs, scratch)
            if args.daily_runs:
                measure_daily(settings, args.daily_runs, scratch)
            if args.profile:
                profile(settings, args.profile, args.out, scratch)
    finally:
        if args.down:
            sandbox(args.project, "down")


if __name__ == "__main__":
    main()
