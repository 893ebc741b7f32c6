"""Control of a private sandbox DigitalMe stack for the suite's own tests: start it from a known state, break it
on purpose, restore it.

The stack is the real sandbox (same image and compose file as ``make demo``) under its own compose project and
ports, with its own control, certificate and .env folders, so tests never disturb a demo that is running.
Like the demo's, it carries the sandbox label, and only what carries it is ever stopped or removed here.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plugins.configuration.settings import RUN_WIDE
from plugins.probes.compose import compose_command as compose_binary  # the suite's own lookup (pythonpath ..)

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "sandbox" / "docker-compose.production.yml"
PROJECT_PREFIX = "dmselftest"
SANDBOX_SH = REPO / "scripts" / "sandbox.sh"
# Carried by every container, volume and network of a sandbox (set in the compose file, never on the image, so
# that another stack from the same image does not carry it).
SANDBOX_LABEL = "io.digitalme-ops.sandbox=true"


def free_ports(count):
    """Ports free on 127.0.0.1 now, so two test sessions on one machine never collide."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# One private stack per test session, and under pytest-xdist per worker (each worker is a session of its own): its
# own compose project, container name and ports. The project is named after the process that owns the stack, and
# the worker's id where there is one: dmselftest<pid> or dmselftest<pid>-gw<n>.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PROJECT = f"{PROJECT_PREFIX}{os.getpid()}" + (f"-{WORKER}" if WORKER else "")
OWNER = re.compile(rf"{PROJECT_PREFIX}(\d+)(-gw\d+)?")
CONTAINER = f"{PROJECT}-digitalme-1"
# Carried by the images this session builds (Sandbox.rebuild_image): only those are ever removed by it.
OWN_IMAGE_LABEL = f"io.digitalme-ops.selftest-image={PROJECT}"
HTTP_PORT, HTTPS_PORT = free_ports(2)


def refusal_to_touch(project):
    """None when every container, volume and network of the project carries the sandbox label; otherwise the one-line
    refusal of ``scripts/sandbox.sh check`` naming what is foreign (the same rule as ``make demo-down``)."""
    done = subprocess.run([str(SANDBOX_SH), "check"], env={**os.environ, "SANDBOX_PROJECT": project},
                          capture_output=True, text=True, timeout=120)
    return None if done.returncode == 0 else (done.stderr.strip() or f"sandbox.sh check: exit {done.returncode}")


def owner_is_gone(project):
    """The project is a selftest session's (dmselftest<pid>, or -gw<n> for an xdist worker) whose process is gone. A
    live session's or worker's stack is never stale, whatever else runs; a project not of this form is never judged."""
    owner = OWNER.fullmatch(project)
    return bool(owner) and not os.path.exists(f"/proc/{owner.group(1)}")


def remove_stale_stacks():
    """Remove the stacks of earlier sessions that died (CI ends what it finds): projects dmselftest<pid>[-gw<n>]
    whose process is gone, found by the sandbox label (never by name alone), and only when all of it carries the
    label."""
    listed = set()
    for kind in (["ps", "-a"], ["volume", "ls"], ["network", "ls"]):
        out = subprocess.run(["docker", *kind, "--filter", f"label={SANDBOX_LABEL}", "--format",
                              '{{.Label "com.docker.compose.project"}}'], capture_output=True, text=True, timeout=60)
        listed.update(out.stdout.split())
    for project in sorted(listed):
        if not owner_is_gone(project):
            continue
        refusal = refusal_to_touch(project)
        if refusal:
            print(f"selftests: stale stack left alone: {refusal}", file=sys.stderr)
            continue
        subprocess.run([*compose_binary(), "-p", project, "-f", str(COMPOSE_FILE), "down", "--volumes",
                        "--remove-orphans", "--timeout", "1"], capture_output=True, timeout=120)
    remove_stale_images()


