"""The Alertmanager and PagerDuty channels from the outside: mini projects (test_alerts.py's checks) run in a
subprocess and alert a real Alertmanager (Debian's prometheus-alertmanager, started here on 127.0.0.1 with a
temporary config, read back through its API v2 and its own webhook receiver) and a local Events API v2 receiver
that judges each event as PagerDuty documents it (202, or 400 with its errors). Nothing leaves 127.0.0.1."""

import datetime as dt
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from test_alerts import CHECKS, SECRET, Receiver, alerts_of, outbox_of, window_around_now

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
ROUTING_KEY = "R0UT1NGkey0123456789abcdefABCDEF"  # 32 letters and digits, as PagerDuty's
EMERGENCY_KEY = "EMERGENCYkey0123456789abcdefABCD"
SEVERITIES = ("critical", "error", "warning", "info")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def judged(event, keys):
    """PagerDuty's Events API v2 rules for one event: the list of what is wrong (empty: a valid event)."""
    if not isinstance(event, dict):
        return ["Event object is not an object"]
    errors = []
    if event.get("routing_key") not in keys:
        errors.append("'routing_key' is invalid")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid")
    dedup = event.get("dedup_key")
    if action != "trigger" and not dedup or dedup is not None and not (isinstance(dedup, str) and len(dedup) <= 255):
        errors.append("'dedup_key' is missing or longer than 255 characters")
    if action == "trigger":
        body = event.get("payload") or {}
        if not isinstance(body.get("summary"), str) or not 0 < len(body["summary"]) <= 1024:
            errors.append("'payload.summary' is missing or longer than 1024 characters")
        if not isinstance(body.get("source"), str) or not body["source"]:
            errors.append("'payload.source' is missing")
        if body.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' must be one of " + ", ".join(SEVERITIES))
        if "timestamp" in body:
            try:
                dt.datetime.fromisoformat(body["timestamp"])
            except (TypeError, ValueError):
                errors.append("'payload.timestamp' is not ISO 8601")
        if not isinstance(body.get("custom_details", {}), dict):
            errors.append("'payload.custom_details' is not an object")
    return errors


