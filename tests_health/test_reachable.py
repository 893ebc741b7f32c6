"""The target answers at all: the one headline for a target that cannot be reached (plugins/outcomes/reachability.py).

When it fails, the checks that depend on what is down are "not checked because of it", not 27 findings of their
own: one critical finding and one alert per unreachable target, resolved when it is back.
"""

import pytest

from plugins.probes.declared import PROBES


@pytest.fixture(scope="session")
@PROBES.read_by("endpoints", "app_container")  # a check using it starts them in the background
def reach(pytestconfig, target):
    """What of the target answered: HTTP, the Docker daemon, the app container (judged once per run)."""
    from plugins.outcomes.reachability import reach_of
    return reach_of(pytestconfig, target)


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.resources
@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.manual("Critical Alerts: Container Down", "Critical Alerts: Health Check Failure",
                    "Health Check Implementation: Check container status",
                    "Health Check Implementation: Check health endpoint")
def test_target_reachable(reach, settings, check):
    """The target answers (HTTP or Docker) and its app container is running.

    The manual's `docker-compose ps | grep -q "Up"` and `curl -f -s http://localhost/health`.
    """
    check.record({"HTTP": reach.http_answer or reach.http, "Docker": reach.docker or "answered",
                  "app container": reach.container or ("running" if not reach.docker else "not known")},
                 f"an HTTP or Docker answer, and app container {settings.container} running")
    assert not reach.unreachable, (f"the target is unreachable: {reach.finding} (required: an HTTP or Docker "
                                   f"answer, and app container {settings.container} running)")
