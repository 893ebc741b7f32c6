"""The sandbox never touches a real deployment: a stand-in production stack (compose project ``digitalme``, a
marker file in its data volume) survives ``make demo``, ``make benchmark``, ``make demo-down`` and the selftests'
own cleanup, and ``scripts/sandbox.sh`` refuses to stop a project that is not the sandbox's.

The stand-in carries a label of its own (STANDIN_LABEL, with this session's pid), not the sandbox label: only this
module removes it, at the end. A real ``digitalme`` project on the machine (anything of it without the stand-in
label) makes these tests skip: they never touch it.
"""

import json
import os
import re
import secrets
import socket
import subprocess

import pytest

import schema_check

from test_alerts import Receiver
from test_baseline import is_host_finding
from sandbox import (COMPOSE_FILE, PROJECT_PREFIX, REPO, SANDBOX_LABEL, compose_binary, free_ports,
                     remove_stale_stacks)

pytestmark = pytest.mark.sandbox

STANDIN_LABEL = "io.digitalme-ops.selftest-standin"
PRODUCTION = "digitalme"  # the real deployment's compose project name (container digitalme-digitalme-1)
SANDBOX_PROJECT = f"dmsafety{os.getpid()}"  # the make targets' sandbox here, beside any demo a developer runs


def docker(*args, check=True, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def project_resources(project):
    """Every container, volume and network of a compose project (by its label, or by compose's <project>_ names),
    as (kind, name, labels as JSON text) tuples."""
    found = []
    for kind, listing, labels in (("container", ["ps", "-a", "-q"], "{{json .Config.Labels}}"),
                                  ("volume", ["volume", "ls", "-q"], "{{json .Labels}}"),
                                  ("network", ["network", "ls", "-q"], "{{json .Labels}}")):
        ids = docker(*listing).stdout.split()
        inspect = ["inspect"] if kind == "container" else [kind, "inspect"]
        # One inspect for all of a kind; a resource removed meanwhile makes it exit 1 but the rest are printed.
        lines = docker(*inspect, "-f", "{{.Name}}\t" + labels, *ids, check=False).stdout.splitlines() if ids else []
        for line in lines:
            name, _, label_text = line.partition("\t")
            name = name.lstrip("/")
            if f'"com.docker.compose.project":"{project}"' in label_text or name.startswith(f"{project}_"):
                found.append((kind, name, label_text))
    return found


def port_taken(port):
    """Something answers on 127.0.0.1:port, or it cannot be bound."""
    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class StandIn:
    """A compose project started from a tiny compose file of this test: the sandbox image sleeping, a named data
    volume holding a marker file written at start, everything labelled STANDIN_LABEL=<this pid>."""

    def __init__(self, folder, project, ports=()):
        self.project = project
        self.marker = secrets.token_hex(8)
        self.file = folder / f"{project}.yml"
        labels = f'\n    labels:\n      {STANDIN_LABEL}: "{os.getpid()}"'  # same indentation at all three places
        ports = "".join(f'\n      - "127.0.0.1:{p}:{p}"' for p in ports) or " []"
        self.file.write_text(
            f"services:\n  digitalme:{labels}\n    image: digitalme-sandbox:latest\n    user: root\n"
            f'    entrypoint: ["sh", "-c", "echo {self.marker} > /app/data/marker && exec sleep infinity"]\n'
            f"    volumes: [digitalme-data:/app/data]\n    ports:{ports}\n"
            f"volumes:\n  digitalme-data:{labels}\n"
            f"networks:\n  default:{labels}\n")
        self.compose("up", "--detach", "--wait", "--wait-timeout", "60")
        self.container_id = self.container()

    def compose(self, *args):
        return subprocess.run([*compose_binary(), "-p", self.project, "-f", str(self.file), *args],
                              capture_output=True, text=True, timeout=120, check=True)

    def container(self):
        return docker("ps", "-a", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={self.project}",
                      "--filter", f"label={STANDIN_LABEL}={os.getpid()}").stdout.strip()

    def assert_intact(self, after):
        """Same container (id), still running, marker still in its data volume."""
        now = self.container()
        assert now == self.container_id, \
            f"after {after}: stand-in {self.project} container id {now[:12] or 'gone'}, was {self.container_id[:12]}"
        running = docker("inspect", "-f", "{{.State.Running}}", now, check=False).stdout.strip()
        assert running == "true", f"after {after}: stand-in {self.project} container running={running!r}, expected true"
        marker = docker("exec", now, "cat", "/app/data/marker", check=False).stdout.strip()
        assert marker == self.marker, \
            f"after {after}: marker in {self.project}'s data volume is {marker!r}, expected {self.marker!r}"

    def remove(self):
        """Only ever this session's stand-in: everything of the project must carry STANDIN_LABEL=<our pid>."""
        ours = f'"{STANDIN_LABEL}":"{os.getpid()}"'
        if all(ours in labels for _, _, labels in project_resources(self.project)):
            self.compose("down", "--volumes", "--timeout", "1")


def machine_finding(check):
    """A finding about the machine running these tests, not about the sandbox the demo targets: its CPU (the other
    selftests keep it busy) or its pending security updates (test_baseline's rule)."""
    return (check["outcome"] == "failed" and check["id"].split("::")[-1].startswith("test_cpu_below_threshold")) \
        or is_host_finding(check)


def make(*args, report_dir, production_env=None, timeout=900):
    """A make target of the repository, run as a developer would, on the test's own sandbox project; with
    ``production_env``, from a shell where an operator exported production's DIGITALME_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DIGITALME_", "MAKE")) and k not in ("MFLAGS", "SANDBOX_PROJECT")}
    env.update({"SANDBOX_PROJECT": SANDBOX_PROJECT, "DIGITALME_ALERTS": "off", "DIGITALME_REPORT_DIR": str(report_dir),
                "DEMO_REPORT_DIR": str(report_dir), **(production_env or {})})
    before = schema_check.results_files(report_dir)
    done = subprocess.run(["make", "-C", str(REPO), "--no-print-directory", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    schema_check.assert_results_files(report_dir, before)  # what the run wrote matches the published schema
    return done



@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The stand-in production stack, holding 127.0.0.1:80 and :443 where they were free."""
    if docker("info", check=False).returncode != 0:
        pytest.skip("no Docker daemon answers")
    foreign = [f"{kind} {name}" for kind, name, labels in project_resources(PRODUCTION) if STANDIN_LABEL not in labels]
    if foreign:
        pytest.skip(f"a real compose project {PRODUCTION!r} exists on this machine ({', '.join(foreign)}): "
                    "not touched, so the stand-in cannot take its place")
    leftovers = {labels for _, _, labels in project_resources(PRODUCTION)}
    for labels in leftovers:  # a stand-in of a session still running: leave it to that session
        pid = re.search(f'"{re.escape(STANDIN_LABEL)}":"(\\d+)"', labels).group(1)
        if os.path.exists(f"/proc/{pid}"):
            pytest.skip(f"the stand-in of another selftest session (pid {pid}) is running")
    folder = tmp_path_factory.mktemp("standin")
    if leftovers:  # left by a killed session of this test (every resource carries the stand-in label)
        subprocess.run([*compose_binary(), "-p", PRODUCTION, "down", "--volumes", "--timeout", "1"],
                       capture_output=True, timeout=120, cwd=folder)
    held = [p for p in (80, 443) if not port_taken(p)]
    stand_in = StandIn(folder, PRODUCTION, ports=held)
    stand_in.held_ports = held
    stand_in.reports = folder / "reports"
    try:
        yield stand_in
    finally:
        make("demo-down", report_dir=stand_in.reports)
        stand_in.remove()


def test_make_targets_leave_a_foreign_digitalme_project_alone(production):
    """`make demo`, `make benchmark` and `make demo-down` act on the sandbox only; a deployment's project survives.

    Manual: none (issue 10, point 1): the suite is cloned onto the production host; its demo must not touch it.
    """
    receiver = Receiver()
    production_reports = production.reports.parent / "production-reports"
    exported = {  # what an operator exports for the real deployment (README), then runs the demo in that shell
        "DIGITALME_CONTAINER": "digitalme-digitalme-1", "DIGITALME_COMPOSE_PROJECT": PRODUCTION,
        "DIGITALME_ALERTS": "on", "DIGITALME_WEBHOOK_URL": receiver.url("/hook"),
        "DIGITALME_HEARTBEAT_URL": receiver.url("/ping"), "DIGITALME_REPORT_DIR": str(production_reports)}
    try:
        demo = make("demo", report_dir=production.reports, production_env=exported)
    finally:
        receiver.stop()
    production.assert_intact("make demo")
    assert not receiver.requests, f"the demo reached production's webhook or heartbeat: {receiver.requests}"
    assert not production_reports.exists(), f"the demo wrote into production's report folder {production_reports}"
    # make exits 2 whenever a recipe fails: demo.sh's own exit 1 (checks failed) shows as "demo] Error 1".
    checks_failed = demo.returncode == 2 and re.search(r"demo\] Error 1$", demo.stderr.strip())
    latest = production.reports / "latest.json"
    assert (demo.returncode == 0 or checks_failed) and latest.exists(), \
        f"make demo exited {demo.returncode} (expected 0, or demo.sh's 1 for failed checks) with " \
        f"{'a' if latest.exists() else 'no'} results file:\n{demo.stdout[-3000:]}\n{demo.stderr[-2000:]}"
    results = json.loads(latest.read_text())
    bad = [c for c in results["checks"] if c["outcome"] not in ("passed", "skipped") and not machine_finding(c)]
    assert not bad, "the demo did not pass on its sandbox: " + "; ".join(f"{c['id']}: {c['message']}" for c in bad)
    for port in production.held_ports:  # ports taken by the stand-in: the demo says so and moves
        assert f"127.0.0.1:{port} is taken" in demo.stdout + demo.stderr, \
            f"make demo did not say that 127.0.0.1:{port} is taken:\n{demo.stdout[-2000:]}"
    urls = re.search(r"the sandbox answers on (\S+) and (\S+)", demo.stdout)
    assert urls, f"make demo did not say which URLs the sandbox answers on:\n{demo.stdout[-2000:]}"
    if production.held_ports:
        assert urls.group(1) != "http://localhost", f"sandbox on {urls.group(1)} although the stand-in holds port 80"
    unlabelled = [f"{kind} {name}" for kind, name, labels in project_resources(SANDBOX_PROJECT)
                  if '"{}":"{}"'.format(*SANDBOX_LABEL.split("=")) not in labels]
    assert not unlabelled, f"sandbox resources without the label {SANDBOX_LABEL}: {unlabelled}"

    bench = make("benchmark", "BENCHMARK_RUNS=1", "BENCHMARK_FLEET=", "BENCHMARK_HISTORY=",
                 report_dir=production.reports)
    assert bench.returncode == 0, \
        f"make benchmark exited {bench.returncode}, expected 0:\n{bench.stdout[-3000:]}\n{bench.stderr[-2000:]}"
    production.assert_intact("make benchmark")
    assert f"the sandbox answers on {urls.group(1)} and {urls.group(2)}" in bench.stdout, \
        f"make benchmark did not reuse the demo's sandbox on {urls.group(1)}:\n{bench.stdout[-2000:]}"
    assert "did not come out clean" not in bench.stdout, \
        f"benchmark runs failed (wrong target?):\n{bench.stdout[-2000:]}"

    down = make("demo-down", report_dir=production.reports)
    assert down.returncode == 0, \
        f"make demo-down exited {down.returncode}, expected 0:\n{down.stdout[-2000:]}\n{down.stderr[-2000:]}"
    production.assert_intact("make demo-down")
    left = [f"{kind} {name}" for kind, name, _ in project_resources(SANDBOX_PROJECT)]
    assert not left, f"make demo-down left sandbox resources behind: {left}"


def test_sandbox_refuses_to_stop_a_project_without_its_label(production):
    """sandbox.sh down/up on a project whose resources lack the sandbox label refuse in one line and touch nothing.

    Manual: none (issue 10, point 1): `SANDBOX_PROJECT=digitalme make demo-down` must not remove production.
    """
    for command in (["scripts/sandbox.sh", "down"], ["scripts/sandbox.sh", "up"], ["make", "demo-down"]):
        done = subprocess.run(command, cwd=REPO, env={**os.environ, "SANDBOX_PROJECT": PRODUCTION},
                              capture_output=True, text=True, timeout=300)
        message = done.stderr.strip().splitlines()
        assert done.returncode != 0, f"{' '.join(command)} on project {PRODUCTION} exited 0: {done.stdout[-1000:]}"
        refusal = [line for line in message if "refusing to touch compose project 'digitalme'" in line]
        assert refusal and "container digitalme-digitalme-1" in refusal[0] \
            and "volume digitalme_digitalme-data" in refusal[0] and SANDBOX_LABEL in refusal[0], \
            f"{' '.join(command)}: expected a line refusing, naming the foreign container and volume; got {message}"
        production.assert_intact(" ".join(command))


def test_stale_stack_cleanup_removes_only_labelled_sandboxes(production, tmp_path):
    """The selftests' cleanup removes a dead session's sandbox and a dead xdist worker's, never a live worker's (of
    this run or another), nor a look-alike project without the label.

    Manual: none (issue 10, point 1): cleanup lists by the sandbox label, never by project name alone.
    """
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    dead = [pid_max + 1, pid_max + 2, pid_max + 3]  # pids no process can have: their sessions are certainly gone
    look_alike = StandIn(tmp_path, f"{PROJECT_PREFIX}{dead[0]}")  # named like a dead session's, not labelled
    stale = [f"{PROJECT_PREFIX}{dead[1]}", f"{PROJECT_PREFIX}{dead[2]}-gw1"]  # a dead session's, a dead worker's
    live = f"{PROJECT_PREFIX}{os.getpid()}-gw99"  # a worker's whose process runs (this one stands for it)
    http, https = free_ports(2)
    try:  # from here on, whatever fails, the look-alike and the sandboxes are removed
        for project in (*stale, live):  # real sandboxes, created, not started: no ports needed
            subprocess.run([*compose_binary(), "-p", project, "-f", str(COMPOSE_FILE), "create"], capture_output=True,
                           text=True, timeout=120, check=True,
                           env={**os.environ, "SANDBOX_HTTP_PORT": str(http), "SANDBOX_HTTPS_PORT": str(https)})
        assert all(project_resources(p) for p in (*stale, live)), "the sandboxes to clean up were not created"
        live_before = sorted((kind, name) for kind, name, _ in project_resources(live))
        remove_stale_stacks()
        production.assert_intact("the selftests' stale-stack cleanup")
        look_alike.assert_intact("the selftests' stale-stack cleanup")
        left = [f"{kind} {name}" for project in stale for kind, name, _ in project_resources(project)]
        assert not left, f"the dead sessions' labelled sandboxes {stale} were not removed: {left}"
        kept = sorted((kind, name) for kind, name, _ in project_resources(live))
        assert kept == live_before, f"the live worker's sandbox {live} was touched: {live_before} -> {kept}"
    finally:
        look_alike.remove()
        for project in (*stale, live):
            subprocess.run([*compose_binary(), "-p", project, "-f", str(COMPOSE_FILE), "down", "--volumes"],
                           capture_output=True, timeout=120)