class PagerDutyReceiver:
    """An Events API v2 endpoint on 127.0.0.1: judges each event (202 or 400 as PagerDuty answers); ``script``
    forces statuses first (429, 500)."""

    def __init__(self, keys=(ROUTING_KEY, EMERGENCY_KEY)):
        self.events, self.answers, self.script = [], [], []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = json.loads(raw)
                except ValueError:
                    event = None
                receiver.events.append(event)
                if receiver.script:
                    status, body = receiver.script.pop(0), {"status": "throttled", "message": "slow down"}
                else:
                    errors = judged(event, keys) if self.path == "/v2/enqueue" else ["no such endpoint"]
                    status, body = (400, {"status": "invalid event", "message": "Event object is invalid",
                                          "errors": errors}) if errors else (
                        202, {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]})
                receiver.answers.append(status)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Alertmanager:
    """A real Alertmanager on 127.0.0.1 (no cluster), notifying its own webhook receiver (``hook``) at once."""

    def __init__(self, folder):
        self.hook = Receiver(foreign=("/am",))  # Alertmanager's own notifications, not the suite's payload
        self.port = free_port()
        config = folder / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: hook\n  group_by: [alertname, target]\n  group_wait: 1s\n"
            "  group_interval: 1s\n  repeat_interval: 1h\n"
            f"receivers:\n- name: hook\n  webhook_configs:\n  - url: {self.hook.url('/am')}\n"
            "    send_resolved: true\n")
        (folder / "am-data").mkdir()
        self.log = open(folder / "alertmanager.log", "w")
        self.process = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={config}", f"--storage.path={folder / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url() + "/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Alertmanager did not become ready in 20 s")

    def alerts(self):
        """The active alerts, as its API v2 lists them (resolved ones are not listed)."""
        with urllib.request.urlopen(self.url() + "/api/v2/alerts", timeout=5) as answer:
            return json.loads(answer.read())

    def notified(self, status, within_s=15):
        """The alerts of the notifications its webhook got with ``status``, waiting for the first one."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            found = [a for p in self.hook.payloads("/am") for a in p["alerts"] if a["status"] == status]
            if found:
                return found
            time.sleep(0.2)
        return []

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()
        self.hook.stop()


@pytest.fixture
def pagerduty():
    server = PagerDutyReceiver()
    yield server
    server.stop()


@pytest.fixture
def alertmanager(tmp_path_factory):
    if not shutil.which(ALERTMANAGER) and not shutil.os.path.exists(ALERTMANAGER):
        pytest.fail("prometheus-alertmanager is not installed: run scripts/setup.sh", pytrace=False)
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager"))
    yield server
    server.stop()


@pytest.fixture
def webhook():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def down_url():
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def alerting(mini_project):
    """``alerting(*args, **env)``: one run of the mini project, alerting to nothing unless env says so."""
    run = mini_project(CHECKS)

    def go(*args, **env):
        environment = {"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_ALERT_BUDGET_S": "4",
                       "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        environment.update({k: str(v) for k, v in env.items()})
        result = run(*args, env=environment)
        result.doc = result.results if (result.report_dir / "latest.json").exists() else None  # exit 4: none
        return result
    return go


def channels_env(webhook, alertmanager, pagerduty):
    return {"DIGITALME_WEBHOOK_URL": webhook.url(), "DIGITALME_WEBHOOK_SECRET": SECRET,
            "DIGITALME_ALERTMANAGER_URL": alertmanager.url(), "DIGITALME_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "DIGITALME_PAGERDUTY_URL": pagerduty.url()}


def seconds_from_now(stamp):
    return (dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) - dt.datetime.now(dt.timezone.utc)).total_seconds()


def written_files(folder):
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_a_failing_check_reaches_each_channel_once_and_its_pass_resolves_on_each(
        alerting, webhook, alertmanager, pagerduty):
    env = channels_env(webhook, alertmanager, pagerduty)
    failing = alerting(FAIL_DISK="1", **env)
    assert failing.returncode == 1, failing
    [record] = failing.doc["alerts"]
    assert record["state"] == "sent" and record["delivered"] is True, record
    assert {name: answer["state"] for name, answer in record["channels"].items()} == {
        "webhook": "sent", "alertmanager": "sent", "pagerduty": "sent"}
    [firing] = webhook.payloads()
    [trigger] = pagerduty.events
    assert pagerduty.answers == [202]
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == firing["fingerprint"]
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "http://localhost"
    details = trigger["payload"]["custom_details"]
    assert (details["value"], details["threshold"]) == (91, 80)
    [active] = alertmanager.alerts()
    assert active["labels"] == {"alertname": firing["check"], "severity": "critical", "target": "http://localhost",
                                "service": "DigitalMe", "selection": "monitor"}
    assert active["annotations"]["summary"] == "/ is 91% used" and active["annotations"]["record"] == firing["report"]
    assert 9 * 60 < seconds_from_now(active["endsAt"]) <= 10 * 60 + 5  # the next monitor run overdue: 5 + 5 min
    [notified] = alertmanager.notified("firing")
    assert notified["labels"]["alertname"] == firing["check"]

    passing = alerting(**env)
    assert [p["status"] for p in webhook.payloads()] == ["firing", "resolved"]
    assert [(e["event_action"], e["dedup_key"]) for e in pagerduty.events] == [
        ("trigger", firing["fingerprint"]), ("resolve", firing["fingerprint"])]
    assert pagerduty.answers == [202, 202]
    [resolved] = alertmanager.notified("resolved")
    assert resolved["labels"] == active["labels"] and alertmanager.alerts() == []
    assert [r["state"] for r in passing.doc["alerts"]] == ["sent"]
    for text in (failing.stdout, passing.stdout, written_files(passing.report_dir)):
        assert ROUTING_KEY not in text


def test_while_the_check_fails_each_run_reposts_to_alertmanager_only_and_keeps_a_weekly_alert_active(
        alerting, webhook, alertmanager, pagerduty):
    env = channels_env(webhook, alertmanager, pagerduty)
    alerting("-m", "weekly", FAIL_INTEGRITY="1", **env)
    [first] = alertmanager.alerts()
    second = alerting("-m", "weekly", FAIL_INTEGRITY="1", **env)
    [record] = alerts_of(second, state="suppressed")
    assert record["refreshed"] == [{"channel": "alertmanager", "route": "critical", "state": "sent", "reason": ""}]
    assert len(webhook.posts()) == 1 and len(pagerduty.events) == 1  # the repeat interval holds for them
    [again] = alertmanager.alerts()
    assert again["labels"] == first["labels"] and again["labels"]["selection"] == "weekly"
    assert again["updatedAt"] > first["updatedAt"] and again["startsAt"] == first["startsAt"]
    week, grace = 7 * 24 * 3600, 7 * 24 * 3600 / 4
    assert week + grace - 60 < seconds_from_now(again["endsAt"]) <= week + grace + 5


def test_a_weekly_failure_held_in_the_window_reaches_both_after_it_as_the_weekly_alert_it_is(
        alerting, alertmanager, pagerduty):
    """The manual's weekly checks run at Sunday 02:00, inside the maintenance window: held, then sent by the next
    monitor run, which does not run them; Alertmanager still gets the weekly check's labels and its week."""
    env = {"DIGITALME_ALERTMANAGER_URL": alertmanager.url(), "DIGITALME_PAGERDUTY_URL": pagerduty.url(),
           "DIGITALME_PAGERDUTY_ROUTING_KEY": ROUTING_KEY}
    held = alerting("-m", "weekly", DIGITALME_MAINTENANCE_WINDOW=window_around_now(), FAIL_INTEGRITY="1", **env)
    assert [r["state"] for r in held.doc["alerts"]] == ["held"]
    assert pagerduty.events == [] and alertmanager.alerts() == []
    after = alerting("-m", "monitor", **env)
    assert [(r["state"], r["from_held"]) for r in after.doc["alerts"]] == [("sent", True)]
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"]
    [active] = alertmanager.alerts()
    assert active["labels"]["selection"] == "weekly", active
    week = 7 * 24 * 3600
    assert week < seconds_from_now(active["endsAt"]) <= week * 1.25 + 5


