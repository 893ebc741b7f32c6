"""The scale table of ``make benchmark`` (scripts/benchmark.py ``--scale 32``, issue 27): ``pytest -m daily`` from a
targets file of one deployment, of 32 deployments all on the one healthy sandbox, and of 32 dead deployments,
measured side by side in one run.

- 1 target: the sandbox, as a targets file names it (the base of the ratios).
- 32 healthy: 32 targets, all the same sandbox: what grows is the checker's cost per deployment, not the target's.
- 32 dead: 32 targets whose HTTP and HTTPS ports refuse connections on 127.0.0.1 and whose container does not
  exist (compose project and container ``digitalme-benchmark-dead-<i>``, named nowhere else): a fleet-wide outage.
  Each port is a socket this benchmark binds and never listens on, held until it ends, so every connection is
  refused (nothing else can take the port meanwhile). Nothing is created in Docker.

The three alternate, ``--runs`` times each after one unmeasured warm-up of each, the order flipping every round so
that drift in the machine's load hits them alike. Each run is the documented command with only the targets file,
``DIGITALME_ALERTS=off`` and a report folder of its own in a temporary folder (removed at the end unless a run did
not come out clean); it runs in its own process group, killed with it on Ctrl-C or past ``RUN_TIMEOUT_S``
(scripts/bench/fleetbench.py ``run_group``). Wall time and CPU time (user + system of pytest and every process it
waited for, from ``os.wait4``) are medians; the CPU time is the checker's own, so it says what a shared machine's
load does not.
"""

import collections
import contextlib
import json
import os
import signal
import socket
import statistics

from fleetbench import PYTEST, VENV_BIN, Interrupted, median, run_group

COUNT = 32  # deployments in the healthy and the dead targets file (``--scale N``)
MAX_COUNT = 200  # a bound on them: each dead one holds two ports of 127.0.0.1 for the benchmark's duration
GOAL_HEALTHY = 5.0  # N healthy deployments within this many times the wall time of one
GOAL_DEAD = 1.2  # N dead deployments within this many times the wall time of N healthy ones
GOAL_IDLE = 1.25  # a daily run's wall time within this many times its CPU time (the 1-target run)
RUN_TIMEOUT_S = 300  # one measured run; 32 targets take ~5-15 s on a loaded 2-core machine
DEAD_NAME = "digitalme-benchmark-dead-{:02d}"  # compose project and container stem of dead target i

Sample = collections.namedtuple("Sample", "wall cpu counts")  # s, CPU s, the results file's counts


@contextlib.contextmanager
def stopped_cleanly():
    """SIGTERM and SIGHUP unwind as Ctrl-C does (fleetbench.Interrupted), so the run under way is killed with its
    process group and the ports are let go."""
    def interrupted(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def refusing_ports(count):
    """``count`` ports of 127.0.0.1 that refuse connections while the block runs: bound, never listened on."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind(("127.0.0.1", 0))
        yield [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def target_lines(name, base_url, https_url, project, container):
    return ["", f"[targets.{name}]", f'base_url = "{base_url}"', f'https_url = "{https_url}"',
            f'compose_project = "{project}"', f'container = "{container}"']


def targets_files(sandbox, count, ports, scratch):
    """{kind: path} of the three targets files: ``sandbox`` is the sandbox's DIGITALME_* settings."""
    head = ["# written by scripts/benchmark.py --scale", "[defaults]",
            f'compose_file = "{sandbox["DIGITALME_COMPOSE_FILE"]}"', f'env_file = "{sandbox["DIGITALME_ENV_FILE"]}"']
    healthy = lambda i: target_lines(f"deployment-{i:02d}", sandbox["DIGITALME_BASE_URL"],  # noqa: E731
                                     sandbox["DIGITALME_HTTPS_URL"], sandbox["DIGITALME_COMPOSE_PROJECT"],
                                     sandbox["DIGITALME_CONTAINER"])
    dead = lambda i: target_lines(f"dead-{i:02d}", f"http://127.0.0.1:{ports[2 * i - 2]}",  # noqa: E731
                                  f"https://127.0.0.1:{ports[2 * i - 1]}", DEAD_NAME.format(i),
                                  DEAD_NAME.format(i) + "-digitalme-1")
    files = {}
    for kind, lines in (("1 target", healthy(1)), (f"{count} healthy", sum(map(healthy, range(1, count + 1)), [])),
                        (f"{count} dead", sum(map(dead, range(1, count + 1)), []))):
        files[kind] = os.path.join(scratch, kind.replace(" ", "-") + ".toml")
        with open(files[kind], "w", encoding="utf-8") as f:
            f.write("\n".join(head + lines) + "\n")
    return files


class ScaleRunner:
    """Runs ``pytest -m daily`` from one of the targets files and judges whether the run came out as expected."""

    def __init__(self, files, scratch):
        self.files, self.scratch, self.problems = files, scratch, []
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}  # only the targets file
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as cron runs it (see benchmark.py)
        env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
        self.env = dict(env, DIGITALME_ALERTS="off")

    def run(self, kind):
        """One run: a Sample, or None (noted in ``problems``) when it did not finish or left no results."""
        name = kind.replace(" ", "-")
        report_dir = os.path.join(self.scratch, f"reports-{name}")  # one per kind: a scheduler's folder
        latest, log = os.path.join(report_dir, "latest.json"), os.path.join(self.scratch, f"pytest-{name}.log")
        if os.path.exists(latest):
            os.unlink(latest)
        env = dict(self.env, DIGITALME_TARGETS=self.files[kind], DIGITALME_REPORT_DIR=report_dir)
        with open(log, "w") as out:
            try:
                code, wall, cpu, _ = run_group([PYTEST, "-m", "daily"], env=env, stdout=out, timeout=RUN_TIMEOUT_S)
            except TimeoutError as e:
                self.problems.append(f"{kind}: {e} (killed; see {log})")
                return None
        try:
            with open(latest, encoding="utf-8") as f:
                results = json.load(f)
        except (OSError, ValueError) as e:
            self.problems.append(f"{kind}: exit {code}, no results file ({e}); see {log}")
            return None
        self.judge(kind, code, results, log)
        return Sample(wall, cpu, results.get("counts", {}))

    def judge(self, kind, code, results, log):
        """A healthy run finds every target and nothing it could not check; a dead run finds every target
        unreachable (its checks "not checked"). A machine too busy for the CPU check fails it: exit 1 is fine."""
        counts, seen = results.get("counts", {}), len(results.get("targets") or {})
        expected = int(kind.split()[0])
        dead = kind.endswith("dead")
        clean = (code in (0, 1) and seen == expected and not counts.get("error")
                 and bool(counts.get("not checked")) == dead and (code == 1 or not dead))
        if not clean:
            kept = f"{log[:-4]}-problem{len(self.problems) + 1}.log"  # the next run of this kind reuses the name
            os.replace(log, kept)
            self.problems.append(f"{kind}: exit {code}, {seen} targets in the results, counts {counts} (see {kept})")


