"""The post-change gate (``pytest -m change``): the Standard Operating Procedures' verification after a restart, an
update or a configuration change, run as a deploy job's last step.

Restart: a ``pre-restart-*`` backup, ``docker-compose restart``, then "Verify restart: `sleep 10; curl -f
http://localhost/health`". Emergency restart: health, info and ``logs --tail=50`` checked for errors.
Configuration change: ``docker-compose config``, ``up -d``, then "Verify changes": health and ``logs --tail=20``.
Instead of a fixed sleep the gate polls, up to DIGITALME_CHANGE_WAIT_S, until the container is healthy and
``/health`` answers ``Healthy``; then every check here runs (after the wait, on what the app is now). The compose
file's validation is ``test_compose_config_valid`` (tests_resources/test_container.py), marked ``change`` too.
"""

import dataclasses
import datetime as dt
import re
import time

import pytest

from plugins.probes import ProbeError
from plugins.probes import compose
from plugins.probes.docker import parse_docker_time
from plugins.probes.logs import entries

POLL_INTERVAL_S = 0.5  # short beside Docker's healthcheck interval (30 s in the real compose file)
PRE_CHANGE_BACKUP = re.compile(r"^(pre-restart|pre-update|manual-backup)-.*\.db$")  # the manual's copies by hand
PRE_CHANGE_BACKUP_MAX_AGE_H = 1.0  # made right before the change: the procedure's step before the restart
SHOWN_ENTRIES = 20
DEFAULT_USED = "the file's default used"
BLANK = "compose would interpolate a blank"


@dataclasses.dataclass
class Wait:
    """What the gate saw while it waited for the app to be healthy."""
    limit_s: float
    waited_s: float = 0.0  # from the gate's first look to its last (the one that found it healthy, or the deadline)
    healthy: bool = False
    docker: str = ""  # "health healthy", "health starting", "exited", "running (no healthcheck)", or why not known
    docker_ok: bool = False
    docker_unknown: bool = False  # Docker did not answer (not: the container does not exist)
    answer: object = None  # the last /health Answer (plugins/probes/http.py)
    up_s: float = None  # the container's uptime when it was found healthy (StartedAt, by this machine's clock)
    seen: list = dataclasses.field(default_factory=list)  # "<s>: <what>" each time what the gate saw changed

    @property
    def health_answer(self):
        return self.answer.describe("/health") if self.answer is not None else "/health not asked"

    @property
    def degraded(self):
        return self.answer is not None and self.answer.status == 200 and self.answer.body.strip() == "Degraded"


def look_at_container(docker, container):
    """(what Docker says of the container, whether that is healthy, its StartedAt or None, whether Docker did not
    answer): read fresh, not the run's cached ``docker inspect``, since the container may be restarting or
    recreated meanwhile (a recreated one is briefly not found)."""
    try:
        state = docker.call(f"inspecting container {container}", docker.client.api.inspect_container,
                            container)["State"]
    except ProbeError as e:
        return str(e), False, None, not str(e).endswith(": not found")
    started = parse_docker_time(state["StartedAt"]) if state.get("Running") else None
    if not state.get("Running"):
        return f"container {state.get('Status', 'not running')}", False, None, False
    health = (state.get("Health") or {}).get("Status")
    if health is None:
        return "running (no healthcheck)", True, started, False
    return f"health {health}", health == "healthy", started, False


def seen_answer(answer):
    """``/health 200 'Healthy'`` or ``/health no answer (Connection refused)``: without its timing, so that the
    gate's log of what it saw lists only changes."""
    if not answer.answered:
        return f"/health no answer ({re.sub(r' after [0-9]+ ms', '', answer.error)[:100]})"
    return f"/health {answer.status} {answer.body.strip()[:40]!r}"


@pytest.fixture(scope="module")
def after_change(docker, settings):
    """Poll Docker's health and ``/health`` every POLL_INTERVAL_S until both say healthy, for at most
    DIGITALME_CHANGE_WAIT_S; the checks of the gate run after it. Never raises: the wait is judged by
    test_app_healthy_after_change."""
    from plugins.probes.http import HttpProbe
    http = HttpProbe(settings.connect_timeout_s, settings.read_timeout_s)
    wait = Wait(settings.change_wait_s)
    begun = time.monotonic()
    deadline = begun + wait.limit_s
    url = settings.base_url + "/health"
    while True:
        wait.docker, wait.docker_ok, started, wait.docker_unknown = look_at_container(docker, settings.container)
        wait.answer = http.fetch([url])[url]
        wait.waited_s = time.monotonic() - begun
        wait.healthy = wait.docker_ok and wait.answer.status == 200 and wait.answer.body.strip() == "Healthy"
        now_seen = f"{wait.docker}; {seen_answer(wait.answer)}"
        if not wait.seen or not wait.seen[-1].endswith(now_seen):
            wait.seen.append(f"{wait.waited_s:6.1f} s: {now_seen}")
        if wait.healthy:
            wait.up_s = (dt.datetime.now(dt.timezone.utc) - started).total_seconds() if started else None
            return wait
        if time.monotonic() >= deadline:
            return wait
        time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))


