"""Container resource monitoring, Performance Monitoring inside the container, Weekly Maintenance 1 (log rotation
and cleanup), and the Configuration Change Procedure's validation step.

``docker stats --no-stream digitalme-digitalme-1``; ``docker exec digitalme-digitalme-1 cat /proc/meminfo | grep
MemAvailable``, ``cat /proc/loadavg``; ``docker image prune -f``, ``docker container prune -f``;
``docker-compose -f docker-compose.production.yml config``.
"""

import os

import pytest

from plugins.probes import ProbeError, compose
from plugins.units import mib

# Drivers that rotate by themselves or keep nothing on the host's disk.
SELF_ROTATING_LOG_DRIVERS = {"local", "journald", "syslog", "fluentd", "gelf", "awslogs", "splunk", "gcplogs", "none"}


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Container Memory")
def test_container_memory_below_limit(container_memory, settings, check):
    """The app container's memory is below {container_memory_max}.

    The manual's `docker stats --no-stream digitalme-digitalme-1`, "Container Memory: >2GB".
    """
    used, _limit = container_memory
    check.record(used, settings.container_memory_max, unit="bytes",
                 trend="container-memory", trend_title="Container memory")
    assert used < settings.container_memory_max, (
        f"{settings.container} uses {mib(used)} (required: below {mib(settings.container_memory_max)})")


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Key Performance Metrics: Resource Utilization")
def test_memory_available_in_container(inside_container, container_memory, settings, check):
    """Memory in use as the app container sees it (MemAvailable, within its limit) is below {memory_max_pct} %.

    The manual's `docker exec digitalme-digitalme-1 cat /proc/meminfo | grep MemAvailable`.
    /proc/meminfo shows the host's memory; a memory limit (``docker stats``) caps what the app may still take, so
    what it has left is the smaller of MemAvailable and the limit less its use, out of the smaller of the two totals.
    """
    figures = inside_container
    used, limit = container_memory
    limited = 0 < limit < figures.mem_total
    usable = limit if limited else figures.mem_total
    available = min(figures.mem_available, max(0, limit - used)) if limited else figures.mem_available
    used_pct = round(100 * (1 - available / usable), 1)
    check.record({"mem_available": figures.mem_available, "mem_total": figures.mem_total,
                  "limit": limit if limited else None, "available": available, "used_pct": used_pct},
                 settings.memory_max_pct, unit="bytes|pct",  # the threshold of used_pct
                 trend="container-memory-seen", trend_of="used_pct",
                 trend_title="Memory in use, as the container sees it")
    assert used_pct < settings.memory_max_pct, (
        f"{settings.container} has {mib(available)} of {mib(usable)} left: {used_pct:g} % in use "
        f"(MemAvailable {mib(figures.mem_available)}"
        + (f", limit {mib(limit)} of which it uses {mib(used)})" if limited else ", no memory limit)")
        + f" (required: below {settings.memory_max_pct:g} % in use)")


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
@pytest.mark.manual("Key Performance Metrics: Resource Utilization")
def test_load_in_container_below_threshold(inside_container, settings, check):
    """The load the app container sees is not sustained CPU starvation: the 5-minute load per CPU it sees and its own
    CPU use now (a share of the CPUs it may use) are not both at {cpu_max_pct} %.

    The manual's `docker exec digitalme-digitalme-1 cat /proc/loadavg`; "CPU >90 %".
    The load counts every task of the host (and tasks waiting on disk): alone it is not the app's CPU use, so it
    is judged with the container's own CPU use since the previous run (1 s to 6 min ago) or over a 0.25 s sample,
    as the host's CPU check is; the evidence "CPU use measured" says which.
    """
    figures = inside_container
    load_pct = round(figures.load5_per_cpu_pct, 1)
    check.record({"load1": figures.load[0], "load5": figures.load[1], "load15": figures.load[2],
                  "cpus_seen": figures.cpus_seen, "cpus_allowed": figures.cpus_allowed,
                  "load5_per_cpu_pct": load_pct, "busy_pct_now": figures.busy_pct},
                 settings.cpu_max_pct, unit="number|pct",  # of both percentages, as the host's CPU check
                 trend="container-cpu", trend_title="Container CPU use", trend_of="busy_pct_now")
    check.attach("CPU use measured", figures.busy_measured)
    if figures.busy_pct is None:
        raise ProbeError(f"the CPU use of {settings.container} could not be read from its cgroup (load "
                         f"{figures.load[1]:g} on {figures.cpus_seen} CPUs)")
    over = "now" if figures.busy_measured.startswith("sampled") else figures.busy_measured.split(";")[0]
    assert not (load_pct >= settings.cpu_max_pct and figures.busy_pct >= settings.cpu_max_pct), (
        f"{settings.container} busy at {figures.busy_pct:g} % of its {figures.cpus_allowed:g} CPU(s) {over} and "
        f"{load_pct:g} % 5-minute load per CPU it sees (load {figures.load[1]:g} on {figures.cpus_seen}) "
        f"(required: not both at {settings.cpu_max_pct:g} % or above)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 1")
