"""The Alertmanager and PagerDuty channels' pure parts, in this process: how long an alert stays active per
schedule, the Events API v2 event of a payload, and several channels' answers as one record."""

import datetime as dt

import pytest

from plugins.outputs.alerting.channels.alertmanager import active_s, alert_of
from plugins.outputs.alerting.channels.pagerduty import event_of, refusal_of
from plugins.outputs.alerting.delivery import combined
from plugins.outputs.alerting.records import delivery

PAYLOAD = {"severity": "warning", "service": "DigitalMe", "message": "memory is 90% used (threshold 85%); check: x",
           "timestamp": "2026-12-06T02:00:00+00:00", "status": "firing", "check": "tests/test_m.py::test_memory",
           "title": "memory is 90% used", "target": "http://localhost", "fingerprint": "f" * 32,
           "report": "reports/20261206T020000Z-weekly.html", "value": 90, "threshold": 85}
HOUR, DAY = 3600, 24 * 3600


@pytest.mark.parametrize("schedules, active", [
    (["monitor"], 10 * 60), (["resources"], 5 * HOUR), (["daily"], 30 * HOUR),
    (["weekly"], 7 * DAY + 42 * HOUR), (["monthly"], 35 * DAY + 210 * HOUR),
    (["daily", "monitor", "weekly"], 10 * 60),  # its most frequent schedule re-posts it first
    (["change"], 30 * HOUR), ([], 30 * HOUR),  # no period known: a day and its grace
])
def test_an_alert_stays_active_until_its_next_scheduled_run_is_overdue(schedules, active):
    assert active_s(schedules) == active


def test_a_resolved_alert_ends_now_and_a_level_3_one_is_critical_and_labelled():
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)
    resolved = alert_of(dict(PAYLOAD, status="resolved"), "warning", {"schedules": ["monitor"]}, now)
    assert resolved["endsAt"] == "2026-12-07T09:00:00Z" and resolved["labels"]["selection"] == "monitor"
    level3 = alert_of(dict(PAYLOAD, level=3), "emergency", {"failing_since": "2026-12-07T08:00:00+00:00"}, now)
    assert level3["labels"]["level"] == "3" and level3["labels"]["severity"] == "critical"
    assert level3["startsAt"] == "2026-12-07T08:00:00Z" and level3["labels"]["selection"] == "unknown"


def test_a_trigger_carries_what_pagerduty_needs_and_a_resolve_only_its_dedup_key():
    trigger = event_of(PAYLOAD, "k" * 32)
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "f" * 32
    assert trigger["payload"]["summary"] == "DigitalMe http://localhost: memory is 90% used"
    assert trigger["payload"]["severity"] == "warning" and trigger["payload"]["custom_details"]["threshold"] == 85
    assert event_of(dict(PAYLOAD, status="resolved"), "k" * 32) == {
        "routing_key": "k" * 32, "event_action": "resolve", "dedup_key": "f" * 32}
    assert event_of(dict(PAYLOAD, level=3, severity="warning"), "k" * 32)["payload"]["severity"] == "critical"


def test_pagerdutys_refusal_is_quoted_without_secrets():
    explain = refusal_of(["s3cret"])
    body = b'{"status": "invalid event", "message": "Event object is invalid", "errors": ["bad s3cret"]}'
    assert explain(body) == "Event object is invalid: bad ***"
    assert explain(b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_several_channels_answers_are_the_worst_and_delivered_when_any_sent():
    sent, queued = delivery("sent", "", 1, None), delivery("queued", "receiver unreachable", 2, "curl error 7")
    failed = delivery("failed", "HTTP 400, not retried", 1, "HTTP 400: not retried")
    assert combined({"webhook": sent}) is sent  # one channel: its answer as it is
    both = combined({"webhook": sent, "pagerduty": queued})
    assert (both["state"], both["delivered"], both["attempts"]) == ("queued", True, 3)
    assert both["reason"] == "pagerduty: receiver unreachable" and set(both["channels"]) == {"webhook", "pagerduty"}
    assert combined({"webhook": failed, "alertmanager": sent})["state"] == "failed"
    assert combined({"webhook": failed, "alertmanager": queued})["delivered"] is False
    assert combined({}) is None