@pytest.mark.critical
@pytest.mark.change
@pytest.mark.manual("Standard Restart 4", "Emergency Restart 2", "Configuration Change Procedure 5")
def test_app_healthy_after_change(after_change, settings, check):
    """The app container is healthy and /health answers Healthy within {change_wait_s} s of the gate's start.

    The manual's `sleep 10; curl -f http://localhost/health`, polled, not a fixed sleep.
    """
    wait = after_change
    check.record({"healthy": wait.healthy, "waited_s": round(wait.waited_s, 1),
                  "up_s_when_healthy": round(wait.up_s, 1) if wait.up_s is not None else None,
                  "docker": wait.docker, "/health": wait.health_answer},
                 wait.limit_s, unit="s",  # the threshold of waited_s
                 trend="time-to-healthy", trend_title="Time to healthy after a change", trend_of="waited_s")
    check.attach("what the gate saw while it waited", "\n".join(wait.seen))
    if wait.healthy:
        return
    if wait.docker_unknown:  # the container's state is not known: not a finding about the app
        raise ProbeError(f"{wait.docker} (waited {wait.waited_s:.0f} s; {wait.health_answer})")
    if wait.docker_ok and wait.degraded:
        check.lower_to_warning()  # the app runs, one of its dependencies does not: as test_health_answers_healthy
    pytest.fail(f"{settings.container} not healthy after waiting {wait.waited_s:.0f} s: {wait.docker}; "
                f"{wait.health_answer} (required: Docker health healthy and /health Healthy within {wait.limit_s:g} s)")


def normalized(reference):
    """An image reference as Docker resolves it, for comparing: ``docker.io/library/nginx`` is ``nginx:latest``."""
    name, at, digest = reference.partition("@")
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if ":" not in name.rsplit("/", 1)[-1] and not at:
        name += ":latest"
    return name + at + digest


@pytest.mark.critical
@pytest.mark.change
@pytest.mark.manual("Configuration Change Procedure 4", "Weekly Maintenance 3")
def test_services_run_the_images_their_compose_file_names(after_change, docker, settings, check):
    """Every service declared in the compose file has a running container of the image the file names.

    The manual's `docker-compose -f docker-compose.production.yml up -d` (after a change, and after `docker-compose
    pull`): a file changed but not applied runs the old image.
    The file is interpolated as compose does here (the environment over the project folder's .env). An image naming
    a variable unset here is not judged on a blank: could not be checked, naming it; with a default in the file,
    a container running that default passes (`up -d` here would change nothing), another image is not judged (the
    deploying shell may have set the variable).
    """
    containers = [c for c in docker.project_containers(settings.compose_project) if not c["oneoff"]]
    declared = compose.declared_images(settings.compose_file, containers, settings.compose_project)
    if declared.images is None:
        raise ProbeError(f"the images the compose file names are not known: {declared.why_unknown}"
                         + (f" ({how_to_set(declared)})" if declared.unset else ""))
    running = {}
    for c in containers:
        if c["state"] == "running":
            image = docker.call(f"inspecting container {c['name']}", docker.client.api.inspect_container,
                                c["name"])["Config"]["Image"]
            running.setdefault(c["service"], []).append((c["name"], image))
    check.record({service: [image for _, image in running.get(service, [])] for service in declared.images},
                 {service: image if service not in declared.unset else declared.raw[service]
                  for service, image in declared.images.items()})
    check.attach("compose file", declared.compose_file)
    if declared.unset:
        check.attach("variables of the images unset here", "\n".join(
            f"{service}: {declared.raw[service]}: {unset_variables(declared.unset[service])}"
            for service in sorted(declared.unset)))
    wrong, not_judged = [], []
    for service, image in sorted(declared.images.items()):
        if service not in running:
            wrong.append(f"service {service!r} has no running container (the file names "
                         f"{declared.raw.get(service) if service in declared.unset else image})")
        for name, found in running.get(service, []):
            if normalized(found) == normalized(image) and all(d for _, d in declared.unset.get(service, ())):
                continue  # what compose would run here (a default, where the variable is unset: nothing to apply)
            if service in declared.unset:
                not_judged.append(f"{name} of service {service!r} runs {found}; the compose file names "
                                  f"{declared.raw[service]}, {unset_variables(declared.unset[service])}")
            else:
                wrong.append(f"{name} of service {service!r} runs {found}, the compose file names {image}")
    assert not wrong, ("; ".join(wrong) + f" ({declared.compose_file}: `docker-compose up -d` not applied?) "
                       "(required: every declared service runs the image its compose file names)")
    if not_judged:
        raise ProbeError("the image the deploy chose is not known here: " + "; ".join(not_judged)
                         + f" ({how_to_set(declared)})")


