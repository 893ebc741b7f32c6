"""Container resource monitoring, Weekly Maintenance 1 (log rotation and cleanup), and the Configuration Change
Procedure's validation step.

``docker stats --no-stream digitalme-digitalme-1``; ``docker image prune -f``, ``docker container prune -f``;
``docker-compose -f docker-compose.production.yml config``.
"""

import os

import pytest

from plugins.probes import compose
from plugins.units import mib

# Drivers that rotate by themselves or keep nothing on the host's disk.
SELF_ROTATING_LOG_DRIVERS = {"local", "journald", "syslog", "fluentd", "gelf", "awslogs", "splunk", "gcplogs", "none"}


@pytest.mark.warning
@pytest.mark.resources
@pytest.mark.daily
def test_container_memory_below_limit(container_memory, settings, check):
    """The app container's memory is below DIGITALME_CONTAINER_MEMORY_MAX.

    Manual: Resource Monitoring, `docker stats --no-stream digitalme-digitalme-1`; "Container Memory: >2GB".
    """
    used, _limit = container_memory
    check.record(used, settings.container_memory_max)
    assert used < settings.container_memory_max, (
        f"{settings.container} uses {mib(used)} >= {mib(settings.container_memory_max)}")


@pytest.mark.warning
@pytest.mark.weekly
def test_log_rotation_configured(app_container, settings, check):
    """The app container's logs rotate (json-file with max-size, or a driver that rotates by itself).

    Manual: Weekly 1, "Log Rotation and Cleanup" (the image has no logrotate: Docker's log driver rotates).
    """
    log_config = app_container["HostConfig"]["LogConfig"]
    driver, options = log_config.get("Type", "?"), log_config.get("Config") or {}
    check.record({"driver": driver, **options}, "json-file with max-size, or a self-rotating driver")
    if driver in SELF_ROTATING_LOG_DRIVERS:
        return
    assert driver == "json-file" and options.get("max-size"), (
        f"{settings.container} logs with {driver!r} and no max-size: its log file grows without bound")


@pytest.mark.warning
@pytest.mark.weekly
def test_reclaimable_docker_space_below_limit(docker, settings, check):
    """Reclaimable Docker space (dangling images, stopped containers) is below DIGITALME_DOCKER_RECLAIMABLE_MAX.

    Manual: Weekly 1, `docker image prune -f` and `docker container prune -f`.
    """
    space = docker.reclaimable_space()
    check.record(space.size, settings.docker_reclaimable_max)
    assert space.size < settings.docker_reclaimable_max, (
        f"{mib(space.size)} reclaimable ({space.dangling_images} dangling image(s), "
        f"{space.stopped_containers} stopped container(s)) >= {mib(settings.docker_reclaimable_max)}: prune them")


@pytest.mark.critical
@pytest.mark.weekly
def test_compose_config_valid(settings, check):
    """`docker compose -f <file> config` validates the deployment's compose file (which must exist).

    Manual: Configuration Change Procedure 3, `docker-compose -f docker-compose.production.yml config`.
    """
    path = settings.compose_file
    validation = compose.validate(path)
    if not validation.exists:
        check.record("absent", "a valid compose file")
        pytest.fail(f"compose file {os.path.abspath(path)} does not exist (DIGITALME_COMPOSE_FILE={path!r}): "
                    f"the deployment cannot be validated, nor started again from it")
    check.record(validation.returncode, 0)
    assert validation.returncode == 0, f"{path} does not validate: {validation.problem}"
