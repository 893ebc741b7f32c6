"""Alerts in fleet mode on a mini project (the target parameter needs no sandbox): without a targets file an alert's
payload and fingerprint are as before; an alert queued while a target's webhook is down goes to that webhook next
run; a target given a new URL keeps its alert. Fleets of the real sandbox: sandbox/test_fleet_alerts.py."""

import hashlib
import json

from test_alerts import alerting, down_url, outbox_of, receiver  # noqa: F401 (fixtures)


OLD_PAYLOAD_KEYS = ["check", "fingerprint", "message", "report", "schema_version", "service", "severity", "status",
                    "target", "threshold", "timestamp", "title", "value"]  # schema_version since issue 26


def test_without_a_targets_file_payload_and_fingerprint_are_as_before(alerting, receiver):
    """Without a targets file an alert carries no target name and keeps the fingerprint it always had (the check id
    and the base URL), so upgrading re-alerts nothing that is already firing.

    Manual: Alerting (one alert per problem, repeated only after the interval).
    """
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    [payload] = receiver.payloads()
    assert sorted(payload) == OLD_PAYLOAD_KEYS, f"the payload's keys changed: {sorted(payload)}"
    before = hashlib.sha256(f"{payload['check']}\nhttp://localhost".encode()).hexdigest()[:32]
    assert payload["fingerprint"] == before, f"fingerprint {payload['fingerprint']}, before the fleet {before}"


def test_a_targets_alert_queued_while_its_webhook_is_down_goes_to_that_webhook_next_run(alerting, receiver,
                                                                                       down_url, tmp_path):
    """An alert queued for one target (its webhook down) waits in the outbox under that target, and the next run
    delivers it to that target's webhook; the other target's alert went out at once. (A mini project: the
    ``target`` parameter needs no sandbox.)

    Manual: Alerting (no alert lost when the receiver is down), per deployment.
    """
    path = tmp_path / "targets.toml"
    path.write_text(f'[targets.prod]\nwebhook_url = "{down_url}"\n'
                    f'[targets.staging]\nwebhook_url = "{receiver.url("/staging")}"\n')
    first = alerting("-k", "test_disk", DIGITALME_TARGETS=path, DIGITALME_ALERT_BUDGET_S="2", FAIL_DISK="1")
    states = [(a["target"], a["state"]) for a in first.doc["alerts"]]
    assert states == [("prod", "queued"), ("staging", "sent")], first.doc["alerts"]
    assert [item["payload"]["target_name"] for item in outbox_of(first)] == ["prod"], outbox_of(first)
    assert "[prod: 1 queued (receiver unreachable); staging: 1 sent]" in first.stdout, first

    path.write_text(f'[targets.prod]\nwebhook_url = "{receiver.url("/prod")}"\n'
                    f'[targets.staging]\nwebhook_url = "{receiver.url("/staging")}"\n')
    alerting("-k", "test_disk", DIGITALME_TARGETS=path, FAIL_DISK="1")
    routed = [(r["path"], json.loads(r["body"])["target_name"]) for r in receiver.posts()]
    assert routed == [("/staging", "staging"), ("/prod", "prod")], routed


def test_a_target_moved_to_a_new_url_keeps_its_alert(alerting, receiver, tmp_path):
    """In a fleet a target is its name: given a new base URL, its firing alert is the same alert (suppressed within
    the repeat interval, not sent again as new), and its recovery resolves it.

    Manual: Alerting (one alert per problem, repeated only after the interval).
    """
    path = tmp_path / "targets.toml"

    def run(base_url, **env):
        path.write_text(f'[targets.prod]\nbase_url = "{base_url}"\nwebhook_url = "{receiver.url("/prod")}"\n')
        return alerting("-k", "test_disk", DIGITALME_TARGETS=path, **env)

    run("http://prod-old.example", FAIL_DISK="1")
    moved = run("http://prod-new.example", FAIL_DISK="1")
    assert [a["state"] for a in moved.doc["alerts"]] == ["suppressed"], moved.doc["alerts"]
    run("http://prod-new.example")
    heard = [(p["status"], p["target"]) for p in receiver.payloads()]
    assert heard == [("firing", "http://prod-old.example"), ("resolved", "http://prod-new.example")], heard