def test_log_rotation_configured(app_container, settings, check):
    """The app container's logs rotate (json-file with max-size, or a driver that rotates by itself).

    The manual's log rotation (the image has no logrotate: Docker's log driver rotates).
    """
    log_config = app_container["HostConfig"]["LogConfig"]
    driver, options = log_config.get("Type", "?"), log_config.get("Config") or {}
    check.record({"driver": driver, **options}, "json-file with max-size, or a self-rotating driver")
    if driver in SELF_ROTATING_LOG_DRIVERS:
        return
    assert driver == "json-file" and options.get("max-size"), (
        f"{settings.container} logs with {driver!r} and no max-size: its log file grows without bound "
        f"(required: json-file with max-size, or a driver that rotates by itself)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 1")
def test_reclaimable_docker_space_below_limit(docker, settings, check):
    """Reclaimable Docker space (dangling images, stopped containers) is below {docker_reclaimable_max}.

    The manual's `docker image prune -f` and `docker container prune -f`.
    """
    space = docker.reclaimable_space()
    check.record(space.size, settings.docker_reclaimable_max, unit="bytes")
    assert space.size < settings.docker_reclaimable_max, (
        f"{mib(space.size)} reclaimable ({space.dangling_images} dangling image(s), "
        f"{space.stopped_containers} stopped container(s)): prune them "
        f"(required: below {mib(settings.docker_reclaimable_max)})")


@pytest.mark.critical
@pytest.mark.weekly
@pytest.mark.change
@pytest.mark.manual("Configuration Change Procedure 3")
def test_compose_config_valid(settings, check):
    """`docker compose -f <file> config` validates the deployment's compose file (which must exist).

    The manual's `docker-compose -f docker-compose.production.yml config`.
    Interpolated as compose does here (the environment over the project's .env): a required variable (`${TAG:?}`)
    unset here is could not be checked, naming it, not an invalid file.
    """
    path = settings.compose_file
    validation = compose.validate(path)
    if not validation.exists:
        check.record("absent", "a valid compose file")
        pytest.fail(f"compose file {os.path.abspath(path)} does not exist (DIGITALME_COMPOSE_FILE={path!r}): "
                    f"the deployment cannot be validated, nor started again from it (required: a compose file "
                    f"that validates)")
    check.record(validation.returncode, 0)
    if validation.required_variable_unset:  # set where the deploy runs compose, maybe: not a finding here
        name = validation.required_variable_unset
        raise ProbeError(f"{path} requires {name}, unset here ({validation.problem}): set {name} as the deploy "
                         f"does, in the checker's environment or in {validation.env_file}")
    assert validation.returncode == 0, f"{path} does not validate: {validation.problem} (required: it validates)"