def test_a_channel_that_is_down_keeps_its_alert_in_the_outbox_and_the_next_run_delivers_it(
        alerting, webhook, alertmanager, pagerduty, down_url):
    down = dict(channels_env(webhook, alertmanager, pagerduty), DIGITALME_ALERTMANAGER_URL=down_url,
                DIGITALME_PAGERDUTY_URL=down_url + "/v2/enqueue", DIGITALME_ALERT_BUDGET_S="3")
    first = alerting(FAIL_DISK="1", **down)
    [record] = first.doc["alerts"]
    assert record["state"] == "queued" and record["delivered"] is True, record  # the webhook has it
    assert {n: a["state"] for n, a in record["channels"].items()} == {
        "webhook": "sent", "alertmanager": "queued", "pagerduty": "queued"}
    assert "pagerduty: receiver unreachable" in record["reason"]
    [item] = outbox_of(first)
    assert item["channels"] == ["alertmanager", "pagerduty"] and len(webhook.posts()) == 1

    second = alerting(FAIL_DISK="1", **channels_env(webhook, alertmanager, pagerduty))
    [from_outbox] = alerts_of(second, from_outbox=True)
    assert from_outbox["state"] == "sent", from_outbox
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"] and pagerduty.answers == [202]
    assert len(webhook.posts()) == 1  # the webhook had it: not sent twice
    assert [a["labels"]["alertname"] for a in alertmanager.alerts()] == [record["payload"]["check"]]
    assert outbox_of(second) == []


def test_an_alert_a_channel_did_not_take_turns_the_heartbeat_to_fail_and_no_credential_is_shown(
        alerting, webhook, alertmanager, pagerduty, down_url):
    with_credentials = alertmanager.url().replace("http://", "http://ops:am-pa55word@")
    env = {"DIGITALME_ALERTMANAGER_URL": with_credentials, "DIGITALME_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
           "DIGITALME_PAGERDUTY_URL": pagerduty.url(), "DIGITALME_HEARTBEAT_URL": webhook.url("/ping"),
           "DIGITALME_ALERT_BUDGET_S": "3"}
    alerting(FAIL_MEMORY="1", **env)
    passing = alerting(**dict(env, DIGITALME_PAGERDUTY_URL=down_url + "/v2/enqueue"))  # PagerDuty down now
    [record] = passing.doc["alerts"]
    assert record["payload"]["status"] == "resolved"
    assert {n: a["state"] for n, a in record["channels"].items()} == {"alertmanager": "sent", "pagerduty": "queued"}
    assert [r["path"] for r in webhook.requests] == ["/ping/fail", "/ping/fail"]  # a check failed; not delivered
    assert "heartbeat (fail, an alert was not delivered)" in passing.stdout and alertmanager.alerts() == []
    shown = passing.stdout + passing.stderr + written_files(passing.report_dir)
    assert "am-pa55word" not in shown and ROUTING_KEY not in shown


