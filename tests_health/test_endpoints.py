"""Morning Health Check 2 and 3, and the Monitoring Dashboard's endpoint table.

``curl -f http://localhost/health``, ``curl -f http://localhost/info``, ``curl -k https://localhost/health``;
every endpoint answers within 1 s. Redirects are followed and the final answer is judged.
"""

import json

import pytest

JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 2", "Health Check Endpoints Reference: /health",
                    "Health Check Implementation: Check health endpoint", "Critical Alerts: Health Check Failure")
def test_health_answers_healthy(endpoints, check):
    """/health answers 200 "Healthy" ("Degraded" is a warning).

    The manual's `curl -f http://localhost/health`.
    """
    health = endpoints["/health"]
    check.record({"status": health.status, "body": health.body.strip()[:40]}, "200 Healthy")
    if health.status == 200 and health.body.strip() == "Degraded":
        check.lower_to_warning()  # the app runs but one of its dependencies does not: not an outage
    assert health.status == 200 and health.body.strip() == "Healthy", health.describe("/health", required="200 Healthy")


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Health Check Endpoints Reference: /health/ready")
def test_readiness_answers_200(endpoints, check):
    """/health/ready answers 200.

    The manual's `/health/ready` readiness probe.
    """
    ready = endpoints["/health/ready"]
    check.record(ready.status, 200)
    assert ready.status == 200, ready.describe("/health/ready", required="200")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 2", "Health Check Endpoints Reference: /info")
def test_info_names_version_and_environment(endpoints, check):
    """/info answers 200 with JSON naming the version and the environment.

    The manual's `curl -f http://localhost/info`.
    """
    info = endpoints["/info"]
    check.record(info.status, "200 JSON with version, environment")
    required = "200 with a JSON object naming version and environment"
    assert info.status == 200, info.describe("/info", required=required)
    try:
        document = json.loads(info.body)
    except ValueError:
        pytest.fail(f"/info answered 200 but not JSON ({info.headers.get('content-type', 'no content type')}): "
                    f"{info.body[:80]!r} (required: {required})")
    if not isinstance(document, dict):
        check.record(JSON_KINDS.get(type(document), type(document).__name__), "200 JSON with version, environment")
        pytest.fail(f"/info answered a JSON {JSON_KINDS.get(type(document), type(document).__name__)}: "
                    f"{info.body.strip()[:80]!r} (required: {required})")
    missing = [key for key in ("version", "environment") if not document.get(key)]
    check.record({k: document.get(k) for k in ("version", "environment")}, "version and environment named")
    assert not missing, f"/info JSON lacks {', '.join(missing)} (required: version and environment named)"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.parametrize("path", ["/health", "/health/ready", "/info"])
@pytest.mark.manual("Health Check Endpoints Reference: /health", "Health Check Endpoints Reference: /health/ready",
                    "Health Check Endpoints Reference: /info", "Key Performance Metrics: Application Performance")
def test_endpoint_answers_within_time(endpoints, settings, path, check):
    """The endpoint answers within {response_time_max_s} s (curl-style timing recorded).

    The manual's expected response time <1s, measured as its `curl -w "@curl-format.txt"` does.
    """
    answer = endpoints[path]
    check.record(answer.timings or None, settings.response_time_max_s, unit="s",  # no answer: no response time
                 trend="health-response-time" if path == "/health" else None, trend_of="total_s",
                 trend_title="/health response time")
    check.attach("curl-format timings", "\n".join(f"{k:>14}: {v:.4f} s" for k, v in answer.timings.items())
                 or f"no answer: {answer.error}")
    required = f"an answer within {settings.response_time_max_s:g} s"
    assert answer.answered, answer.describe(path, required=required)
    assert answer.seconds < settings.response_time_max_s, (
        f"{path} took {answer.seconds:.2f} s (connect {answer.timings['connect_s']:.3f} s, first byte "
        f"{answer.timings['first_byte_s']:.3f} s) (required: {required})")


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 3")
def test_https_health_answers_healthy(endpoints, settings, check):
    """https://.../health answers 200 "Healthy" ("Degraded" is a warning; certificate not verified, like `curl -k`).

    The manual's `curl -k https://localhost/health` (if applicable).
    """
    if not settings.https_url:
        pytest.skip("HTTPS not applicable: DIGITALME_HTTPS_URL is empty")
    health = endpoints.https("/health")
    check.record({"status": health.status, "body": health.body.strip()[:40]}, "200 Healthy")
    if health.status == 200 and health.body.strip() == "Degraded":
        check.lower_to_warning()  # as over HTTP: the app serves, one of its dependencies does not
    assert health.status == 200 and health.body.strip() == "Healthy", (
        health.describe(settings.https_url + "/health", required="200 Healthy"))
