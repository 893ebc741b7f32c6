"""Morning Health Check 1: container status (``docker-compose -f docker-compose.production.yml ps``).

Expected: all containers ``Up``; the app's Docker healthcheck ``healthy``; no restart loop.
"""

import datetime as dt

import pytest

from plugins.probes.docker import parse_docker_time


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 1", "Health Check Implementation: Check container status",
                    "Critical Alerts: Container Down")
def test_compose_containers_running(docker, compose_services, settings, check):
    """Every service of the compose project has a running container (one-off `compose run` containers aside).

    The manual's `docker-compose -f docker-compose.production.yml ps` shows all containers Up.
    """
    containers = docker.project_containers(settings.compose_project)
    # `docker compose run` leaves one-off containers (a migration, a shell): an exited one is not the service down.
    service_containers = [c for c in containers if not c["oneoff"]]
    declared = compose_services.services
    check.record({"containers": {c["name"]: c["state"] for c in service_containers},
                  "declared services": list(declared) if declared is not None
                  else f"not compared: {compose_services.why_unknown}",
                  **({"declared services as": f"docker compose config --services answered at "
                                              f"{compose_services.kept_from} (its inputs unchanged since)"}
                     if compose_services.kept_from else {})},
                 "every declared service has a running container")
    check.attach("docker-compose ps -a", "\n".join(
        f"{c['name']:<40} {c['service']:<15} {c['status']}{'  (one-off)' if c['oneoff'] else ''}" for c in containers))
    without = [f"service {s!r} declared in {compose_services.compose_file} has no container"
               for s in declared or () if not any(c["service"] == s for c in service_containers)]
    one_offs = len(containers) - len(service_containers)
    assert service_containers, (
        f"no containers of compose project {settings.compose_project!r} exist"
        + (f" besides {one_offs} one-off container(s)" if one_offs else "") + " (is the stack down?)"
        + "".join(f"; {text}" for text in without) + " (required: every declared service has a running container)")
    down = [f"{c['name']} is {c['status'] or c['state']}" for c in service_containers if c["state"] != "running"]
    assert not down + without, ("container not running: " + "; ".join(down + without)
                                + " (required: every declared service has a running container)")


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 1")
def test_app_container_healthy(app_container, settings, check):
    """The app container's Docker health status is healthy (`starting` within its start period is not judged yet).

    The manual's container `Up` (and `healthy` where the healthcheck `curl -f http://localhost:80/health` exists).
    """
    state = app_container["State"]
    health = state.get("Health")
    if health is None:
        check.record("no healthcheck", "healthy")
        pytest.skip(f"{settings.container} has no Docker healthcheck")
    check.record(health["Status"], "healthy")
    last = health.get("Log", [])[-1:] or [{}]
    check.attach("last healthcheck", f"exit {last[0].get('ExitCode')}: {last[0].get('Output', '').strip()}")
    assert state["Running"], (f"{settings.container} is {state['Status']}, not running (health {health['Status']}) "
                              f"(required: running and healthy)")
    if health["Status"] == "starting":
        # Docker says `starting` from a (re)start until the first passing probe, for up to the start period
        # (40 s in the real compose file; Docker's default is 0): every restart would otherwise be an outage.
        since_s = (dt.datetime.now(dt.timezone.utc) - parse_docker_time(state["StartedAt"])).total_seconds()
        period_s = ((app_container["Config"].get("Healthcheck") or {}).get("StartPeriod") or 0) / 1e9
        check.record({"health": "starting", "since start s": round(since_s, 1), "start period s": period_s}, "healthy", unit="s")
        if since_s <= period_s:
            pytest.skip(f"not judged yet: health 'starting' {since_s:.0f} s after start, within its {period_s:g} s "
                        f"start period")
        pytest.fail(f"{settings.container} health is still 'starting' {since_s:.0f} s after start, past its "
                    f"{period_s:g} s start period (no probe has passed; last probe: "
                    f"{last[0].get('Output', '').strip()[:120]!r}) (required: healthy within its start period)")
    assert health["Status"] == "healthy", (
        f"{settings.container} health is {health['Status']!r} after {health.get('FailingStreak', 0)} failing "
        f"probe(s); last probe: {last[0].get('Output', '').strip()[:120]!r} (required: healthy)")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 1")
def test_app_container_not_restart_looping(app_container, settings, check):
    """The app container is not restart-looping (at most {restarts_max} restarts).

    The manual's all containers `Up` (a container that keeps restarting is briefly Up between crashes).
    """
    state = app_container["State"]
    restarts = app_container.get("RestartCount", 0)
    check.record(restarts, settings.restarts_max)
    assert not state.get("Restarting"), (
        f"{settings.container} is restarting (restart count {restarts}, last exit code {state.get('ExitCode')}) "
        f"(required: running, not restarting)")
    assert restarts <= settings.restarts_max, (
        f"{settings.container} restarted {restarts} times since it was created "
        f"(required: at most {settings.restarts_max})")
