"""Morning Health Check 1: container status (``docker-compose -f docker-compose.production.yml ps``).

Expected: all containers ``Up``; the app's Docker healthcheck ``healthy``; no restart loop.
"""

import pytest


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
def test_compose_containers_running(docker, settings, check):
    """Every container of the compose project is running.

    Manual: Morning 1, `docker-compose -f docker-compose.production.yml ps` shows all containers Up;
    monitor.sh and Critical Alerts "Container Down".
    """
    containers = docker.project_containers(settings.compose_project)
    states = {c["name"]: c["state"] for c in containers}
    check.record(states, "every container running")
    check.attach("docker-compose ps", "\n".join(f"{c['name']:<40} {c['service']:<15} {c['status']}" for c in containers))
    assert containers, f"no containers of compose project {settings.compose_project!r} exist (is the stack down?)"
    down = [f"{c['name']} is {c['status'] or c['state']}" for c in containers if c["state"] != "running"]
    assert not down, "container not running: " + "; ".join(down)


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
def test_app_container_healthy(app_container, settings, check):
    """The app container's Docker health status is healthy.

    Manual: Morning 1, container `Up` (and `healthy` where the healthcheck `curl -f http://localhost:80/health` exists).
    """
    state = app_container["State"]
    health = state.get("Health")
    if health is None:
        check.record("no healthcheck", "healthy")
        pytest.skip(f"{settings.container} has no Docker healthcheck")
    check.record(health["Status"], "healthy")
    last = health.get("Log", [])[-1:] or [{}]
    check.attach("last healthcheck", f"exit {last[0].get('ExitCode')}: {last[0].get('Output', '').strip()}")
    assert state["Running"], f"{settings.container} is {state['Status']}, not running (health {health['Status']})"
    assert health["Status"] == "healthy", (
        f"{settings.container} health is {health['Status']!r} after {health.get('FailingStreak', 0)} failing "
        f"probe(s); last probe: {last[0].get('Output', '').strip()[:120]!r}")


@pytest.mark.warning
@pytest.mark.daily
def test_app_container_not_restart_looping(app_container, settings, check):
    """The app container is not restart-looping.

    Manual: Morning 1, all containers `Up` (a container that keeps restarting is briefly Up between crashes).
    """
    state = app_container["State"]
    restarts = app_container.get("RestartCount", 0)
    check.record(restarts, settings.restarts_max)
    assert not state.get("Restarting"), (
        f"{settings.container} is restarting (restart count {restarts}, last exit code {state.get('ExitCode')})")
    assert restarts <= settings.restarts_max, (
        f"{settings.container} restarted {restarts} times > {settings.restarts_max} since it was created")