def unset_variables(unset):
    """``TAG unset here (compose would interpolate a blank)`` / ``TAG unset here (the file's default used)``."""
    return ", ".join(f"{name} unset here ({DEFAULT_USED if has_default else BLANK})" for name, has_default in unset)


def how_to_set(declared):
    """How to give the checker the variables the deploy set: its environment, or the project's .env."""
    names = sorted({name for unset in declared.unset.values() for name, _ in unset})
    return f"set {', '.join(names)} as the deploy does, in the checker's environment or in {declared.env_file}"


@pytest.mark.critical
@pytest.mark.change
@pytest.mark.manual("Emergency Restart 3", "Configuration Change Procedure 5")
def test_no_error_logged_since_the_container_started(after_change, docker, settings, check):
    """No fail/crit entry (or the manual's ERROR|Exception|fail: in unformatted lines) since the app container started.

    The manual's `docker-compose logs --tail=50 digitalme` (check logs for errors) and `docker-compose logs
    --tail=20`. Every line since the start is read: a start-up error scrolled past the
    last 20 lines is still one.
    """
    state = docker.call(f"inspecting container {settings.container}", docker.client.api.inspect_container,
                        settings.container)["State"]
    started = parse_docker_time(state["StartedAt"])
    # A restart keeps the container's log: the lines before StartedAt (its shutdown) are the old run's.
    since_s = (dt.datetime.now(dt.timezone.utc) - started).total_seconds() + 5
    logged = [e for e in entries(docker.logs(settings.container, since_s=since_s))
              if e.timestamp and parse_docker_time(e.timestamp) >= started]
    errors = [e for e in logged if e.is_error]
    check.record({"error entries": len(errors), "entries since start": len(logged),
                  "started": state["StartedAt"][:19] + "Z"}, {"error entries": 0})
    check.attach("error entries since the start", "\n".join(e.shown() for e in errors[-SHOWN_ENTRIES:]))
    assert not errors, (f"{len(errors)} error entr{'y' if len(errors) == 1 else 'ies'} logged since "
                        f"{settings.container} started at {state['StartedAt'][:19]}Z; "
                        f"latest: {errors[-1].one_line[:160]!r} "
                        f"(required: none)")


@pytest.mark.warning
@pytest.mark.change
@pytest.mark.manual("Standard Restart 2")
def test_pre_change_backup_made_within_the_hour(after_change, docker, settings, check):
    """A pre-restart-*, pre-update-* or manual-backup-* backup younger than an hour is in the backup folder.

    The manual's `docker exec ... cp /app/data/digitalme.db
    /app/backups/pre-restart-$(date +%Y%m%d-%H%M%S).db` ("Create backup before restart").
    """
    files = docker.container_files(settings.container, settings.db_path, settings.backup_dir)  # now, not prefetched
    if not files.backup_dir_listed:
        pytest.fail(f"{settings.backup_dir} does not exist in {settings.container} (required: a pre-change backup "
                    f"in it younger than {PRE_CHANGE_BACKUP_MAX_AGE_H:g} h)")
    copies = [f for f in files.in_folder(settings.backup_dir) if PRE_CHANGE_BACKUP.match(f.name) and f.size > 0]
    fresh = [f for f in copies if f.age_h < PRE_CHANGE_BACKUP_MAX_AGE_H]
    newest = copies[-1] if copies else None
    check.record({"newest": newest.name if newest else None,
                  "age_h": round(newest.age_h, 2) if newest else None}, {"age_h": PRE_CHANGE_BACKUP_MAX_AGE_H}, unit="h")
    check.attach("ls -la /app/backups | tail",
                 "\n".join(f.ls_line() for f in files.in_folder(settings.backup_dir)[-10:]))
    assert fresh, (f"no pre-restart-*, pre-update-* or manual-backup-* backup younger than "
                   f"{PRE_CHANGE_BACKUP_MAX_AGE_H:g} h in {settings.backup_dir}"
                   + (f" (newest: {newest.name}, {newest.age_h:.1f} h old)" if newest else " (none at all)")
                   + f" (required: one younger than {PRE_CHANGE_BACKUP_MAX_AGE_H:g} h)")
