"""The fleet table of ``make benchmark`` (scripts/benchmark.py ``--fleet 1,4,8,16``): how ``pytest -m daily``'s wall
time grows with the number of targets, serial and with ``-n auto``.

Every target is a sandbox stack of its own (compose project ``<SANDBOX_PROJECT>-fleet-<i>``, by default
``digitalme-sandbox-fleet-<i>``, started by ``scripts/sandbox.sh up`` on free ports), so N targets mean N
containers, N Docker inspects, execs and stats, N HTTP and TLS endpoints: the suite does for each what it does for a
deployment. The stacks:

- are started from a known state: each project is first taken down (``scripts/sandbox.sh down``: its containers,
  volumes and network, and only if every one carries the sandbox label; otherwise the benchmark stops, touching
  nothing of it), then started afresh;
- all run during every measurement (the 1-target run too), so the machine's background is the same in every row;
- are removed at the end by ``scripts/sandbox.sh down`` (label-checked), also after a failure, Ctrl-C, SIGTERM or
  SIGHUP. Only the projects this run took down and started are removed. A stack whose ``up`` was cut short is
  removed once its ``sandbox.sh up`` and compose are gone, and looked for again after a pause (a container create
  the engine still had in hand lands late), until nothing of it is left (bounded).
- A lock file keeps two fleet benchmarks from sharing the names (the selftests' own SANDBOX_PROJECT keeps theirs
  apart from a developer's). A benchmark killed with SIGKILL leaves its stacks; the next one resets them, or
  ``scripts/benchmark.py --fleet-down 16`` removes them.

Each measured command runs in its own process group (killed with it on an interrupt or past ``RUN_TIMEOUT_S``),
with the phase plugin (bench_phases.py) telling where its wall time went, ``os.wait4`` its CPU time, and /proc and
the containers' cgroups the Docker engine's and the targets' CPU time during it.
"""

import contextlib
import fcntl
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
PYTEST = os.path.join(VENV_BIN, "pytest")
SANDBOX_SH = os.path.join(REPO, "scripts", "sandbox.sh")
# Stack i is compose project <SANDBOX_PROJECT>-fleet-<i> (digitalme-sandbox-fleet-1, ...): names reserved for this
# benchmark, beside the demo's sandbox; the selftests' own SANDBOX_PROJECT keeps theirs apart from a developer's.
PROJECT_PREFIX = os.environ.get("SANDBOX_PROJECT") or "digitalme-sandbox"
PROJECT_PREFIX += "-fleet-"
MAX_TARGETS = 64  # a bound on the stacks one benchmark starts (16 take ~0.3 GB of RAM)
LOCK_FILE = os.path.join(tempfile.gettempdir(), f"digitalme-benchmark-{PROJECT_PREFIX}lock")
MODES = {"serial": [], "-n auto": ["-n", "auto"]}
GOALS = {8: 3.0, 16: 5.0}  # targets: at most this many times the wall time of one target (issue 13)
BACKGROUND_S = 10  # idle sample of the engine's and the stacks' own CPU use before the runs
RUN_TIMEOUT_S = 600  # one measured run; far beyond any healthy one (16 targets: ~10-20 s on 2 cores)
STACK_TIMEOUT_S = 300  # one `sandbox.sh up` (compose waits 120 s for healthy) or `down`
# A stack whose `up` was cut short: what the engine still had in hand from the killed compose (a container create
# on a loaded machine) can appear after the first `down` listed the project; looked for again after a quiet pause.
SETTLE_S = 2
SETTLE_ROUNDS = 5
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so the stacks are removed."""


def _interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GROUP_GONE_S = 10  # a killed command's process group leaves within this (SIGKILL: at once, unless stuck in the kernel)


@contextlib.contextmanager
def signals_held():
    """Hold Ctrl-C, SIGTERM and SIGHUP while a child is started; yields ``release``, which puts the handlers back
    and delivers a held signal there. Why: one landing inside subprocess.Popen (after the fork, before it returns)
    unwinds without the child's handle, and a `sandbox.sh up` left so creates its stack after the removal."""
    held = []
    previous = {}
    if threading.current_thread() is threading.main_thread():  # only the main thread handles signals
        previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in STOP_SIGNALS}

    def release():
        while previous:
            signal.signal(*previous.popitem())
        if held:
            signum = held[0]
            held.clear()
            signal.raise_signal(signum)  # now the handler from before: KeyboardInterrupt, Interrupted, ignored

    try:
        yield release
    finally:
        release()