def remove_stale_images():
    """The images dead sessions built (Sandbox.rebuild_image), by their label naming a session whose process is gone;
    ``docker image rm`` without force leaves any a container still uses."""
    out = subprocess.run(["docker", "images", "--filter", f"label={OWN_IMAGE_LABEL.partition('=')[0]}", "--format",
                          '{{.ID}} {{.Label "' + OWN_IMAGE_LABEL.partition("=")[0] + '"}}'],
                         capture_output=True, text=True, timeout=60)
    for line in out.stdout.splitlines():
        image, _, project = line.partition(" ")
        if owner_is_gone(project):
            subprocess.run(["docker", "image", "rm", image], capture_output=True, timeout=60)


class Sandbox:
    """A running sandbox stack and the means to inject faults into it."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="digitalme-sandbox-"))
        self.control_dir = self.folder / "control"
        self.certs_dir = self.folder / "certs"
        self.env_file = self.folder / "deployment.env"
        self.control_dir.mkdir()
        self.recreate_on_restore = False  # injected log lines and overrides stay until the container is recreated
        self.make_certificate(days=365)
        self.env_file.write_text(
            "ANTHROPIC_API_KEY=sk-ant-selftest-0123456789abcdef0123456789abcdef\n"
            "JWT_KEY=selftest-jwt-key-that-is-longer-than-thirty-two-characters\n"
            "DOMAIN=localhost\nASPNETCORE_ENVIRONMENT=Production\n")
        self.env_file.chmod(0o600)
        self.compose_env = {
            **os.environ,
            "SANDBOX_HTTP_PORT": str(HTTP_PORT), "SANDBOX_HTTPS_PORT": str(HTTPS_PORT),
            "SANDBOX_CONTROL_DIR": str(self.control_dir), "SANDBOX_CERTS_DIR": str(self.certs_dir),
            "SANDBOX_ENV_FILE": str(self.env_file),
            "SANDBOX_HEALTH_INTERVAL": "1s", "SANDBOX_HEALTH_RETRIES": "2", "SANDBOX_HEALTH_START_PERIOD": "0s",
            "SANDBOX_WRITE_INTERVAL_S": "5",
        }

    # --- the suite's view of it -------------------------------------------------------------------

    @property
    def settings_env(self):
        """The DIGITALME_* settings that point the suite at this sandbox."""
        return {
            "DIGITALME_BASE_URL": f"http://127.0.0.1:{HTTP_PORT}",
            "DIGITALME_HTTPS_URL": f"https://127.0.0.1:{HTTPS_PORT}",
            "DIGITALME_COMPOSE_FILE": str(COMPOSE_FILE),
            "DIGITALME_COMPOSE_PROJECT": PROJECT,
            "DIGITALME_CONTAINER": CONTAINER,
            "DIGITALME_ENV_FILE": str(self.env_file),
            "DIGITALME_ALERTS": "off",
            "DIGITALME_MAINTENANCE_WINDOW": "off",
        }

    # --- life cycle ---------------------------------------------------------------------------------

    def compose(self, *args, check=True, timeout=180, override=None):
        """docker-compose on this stack (with an override file on top of the real one, if given)."""
        files = ["-f", str(COMPOSE_FILE)] + (["-f", str(override)] if override else [])
        return subprocess.run([*compose_binary(), "-p", PROJECT, *files, *args],
                              env=self.compose_env, capture_output=True, text=True, timeout=timeout, check=check)

    def up(self):
        """Start from a known state: stacks of earlier sessions that died are removed, and so is anything already
        under this session's project name, but only if it carries the sandbox label (else: refused, untouched)."""
        self.remove_stale_stacks()
        refusal = refusal_to_touch(PROJECT)
        if refusal:
            raise subprocess.CalledProcessError(3, ["scripts/sandbox.sh", "check"], stderr=refusal)
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "1", check=False)
        self.compose("up", "--detach", "--wait", "--wait-timeout", "90")

    def remove_stale_stacks(self):
        remove_stale_stacks()

    def down(self):
        """Remove the stack with its volumes, if (still) all of it carries the sandbox label; else refuse loudly."""
        refusal = refusal_to_touch(PROJECT)
        if not refusal:
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "1", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        if refusal:
            raise RuntimeError(refusal)

    def docker(self, *args, check=True, timeout=60):
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)

    def exec(self, script, user="root"):
        """A shell script inside the app container (as root by default: faults go where the app cannot)."""
        return self.docker("exec", "-u", user, CONTAINER, "sh", "-c", script)

    def inspect(self, template):
        return self.docker("inspect", "-f", template, CONTAINER, check=False).stdout.strip()

    def wait_healthy(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.inspect("{{.State.Running}} {{.State.Health.Status}}") == "true healthy":
                return
            time.sleep(0.2)
        raise AssertionError(f"sandbox not healthy after {timeout} s: {self.inspect('{{json .State}}')}")

    def wait_for(self, template, expected, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.inspect(template) == expected:
                return
            time.sleep(0.2)
        raise AssertionError(f"{template} never became {expected!r}: {self.inspect(template)!r}")

    def restore(self):
        """Back to healthy after a scenario: no control files, a valid certificate, the container running."""
        for path in self.control_dir.iterdir():
            path.unlink()
        self.make_certificate(days=365)
        self.env_file.chmod(0o600)
        if self.recreate_on_restore or self.inspect("{{.State.Running}}") != "true" or self.inspect("{{.RestartCount}}") != "0":
            self.compose("up", "--detach", "--wait", "--wait-timeout", "90", "--force-recreate")
            self.recreate_on_restore = False
        self.wait_healthy()

    # --- faults -------------------------------------------------------------------------------------

    def control(self, name, value=""):
        """Write a control file the sandbox app reads on every request."""
        path = self.control_dir / name
        path.write_text(value)
        path.chmod(0o644)

    def make_certificate(self, days, not_before_days=1):
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_cert.py"), str(self.certs_dir),
                        "--days", str(days), "--not-before-days", str(not_before_days), "--force"], check=True)

    def recreate_with(self, override_text):
        """Recreate the container with a compose override (privileged, no log options...); restore() undoes it."""
        override = self.folder / "override.yml"
        override.write_text(override_text)
        self.recreate_on_restore = True
        self.compose("up", "--detach", "--wait", "--force-recreate", override=override)

    @contextlib.contextmanager
    def moved_aside(self, path):
        """Move a file in the container out of the way for the scenario, then put it back."""
        self.exec(f"mv {path} {path}.selftest-aside")
        try:
            yield
        finally:
            self.exec(f"mv {path}.selftest-aside {path}")

    @contextlib.contextmanager
    def preserved(self, folder):
        """Keep a copy of a folder in the container (owners, modes, times) and put it back after the scenario."""
        aside = "/tmp/selftest-preserved" + folder.replace("/", "_")
        self.exec(f"rm -rf {aside} && cp -a {folder} {aside}")
        try:
            yield
        finally:
            self.exec(f"rm -rf {folder}/* && cp -a {aside}/. {folder}/ && rm -rf {aside}")

    def python(self, code, user="digitalme"):
        """Python inside the container, as the app's user by default (files it writes stay the app's)."""
        return self.docker("exec", "-u", user, CONTAINER, "python3", "-c", code)

    def log_line(self, text):
        """Write a line into the container's log stream, as the app itself would (PID 1's stdout)."""
        self.exec(f"printf '%s\\n' {shell_quote(text)} > /proc/1/fd/1", user="digitalme")
        self.recreate_on_restore = True

    def log_entry(self, level, category, message, stack=()):
        """Write one log entry as ASP.NET's console logger does, in one write: ``<level>: <Category>[<EventId>]``,
        then the message and an exception's lines (``stack``) each indented by six spaces."""
        text = "\n".join([f"{level}: {category}"] + ["      " + line for line in (message, *stack)])
        self.log_line(text)

    def app_logs_secret(self, kind, timeout=15):
        """Have the app write a credential into its own log (control ``log_secret``: ``api_key`` or ``password``),
        and wait until the entry is in the container's log. It stays there until the container is recreated."""
        category = {"api_key": "DigitalMe.Services.ClaudeApiService[1001]",
                    "password": "Microsoft.EntityFrameworkCore.Infrastructure[10403]"}[kind]
        before = self.docker("logs", CONTAINER).stdout.count(category)
        self.control("log_secret", kind)
        self.recreate_on_restore = True
        deadline = time.monotonic() + timeout
        while self.docker("logs", CONTAINER).stdout.count(category) == before:
            assert time.monotonic() < deadline, f"the sandbox did not log {category} within {timeout} s"
            time.sleep(0.2)

    def recreate_without_waiting(self, override_text):
        """Recreate the container with a compose override and return at once (its health may still be
        `starting`: ``--wait`` would wait for healthy); restore() undoes it."""
        override = self.folder / "override-nowait.yml"
        override.write_text(override_text)
        self.recreate_on_restore = True
        self.compose("up", "--detach", "--force-recreate", override=override)


    # --- images: a tag of the session's own, so that the shared digitalme-sandbox:latest is never moved -----------

    @contextlib.contextmanager
    def own_image(self):
        """The container recreated from a tag of this session's own (``digitalme-sandbox:<project>``, the same image
        as the stack's), so that a scenario may move that tag while other stacks keep theirs. Afterwards the
        container runs the stack's image again, and the own tag and every image built under it (labelled with the
        session's project) are removed: nothing else is touched."""
        before = self.compose_env.get("SANDBOX_IMAGE")
        tag = f"digitalme-sandbox:{PROJECT}"
        self.docker("tag", before or "digitalme-sandbox:latest", tag)
        self.compose_env["SANDBOX_IMAGE"] = tag
        self.recreate_on_restore = True
        try:
            self.compose("up", "--detach", "--wait", "--wait-timeout", "90", "--force-recreate")
            yield tag
        finally:
            if before is None:
                del self.compose_env["SANDBOX_IMAGE"]
            else:
                self.compose_env["SANDBOX_IMAGE"] = before
            self.compose("up", "--detach", "--wait", "--wait-timeout", "90", "--force-recreate")
            self.recreate_on_restore = False
            self.docker("image", "rm", tag, check=False)
            built = self.docker("images", "-q", "--filter", f"label={OWN_IMAGE_LABEL}", check=False).stdout.split()
            for image in dict.fromkeys(built):
                self.docker("image", "rm", image, check=False)

    def rebuild_image(self, tag):
        """``docker build`` a tiny layer on top of ``tag`` under the same tag (labelled as this session's): what a
        pull or a rebuild leaves while the container still runs the old image. Returns the new image's id."""
        context = self.folder / "rebuild"
        context.mkdir(exist_ok=True)
        (context / "Dockerfile").write_text(f"FROM {tag}\nCOPY rebuilt.txt /app/rebuilt.txt\n")
        (context / "rebuilt.txt").write_text(f"rebuilt by the selftests at {time.time()}\n")
        self.docker("build", "-q", "--label", OWN_IMAGE_LABEL, "-t", tag, str(context), timeout=300)
        return self.docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()


def shell_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def targets_file(folder, env, **per_target):
    """A targets file naming each target of ``per_target`` ({name: {key: value}}), each pointing at the sandbox
    of ``env`` (its DIGITALME_* settings as TOML keys: the prefix dropped, lowercased) plus its own keys."""
    shared = {k[len("DIGITALME_"):].lower(): v for k, v in env.items() if k.startswith("DIGITALME_")}
    shared = {k: v for k, v in shared.items() if k not in RUN_WIDE}  # the run's own settings stay in the env
    lines = []
    for name, own in per_target.items():
        lines.append(f"[targets.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in {**shared, **own}.items()]
    path = folder / "targets.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
