"""One headline for an unreachable target (plugins/outcomes/reachability.py), from the outside: the real suite against this
session's sandbox with its app container stopped, and a fleet of a live target (the sandbox) and a dead one (every
port refused); alerts on a real receiver on 127.0.0.1."""

import re

import pytest

from conftest import assert_passed
from sandbox import CONTAINER, free_ports
from test_alerts import TOKEN, receiver  # noqa: F401 (fixture)
from test_fleet_alerts import NO_PROXY, write_targets

HEADLINE = "tests_health/test_reachable.py::test_target_reachable"
MONITOR = ("-m", "monitor")  # the 5-minute run: the headline and five checks that need the target


def alerting_to(receiver, path="/hook/" + TOKEN):
    return {"DIGITALME_ALERTS": "on", "DIGITALME_WEBHOOK_URL": receiver.url(path), **NO_PROXY}


def outcomes(run, target=None):
    """{check id without the target parameter: its results-file entry} of one target."""
    return {c["id"].replace(f"[{target}]", ""): c for c in run.results["checks"] if c["target"] == target}


def assert_headline_stands_for_the_rest(checks, finding):
    """The headline failed (critical) with ``finding``, listing the others; every other check is "not checked"
    because of it, keeping the failure it would have been, or passed (the logs of a stopped container are still
    read: a check that could look and found nothing wrong stays passed)."""
    headline = checks.pop(HEADLINE)
    checks = {name: c for name, c in checks.items() if c["outcome"] != "passed"}
    assert (headline["outcome"], headline["severity"]) == ("failed", "critical"), headline
    assert headline["message"].startswith("the target is unreachable: "), headline["message"]
    assert finding in headline["message"], headline["message"]
    assert f"not checked because of it: {len(checks)} checks" in headline["message"], headline["message"]
    assert sorted(headline["value"]["not checked"]) == sorted(c["title"] for c in checks.values()), headline["value"]
    assert {"HTTP", "Docker", "app container"} <= set(headline["value"]), headline["value"]
    for check in checks.values():
        assert check["outcome"] == "not checked", check
        assert check["message"].startswith("not checked: its target is unreachable, see test_target_reachable"), check
        assert check["blocked_by"]["check"].startswith(HEADLINE), check
        assert check["blocked_by"]["outcome"] in ("failed", "error") and check["blocked_by"]["message"], check
        assert check["failing_since"] is None, f"a check not checked counted as failing: {check}"


@pytest.mark.sandbox
def test_a_stopped_app_container_is_one_headline_and_one_alert_then_resolved(healthy_sandbox, suite, receiver):
    """The app container stopped: one critical finding (the headline) naming its state and listing the checks it
    stands for, one alert; those checks are "not checked" in the results file, the terminal and the record, and
    alert nothing. Started again: the headline passes and its alert is resolved, nothing else is sent.

    Manual: Critical Alerts "Container Down"; Alertmanager's inhibition (a critical inhibits what depends on it).
    """
    healthy_sandbox.docker("stop", "-t", "1", CONTAINER)
    down = suite(*MONITOR, **alerting_to(receiver))
    assert down.returncode == 1 and "Traceback" not in down.stdout, down
    assert_headline_stands_for_the_rest(outcomes(down), f"app container {CONTAINER} is exited")
    unchecked = down.results["counts"]["not checked"]
    assert down.results["status"] == "critical" and unchecked >= 4, down.results["counts"]
    [alert] = receiver.payloads()
    assert (alert["check"], alert["severity"], alert["status"]) == (HEADLINE, "critical", "firing"), alert
    assert f"app container {CONTAINER} is exited" in alert["message"] and f"{unchecked} checks" in alert["message"]
    assert re.search(rf"1 failed, {6 - 1 - unchecked} passed, \d+ deselected, {unchecked} not checked", down.stdout)
    assert (f"DigitalMe: CRITICAL - 1 failed of 6 checks (1 critical), {unchecked} not checked (target unreachable)"
            in down.stdout), down
    record = (down.report_dir / "latest.html").read_text()
    assert "Not checked: its target is unreachable" in record, "the record does not say why the checks were not run"
    healthy_sandbox.restore()
    back = suite(*MONITOR, **alerting_to(receiver))
    assert back.returncode == 0, back
    assert_passed(back, "test_target_reachable")
    assert [(p["check"], p["status"]) for p in receiver.payloads()] == [
        (HEADLINE, "firing"), (HEADLINE, "resolved")], receiver.payloads()