def measure(sandbox, runs, scratch, load, say=print, count=COUNT):
    """Measure the three kinds ``runs`` times each, alternating, after a warm-up; print the table and the goals.
    Returns the list of problems (runs that did not come out clean)."""
    with stopped_cleanly(), refusing_ports(2 * count) as ports:
        runner = ScaleRunner(targets_files(sandbox, count, ports, scratch), scratch)
        kinds = list(runner.files)
        load_before = load()
        say(f"scale: pytest -m daily from a targets file: {', '.join(kinds)}; {runs} runs each, alternating, after "
            f"one warm-up run each (load average {load_before})")
        for kind in kinds:
            runner.run(kind)  # warm-up: compiled modules, page cache, each report folder's first run
        runner.problems.clear()
        samples = {kind: [] for kind in kinds}
        for i in range(runs):
            for kind in (kinds if i % 2 == 0 else kinds[::-1]):
                sample = runner.run(kind)
                if sample is not None:
                    samples[kind].append(sample)
            say(f"  scale round {i + 1}/{runs} done")
    report(samples, count, runs, (load_before, load()), say)
    return runner.problems


def report(samples, count, runs, loads, say):
    """The table (medians), the cost of each additional deployment, and the goals of issue 27."""
    wall = {kind: median([x.wall for x in s]) for kind, s in samples.items()}
    cpu = {kind: median([x.cpu for x in s]) for kind, s in samples.items()}
    one, healthy, dead = "1 target", f"{count} healthy", f"{count} dead"
    say("")
    say(f"scale: median of {runs} runs (load average {loads[0]} before, {loads[1]} after)")
    say(f"{'run':<12} {'wall':>9} {'min':>8} {'max':>8} {'x 1':>6} {'CPU':>9} {'x 1':>6} {'wall/CPU':>9} "
        f"{'checks':>7} {'not checked':>12}")
    for kind, runs_of_kind in samples.items():
        walls = [s.wall for s in runs_of_kind] or [float("nan")]
        counts = lambda key: statistics.median([s.counts.get(key, 0) for s in runs_of_kind] or [0])  # noqa: E731
        say(f"{kind:<12} {wall[kind] * 1000:7.0f}ms {min(walls) * 1000:6.0f}ms {max(walls) * 1000:6.0f}ms "
            f"{wall[kind] / wall[one]:5.2f}x {cpu[kind] * 1000:7.0f}ms {cpu[kind] / cpu[one]:5.2f}x "
            f"{wall[kind] / cpu[kind]:8.2f}x {counts('passed') + counts('failed'):7.0f} {counts('not checked'):12.0f}")
    say("  CPU = user + system of pytest and every process it waited for (the commands it ran), the checker's own "
        "(not the Docker engine's); checks = passed + failed; not checked = checks of an unreachable target")
    for kind in (healthy, dead):
        say(f"  each additional {kind.split()[1]} deployment: {(wall[kind] - wall[one]) / (count - 1) * 1000:.0f} ms "
            f"wall, {(cpu[kind] - cpu[one]) / (count - 1) * 1000:.0f} ms CPU")
    goals = [(f"{count} healthy deployments within {GOAL_HEALTHY:g}x the wall time of one", wall[healthy] / wall[one],
              GOAL_HEALTHY, cpu[healthy] / cpu[one]),
             (f"{count} dead deployments within {GOAL_DEAD:g}x the wall time of {count} healthy",
              wall[dead] / wall[healthy], GOAL_DEAD, cpu[dead] / cpu[healthy]),
             (f"a daily run's wall time within {GOAL_IDLE:g}x its CPU time (1 target)", wall[one] / cpu[one],
              GOAL_IDLE, None)]
    say("goals (issue 27):")
    for text, ratio, limit, cpu_ratio in goals:
        also = f" (CPU {cpu_ratio:.2f}x)" if cpu_ratio is not None else ""
        say(f"  {'MET    ' if ratio <= limit else 'NOT MET'}  {text}: {ratio:.2f}x{also}")