def run_group(command, *, env=None, stdout=None, timeout):
    """Run ``command`` in a process group of its own; on a timeout or any exception here (Ctrl-C, SIGTERM) kill
    that group (the command and whatever it started: xdist workers, compose), wait until it is gone, re-raise.
    Returns (exit code, wall seconds, CPU seconds of the command and its waited-for children, started epoch)."""
    started_epoch, started = time.time(), time.perf_counter()
    with signals_held() as release:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            release()  # a signal that came while the child started is raised here, where the child is killed
            deadline = started + timeout
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    wall = time.perf_counter() - started
                    process.returncode = os.waitstatus_to_exitcode(status)
                    return process.returncode, wall, usage.ru_utime + usage.ru_stime, started_epoch
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{' '.join(command[:4])} ran past {timeout} s")
                time.sleep(0.005)  # the wall time's resolution; the poll costs nothing measurable
        except BaseException:
            end_group(process)
            raise


def end_group(process):
    """Kill the process group ``run_group`` created (and only it) and wait until none of it runs: what is removed
    next (a stack the command was creating) must not be re-created by a member still on its way out."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    deadline = time.monotonic() + GROUP_GONE_S
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def group_members(pgid):
    """Pids of the processes of process group ``pgid`` that still run (zombies excepted: they do nothing more)."""
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                state, _ppid, group = f.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state not in "ZX":
            members.append(int(pid))
    return members


class Stacks:
    """``count`` sandbox stacks, one compose project each, for the benchmark's duration (a context manager)."""

    def __init__(self, count, scratch, say=print):
        self.count, self.scratch, self.say = count, scratch, say
        self.log = os.path.join(scratch, "stacks.log")
        self.started = []  # projects this run took down and started: the ones it removes
        self.creating = None  # the project whose `sandbox.sh up` runs (cut short if still set on the way out)
        self.settings = {}  # project -> its DIGITALME_* settings (sandbox.sh env)
        self._lock = None

    def _sandbox(self, project, action, **extra):
        env = dict(os.environ, SANDBOX_PROJECT=project, **extra)
        with open(self.log, "a") as log:
            log.write(f"\n$ SANDBOX_PROJECT={project} scripts/sandbox.sh {action}\n")
            log.flush()
            code, wall, _, _ = run_group([SANDBOX_SH, action], env=env, stdout=log, timeout=STACK_TIMEOUT_S)
        return code, wall

    def __enter__(self):
        self._lock = open(LOCK_FILE, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise SystemExit(f"benchmark: another fleet benchmark holds {LOCK_FILE}; its stacks use the same "
                             f"names ({PROJECT_PREFIX}1..): wait for it to end")
        try:
            for i in range(1, self.count + 1):
                project = f"{PROJECT_PREFIX}{i}"
                code, _ = self._sandbox(project, "down")  # the known state: nothing left from an earlier run
                if code != 0:
                    raise SystemExit(f"benchmark: scripts/sandbox.sh down refused or failed for compose project "
                                     f"{project} (exit {code}; see {self.log}); nothing of it was touched")
                self.started.append(project)  # from here on it is ours to remove, even if `up` fails halfway
                self.creating = project
                code, wall = self._sandbox(project, "up")
                self.creating = None
                if code != 0:
                    raise SystemExit(f"benchmark: scripts/sandbox.sh up failed for {project} (exit {code}; "
                                     f"see {self.log})")
                self.settings[project] = self._env(project)
                self.say(f"  sandbox target {i}/{self.count} up ({project}, {wall:.1f} s)")
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _env(self, project):
        out = subprocess.run([SANDBOX_SH, "env"], cwd=REPO, env=dict(os.environ, SANDBOX_PROJECT=project),
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise SystemExit(f"benchmark: scripts/sandbox.sh env for {project}: {out.stderr.strip()}")
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def __exit__(self, *exc):
        # A second Ctrl-C must not cut the removal short: ignored while it runs (the commands run in their own
        # process groups, so the terminal's signal does not reach them either).
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            failed = []
            for project in reversed(self.started):
                try:
                    code = self._remove(project, settle=project == self.creating)
                except (OSError, TimeoutError, subprocess.SubprocessError) as e:
                    code = str(e)
                if code != 0:
                    failed.append(f"{project} ({code})")
            if self.started:
                self.say(f"  removed the {len(self.started) - len(failed)} sandbox targets this benchmark started"
                         + (f"; NOT removed: {', '.join(failed)} (see {self.log})" if failed else ""))
            self.started, self.creating = [], None
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self._lock is not None:
                self._lock.close()  # releases the lock
                self._lock = None
        return False

    def _remove(self, project, settle):
        """`sandbox.sh down` (label-checked). With ``settle`` (its `up` was cut short), looked for again after a
        quiet pause and taken down again while anything of it shows up, a bounded number of times.
        Returns 0, the failed `down`'s exit code, or what is still there."""
        code, _ = self._sandbox(project, "down")
        if not settle:
            return code
        for _ in range(SETTLE_ROUNDS):
            time.sleep(SETTLE_S)
            left = project_resources(project)
            if not left:
                return 0
            code, _ = self._sandbox(project, "down")
        left = project_resources(project)
        return code if code != 0 else f"still there: {', '.join(left)}" if left else 0

    def container_ids(self):
        """The full ids of the stacks' containers (for their CPU time in the cgroups)."""
        ids = []
        for project in self.settings:
            ids += subprocess.run(["docker", "ps", "-q", "--no-trunc",
                                   "--filter", "label=io.digitalme-ops.sandbox=true",
                                   "--filter", f"label=com.docker.compose.project={project}"],
                                  capture_output=True, text=True, timeout=60).stdout.split()
        return ids

    def targets_file(self, count):
        """A targets file naming the first ``count`` stacks (fleet-01, fleet-02, ...)."""
        lines = ["# written by scripts/benchmark.py: one target per sandbox stack", "[defaults]",
                 'compose_file = "sandbox/docker-compose.production.yml"', 'env_file = "sandbox/.env"']
        for i, project in enumerate(list(self.settings)[:count], 1):
            s = self.settings[project]
            lines += ["", f"[targets.fleet-{i:02d}]", f'base_url = "{s["DIGITALME_BASE_URL"]}"',
                      f'https_url = "{s["DIGITALME_HTTPS_URL"]}"',
                      f'compose_project = "{s["DIGITALME_COMPOSE_PROJECT"]}"',
                      f'container = "{s["DIGITALME_CONTAINER"]}"']
        path = os.path.join(self.scratch, f"targets-{count}.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return path


def project_resources(project):
    """The containers, volumes and networks of a compose project, as "kind name": by compose's project label, and
    volumes and networks also by the names compose gives them (<project>_...), as scripts/sandbox.sh sees them."""
    docker = lambda *args: subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,  # noqa: E731
                                          check=True).stdout.splitlines()
    found = [f"container {name}" for name in docker("ps", "-a", "--format", "{{.Names}}",
                                                    "--filter", f"label=com.docker.compose.project={project}")]
    for kind in ("volume", "network"):
        for line in docker(kind, "ls", "--format", '{{.Name}}|{{.Label "com.docker.compose.project"}}'):
            name, _, owner = line.partition("|")
            if owner == project or name.startswith(f"{project}_"):
                found.append(f"{kind} {name}")
    return found


def down_leftovers(count, say=print):
    """``--fleet-down N``: remove stacks 1..N left by a benchmark that was killed (label-checked by sandbox.sh)."""
    with tempfile.TemporaryDirectory(prefix="digitalme-benchmark-") as scratch:
        stacks = Stacks(0, scratch, say)
        stacks.started = [f"{PROJECT_PREFIX}{i}" for i in range(1, count + 1)]
        with stacks:
            pass


def proc_cpu_s(pid):
    """CPU seconds so far of a process and the children it has reaped (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICK  # utime stime cutime cstime


def proc_name(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def engine_pids(container_ids, ports):
    """The Docker engine's processes that work for the targets: dockerd and containerd (shared with whatever else
    uses Docker on the machine), each target container's shim (which reaps runc, once per exec), and the
    docker-proxy behind each of their published ports (every HTTP and TLS connection goes through one)."""
    pids = [p for p in os.listdir("/proc") if p.isdigit() and proc_name(p) in ("dockerd", "containerd")]
    for cid in container_ids:
        init = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", cid], capture_output=True, text=True,
                              timeout=60).stdout.strip()
        try:
            with open(f"/proc/{init}/stat", encoding="utf-8") as f:
                pids.append(f.read().rsplit(")", 1)[1].split()[1])  # its parent: the shim
        except (OSError, IndexError):
            pass
    wanted = {str(port) for port in ports}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and proc_name(pid) == "docker-proxy":
            try:
                with open(f"/proc/{pid}/cmdline", encoding="utf-8") as f:
                    args = f.read().split("\0")
            except OSError:
                continue
            if "-host-port" in args[:-1] and args[args.index("-host-port") + 1] in wanted:
                pids.append(pid)
    return pids


def engine_cpu_s(pids):
    return sum(proc_cpu_s(pid) for pid in pids)


def containers_cpu_s(ids):
    """CPU seconds so far of the given containers (cgroup v1 or v2; what cannot be read counts 0)."""
    total = 0.0
    for cid in ids:
        for path, scale in ((f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage", 1e-9),
                            (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat", 1e-6)):
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            value = text.split()[1] if text.startswith("usage_usec") else text.split()[0]
            total += int(value) * scale
            break
    return total


def machine_busy_s():
    """CPU seconds so far that the whole machine spent not idle (every process: other work shows here)."""
    with open("/proc/stat", encoding="utf-8") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICK  # minus idle and iowait


class Sample:
    def __init__(self, wall, cpu, engine, targets_cpu, busy, phases, counts, seen_targets, check_time):
        self.wall, self.cpu, self.engine, self.targets_cpu, self.busy = wall, cpu, engine, targets_cpu, busy
        self.phases, self.counts, self.seen_targets, self.check_time = phases, counts, seen_targets, check_time


class FleetRunner:
    def __init__(self, stacks, scratch):
        self.stacks, self.scratch = stacks, scratch
        self.problems = []
        self.containers = stacks.container_ids()
        ports = [urllib.parse.urlsplit(s["DIGITALME_BASE_URL"]).port or 80 for s in stacks.settings.values()]
        ports += [urllib.parse.urlsplit(s["DIGITALME_HTTPS_URL"]).port or 443 for s in stacks.settings.values()]
        self.engine = engine_pids(self.containers, ports)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_")}  # only the targets file
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as cron runs it (see benchmark.py)
        env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (BENCH, env.get("PYTHONPATH")) if p)
        self.env = dict(env, DIGITALME_ALERTS="off")

    def background(self, seconds=BACKGROUND_S):
        """CPU seconds per second of the engine, the targets and the machine while no check runs: the stacks'
        own healthchecks (one exec per container every 5 s) and whatever else uses the machine and Docker."""
        before = engine_cpu_s(self.engine), containers_cpu_s(self.containers), machine_busy_s()
        time.sleep(seconds)
        after = engine_cpu_s(self.engine), containers_cpu_s(self.containers), machine_busy_s()
        return [(b - a) / seconds for a, b in zip(before, after)]

    def run(self, count, mode):
        name = f"{count}-{'xdist' if mode != 'serial' else 'serial'}"
        report_dir = os.path.join(self.scratch, f"reports-{name}")  # one per configuration: a scheduler's folder
        phases_file = os.path.join(self.scratch, f"phases-{name}.json")
        log = os.path.join(self.scratch, f"pytest-{name}.log")
        latest = os.path.join(report_dir, "latest.json")
        for path in (latest, phases_file):
            if os.path.exists(path):
                os.unlink(path)
        env = dict(self.env, DIGITALME_TARGETS=self.stacks.targets_file(count), DIGITALME_REPORT_DIR=report_dir,
                   BENCH_PHASES_FILE=phases_file)
        engine, targets_cpu, busy = engine_cpu_s(self.engine), containers_cpu_s(self.containers), machine_busy_s()
        with open(log, "w") as out:
            try:
                code, wall, cpu, started = run_group([PYTEST, "-m", "daily", "-p", "bench_phases", *MODES[mode]],
                                                     env=env, stdout=out, timeout=RUN_TIMEOUT_S)
            except TimeoutError as e:
                self.problems.append(f"{count} targets {mode}: {e} (killed; see {log})")
                return None
        engine, targets_cpu = engine_cpu_s(self.engine) - engine, containers_cpu_s(self.containers) - targets_cpu
        busy = machine_busy_s() - busy
        try:
            with open(latest, encoding="utf-8") as f:
                results = json.load(f)
            with open(phases_file, encoding="utf-8") as f:
                times = json.load(f)
        except (OSError, ValueError) as e:
            self.problems.append(f"{count} targets {mode}: exit {code}, no results or phases ({e}); see {log}")
            return None
        ended = started + wall
        marks = [started, times["configured"], times["loop_start"], times["finish_start"], times["finish_end"], ended]
        phases = {p: b - a for p, a, b in zip(("start-up", "collection", "checks", "report", "exit"), marks, marks[1:])}
        starts = sorted(times.get("target_start", {}).values())
        phases["target spans"] = [b - a for a, b in zip(starts, starts[1:] + [times["finish_start"]])]
        counts = results.get("counts", {})
        seen = len(results.get("targets") or {})
        if code not in (0, 1) or counts.get("error") or seen != count:
            kept = f"{log[:-4]}-problem{len(self.problems) + 1}.log"  # the next run of this one reuses the name
            os.replace(log, kept)
            errors = [f"{c.get('id')}: {(c.get('message') or '').splitlines()[0][:160] if c.get('message') else ''}"
                      for c in results.get("checks", []) if c.get("outcome") == "error"]
            self.problems.append(f"{count} targets {mode}: exit {code}, {seen} targets in the results, counts "
                                 f"{counts} (see {kept}, {(results.get('files') or {}).get('json')})"
                                 + "".join(f"\n    error: {e}" for e in errors[:3]))
        check_time = sum(c.get("duration_s") or 0 for c in results.get("checks", []))
        return Sample(wall, cpu, engine, targets_cpu, busy, phases, counts, seen, check_time)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fit(points):
    """Least-squares line through (x, y): (slope, intercept)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")
    return slope, my - slope * mx


def measure(counts, runs, scratch, load, say=print):
    """Start max(counts) stacks, measure every (count, mode) ``runs`` times after a warm-up, print the tables,
    remove the stacks. Returns the list of problems (runs that did not come out clean)."""
    counts = sorted(set(counts) | {1})  # the 1-target run is every ratio's base
    # Ctrl-C raises KeyboardInterrupt even where the shell that started us ignores SIGINT (a background job);
    # SIGTERM and SIGHUP unwind the same way. Either way the stacks are removed on the way out.
    previous = {s: signal.signal(s, _interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        say(f"fleet: starting {max(counts)} sandbox targets (one compose project each, {PROJECT_PREFIX}1..)")
        with Stacks(max(counts), scratch, say) as stacks:
            runner = FleetRunner(stacks, scratch)
            configs = [(n, mode) for n in counts for mode in MODES]
            load_before = load()
            say(f"fleet: {runs} runs of each of {len(configs)} configurations, alternating, after one warm-up "
                f"run each (load average {load_before})")
            background = runner.background()
            for config in configs:
                runner.run(*config)  # warm-up: compiled modules, page cache, each report folder's first run
            runner.problems.clear()
            samples = {config: [] for config in configs}
            for i in range(runs):
                for config in (configs if i % 2 == 0 else configs[::-1]):
                    sample = runner.run(*config)
                    if sample is not None:
                        samples[config].append(sample)
                say(f"  fleet round {i + 1}/{runs} done")
            load_after = load()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    report(counts, samples, runs, load_before, load_after, background, say)
    return runner.problems


def report(counts, samples, runs, load_before, load_after, background, say):
    ms = lambda s: f"{s * 1000:7.0f} ms"  # noqa: E731
    wall = {c: median(s.wall for s in v) for c, v in samples.items()}
    base = wall.get((1, "serial"), float("nan"))
    say("")
    say(f"fleet: pytest -m daily against N sandbox targets, median of {runs} runs (load average {load_before} "
        f"before, {load_after} after)")
    say(f"{'targets':>7} {'checks':>7} {'serial':>10} {'x 1':>6} {'-n auto':>10} {'x 1':>6} {'x serial 1':>11}"
        f" {'best x 1':>9}")
    for n in counts:
        s, x = wall[(n, "serial")], wall[(n, "-n auto")]
        checks = median(sum(v for k, v in smp.counts.items() if k in ("passed", "failed"))
                        for smp in samples[(n, "serial")])
        say(f"{n:>7} {checks:>7.0f} {ms(s):>10} {s / wall[(counts[0], 'serial')]:>5.2f}x {ms(x):>10} "
            f"{x / wall[(counts[0], '-n auto')]:>5.2f}x {x / base:>10.2f}x {min(s, x) / base:>8.2f}x")
    say(f"  x 1: against the same mode's {counts[0]}-target run; x serial 1 and best x 1 (the faster mode of the "
        f"row): against the serial 1-target run")

    say("")
    say("where the time goes (medians; phases of the wall time, then CPU seconds during the run):")
    say(f"{'run':>16} {'start-up':>9} {'collect':>8} {'checks':>8} {'report':>8} {'exit':>7} | {'suite CPU':>9} "
        f"{'engine':>7} {'targets':>8} {'machine':>8}")
    for (n, mode), smp in samples.items():
        if not smp:
            continue
        ph = lambda p: median(s.phases[p] for s in smp) * 1000  # noqa: E731
        cpu = lambda f: median(f(s) for s in smp)  # noqa: E731
        say(f"{f'{n} {mode}':>16} {ph('start-up'):7.0f}ms {ph('collection'):6.0f}ms {ph('checks'):6.0f}ms "
            f"{ph('report'):6.0f}ms {ph('exit'):5.0f}ms | {cpu(lambda s: s.cpu):8.2f}s {cpu(lambda s: s.engine):6.2f}s "
            f"{cpu(lambda s: s.targets_cpu):7.2f}s {cpu(lambda s: s.busy):7.2f}s")
    say(f"  idle, no check running: engine {background[0]:.2f}, targets {background[1]:.2f}, machine "
        f"{background[2]:.2f} CPU-s per s (the stacks' healthchecks, and other work on the machine)")
    say("  collect: configure to the first check (with -n auto: the workers' start-up and collection happen in "
        "'checks');")
    say("  suite CPU: pytest and its workers; engine: dockerd, containerd, shims (runc per exec); targets: the "
        "sandbox containers; machine: every process (other work on the machine included)")

    serial = [(n, median(s.wall for s in samples[(n, "serial")])) for n in counts]
    xdist = [(n, median(s.wall for s in samples[(n, "-n auto")])) for n in counts]
    if len(counts) > 1:
        say("")
        for label, points, mode in (("serial", serial, "serial"), ("-n auto", xdist, "-n auto")):
            slope, intercept = fit(points)
            per = {p: fit([(n, median(s.phases[p] for s in samples[(n, mode)])) for n in counts])[0]
                   for p in ("checks", "report", "collection")}
            cpu = fit([(n, median(s.cpu for s in samples[(n, mode)])) for n in counts])[0]
            # Net of the idle rate over the run's wall time: the healthchecks run whatever the suite does.
            eng = fit([(n, median(s.engine + s.targets_cpu - (background[0] + background[1]) * s.wall
                                  for s in samples[(n, mode)])) for n in counts])[0]
            say(f"{label}: each target adds {slope * 1000:.0f} ms (checks {per['checks'] * 1000:.0f}, report "
                f"{per['report'] * 1000:.0f}, collection {per['collection'] * 1000:.0f}); fixed {intercept * 1000:.0f}"
                f" ms; CPU per target: suite {cpu * 1000:.0f} ms, engine and targets {eng * 1000:.0f} ms (net of idle)")
        n_max = counts[-1]
        big = samples[(n_max, "serial")]
        per_check = median((s.phases["checks"] - s.check_time) / max(1, sum(s.counts.values())) for s in big)
        spans = [s.phases["target spans"] for s in big if s.phases["target spans"]]
        if spans:
            first = median(sp[0] for sp in spans)
            rest = median(statistics.median(sp[1:]) for sp in spans if len(sp) > 1)
            say(f"serial {n_max} targets: first target's checks {first * 1000:.0f} ms, each later target "
                f"{rest * 1000:.0f} ms (median); pytest's own time between checks (the checks phase minus every "
                f"check's setup, call and teardown) {per_check * 1000:.1f} ms per check")

    say("")
    say("goals (issue 13; the faster mode of the row against the serial 1-target run):")
    for n, limit in GOALS.items():
        if n not in counts or 1 not in counts:
            say(f"  (not measured)  {n} targets within {limit:g}x of 1: run with --fleet including 1 and {n}")
            continue
        best = min(wall[(n, "serial")], wall[(n, "-n auto")]) / base
        say(f"  {'MET    ' if best <= limit else 'NOT MET'}  {n} targets within {limit:g}x the wall time of 1: "
            f"{best:.2f}x")