@pytest.mark.sandbox
def test_refused_http_and_docker_is_one_headline(healthy_sandbox, suite, receiver):
    """HTTP, HTTPS and the Docker API all refused (the host gone): one headline saying neither answers; the
    checks depending on them, findings ("/health gave no answer") and "could not be checked" alike, are not
    checked; the exit code is 1."""
    closed = free_ports(1)[0]
    dead = suite(*MONITOR, DIGITALME_BASE_URL=f"http://127.0.0.1:{closed}",
                 DIGITALME_HTTPS_URL=f"https://127.0.0.1:{closed}", DIGITALME_DOCKER_HOST=f"tcp://127.0.0.1:{closed}",
                 **alerting_to(receiver))
    assert dead.returncode == 1, dead
    checks = outcomes(dead)
    health = checks["tests_health/test_endpoints.py::test_health_answers_healthy"]["blocked_by"]
    assert health["outcome"] == "failed" and "gave no answer" in health["message"], health
    assert_headline_stands_for_the_rest(checks, "neither HTTP nor Docker answers: ")
    assert "the Docker daemon did not answer" in dead.check("test_target_reachable")["message"]
    assert [p["check"] for p in receiver.payloads()] == [HEADLINE], receiver.payloads()


@pytest.mark.sandbox
def test_in_a_fleet_the_dead_target_has_its_headline_and_the_live_one_its_checks(healthy_sandbox, suite, receiver,
                                                                                  tmp_path):
    """A live target (the sandbox) and a dead one (every port refused): the dead one's headline is its one
    finding and its one alert, on its own webhook; the live one's checks run and pass as they would alone. The
    dead target back (pointed at the sandbox): its headline's alert is resolved."""
    closed = free_ports(1)[0]
    dead = {"base_url": f"http://127.0.0.1:{closed}", "https_url": f"https://127.0.0.1:{closed}",
            "docker_host": f"tcp://127.0.0.1:{closed}", "host": f"ssh://root@127.0.0.1:{closed}",
            "webhook_url": receiver.url("/dead/" + TOKEN)}
    live = {"webhook_url": receiver.url("/live/" + TOKEN)}
    targets = write_targets(tmp_path / "targets.toml", {"live": live, "dead": dead})
    run = suite(*MONITOR, DIGITALME_TARGETS=targets, DIGITALME_ALERTS="on", **NO_PROXY)
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    assert run.results["targets"] == {"live": "ok", "dead": "critical"}, run.results["targets"]
    assert {c["outcome"] for c in outcomes(run, "live").values()} == {"passed"}, outcomes(run, "live")
    assert_headline_stands_for_the_rest(outcomes(run, "dead"), "neither HTTP nor Docker answers: ")
    assert receiver.posts("/live/" + TOKEN) == [], receiver.payloads()
    [alert] = receiver.payloads("/dead/" + TOKEN)
    assert (alert["check"], alert["target_name"], alert["status"]) == (f"{HEADLINE}[dead]", "dead", "firing"), alert
    assert len(receiver.posts()) == 1, receiver.payloads()
    write_targets(tmp_path / "targets.toml", {"live": live, "dead": {"webhook_url": dead["webhook_url"]}})
    back = suite(*MONITOR, DIGITALME_TARGETS=targets, DIGITALME_ALERTS="on", **NO_PROXY)
    assert back.returncode == 0, back
    assert [(p["check"], p["status"]) for p in receiver.payloads("/dead/" + TOKEN)] == [
        (f"{HEADLINE}[dead]", "firing"), (f"{HEADLINE}[dead]", "resolved")], receiver.payloads()
    assert len(receiver.posts()) == 2, receiver.payloads()