def test_a_400_from_pagerduty_is_failed_with_its_message_and_not_retried(alerting, pagerduty):
    wrong_key = "X" * 32  # well formed, but no service of this receiver's
    result = alerting(FAIL_DISK="1", DIGITALME_PAGERDUTY_ROUTING_KEY=wrong_key, DIGITALME_PAGERDUTY_URL=pagerduty.url())
    assert pagerduty.answers == [400]
    [record] = result.doc["alerts"]
    assert (record["state"], record["delivered"], record["attempts"]) == ("failed", False, 1), record
    assert "HTTP 400 (Event object is invalid: 'routing_key' is invalid)" in record["last_error"]
    assert outbox_of(result) == [] and wrong_key not in result.stdout + json.dumps(result.doc)


def test_a_429_or_5xx_from_pagerduty_is_retried_within_the_budget(alerting, pagerduty):
    pagerduty.script = [429, 503]
    result = alerting(FAIL_DISK="1", DIGITALME_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
                      DIGITALME_PAGERDUTY_URL=pagerduty.url())
    assert pagerduty.answers == [429, 503, 202]
    [record] = result.doc["alerts"]
    assert (record["state"], record["attempts"]) == ("sent", 3), record


def test_level_3_goes_to_the_emergency_routing_key_and_alertmanager_labels_it(alerting, alertmanager, pagerduty):
    env = {"DIGITALME_ALERTMANAGER_URL": alertmanager.url(), "DIGITALME_PAGERDUTY_URL": pagerduty.url(),
           "DIGITALME_PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "DIGITALME_PAGERDUTY_ROUTING_KEY_EMERGENCY": EMERGENCY_KEY,
           "DIGITALME_ESCALATE_AFTER": "0s"}
    alerting(FAIL_DISK="1", **env)
    assert sorted(e["routing_key"] == EMERGENCY_KEY for e in pagerduty.events) == [False, True]
    assert sorted(a["labels"].get("level", "") for a in alertmanager.alerts()) == ["", "3"]
    again = alerting(FAIL_DISK="1", **env)  # still failing: the Level 3 alert is re-posted beside the suppressed one
    [suppressed] = alerts_of(again, state="suppressed")
    assert [(r["channel"], r["route"], r["state"]) for r in suppressed["refreshed"]] == [
        ("alertmanager", "critical", "sent"), ("alertmanager", "emergency", "sent")]
    assert len(pagerduty.events) == 2
    assert sorted(a["labels"].get("level", "") for a in alertmanager.alerts()) == ["", "3"]
    alerting(**env)
    assert alertmanager.alerts() == []
    assert sorted((e["event_action"], e["routing_key"] == EMERGENCY_KEY) for e in pagerduty.events[2:]) == [
        ("resolve", False), ("resolve", True)]


def test_dry_run_sends_nothing_to_alertmanager_or_pagerduty(alerting, alertmanager, pagerduty):
    result = alerting("--alerts", "dry-run", FAIL_DISK="1", DIGITALME_ALERTMANAGER_URL=alertmanager.url(),
                      DIGITALME_PAGERDUTY_ROUTING_KEY=ROUTING_KEY, DIGITALME_PAGERDUTY_URL=pagerduty.url())
    assert [r["state"] for r in result.doc["alerts"]] == ["dry-run"]
    assert pagerduty.events == [] and alertmanager.alerts() == []


@pytest.mark.parametrize("name, value, said", [
    ("DIGITALME_PAGERDUTY_ROUTING_KEY", "not-a-key-" + "s3cr3t" * 4, "32 letters and digits"),
    ("DIGITALME_ALERTMANAGER_URL", "http://127.0.0.1:9093,am-two:9093", "URL 2 of 2"),
])
def test_a_malformed_channel_setting_stops_the_run_before_any_check(alerting, name, value, said):
    result = alerting(**{name: value})
    assert result.returncode == 4, result
    assert name in result.stdout + result.stderr and said in result.stdout + result.stderr
    assert value not in result.stdout + result.stderr
