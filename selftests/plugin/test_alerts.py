"""The alerts plugin from the outside: mini projects run in a subprocess, webhooks land on a real HTTP receiver
on 127.0.0.1 that can answer 200, 500, 400, slowly, drip a byte at a time, or be down."""

import datetime as dt
import fcntl
import hashlib
import hmac
import http.server
import json
import select
import concurrent.futures
import contextlib
import socket
import threading
import time

import pytest

import schema_check
from mini_checks import DISK, HEALTH, LEAKY, LOGS, MEMORY, checks, integrity

CHECKS = checks(DISK, MEMORY, LOGS, HEALTH, integrity("weekly"), LEAKY)

SECRET = "s3cret-signing-key"
TOKEN = "T0KEN-9f8e7d6c5b4a"


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request, answers as scripted (default 200). Every POST's body
    is held to the alert payload's schema (schema_check), except on the paths starting with one of ``foreign`` (a
    receiver standing in for another format: Alertmanager's notifications, a plugin's own channel): a mismatch
    fails the test at its next look at the requests, or at the end."""

    def __init__(self, foreign=()):
        self.requests, self.script, self.delay_s = [], [], 0.0
        self.foreign, self.mismatches = tuple(foreign), []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body})
                receiver.hold_to_schema(self.command, self.path, body)
                time.sleep(receiver.delay_s)
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def url(self, path="/hook/" + TOKEN):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def hold_to_schema(self, method, path, body):
        if not path.startswith(self.foreign):
            problem = schema_check.payload_problem(method, path, body)
            if problem:
                self.mismatches.append(problem)

    def assert_payloads_valid(self):
        if self.mismatches:
            raise schema_check.SchemaMismatch("the webhook receiver got payloads that do not match the schema:\n"
                                              + "\n".join(self.mismatches))

    def posts(self, path=None):
        self.assert_payloads_valid()
        return [r for r in self.requests if r["method"] == "POST" and (path is None or r["path"] == path)]

    def payloads(self, path=None):
        return [json.loads(r["body"]) for r in self.posts(path)]

    def stop(self):
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.running = False
        self.assert_payloads_valid()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def down_url():
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook/{TOKEN}"


@pytest.fixture
def alerting(mini_project):
    """``alerting(*args, **env)``: one run of the mini project, alerting to nothing unless env says so."""
    run = mini_project(CHECKS)

    def go(*args, **env):
        environment = {"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_ALERT_BUDGET_S": "4",
                       "DIGITALME_WEBHOOK_SECRET": SECRET, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        environment.update({k: str(v) for k, v in env.items()})
        result = run(*args, env=environment)
        result.doc = result.results  # read now: the next run replaces latest.json
        return result
    return go


def alerts_of(result, **match):
    return [a for a in result.doc["alerts"] if all(a.get(k) == v for k, v in match.items())]


def outbox_of(result):
    path = result.report_dir / "state" / "alerts" / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_failing_check_sends_one_signed_post_with_the_manuals_payload(alerting, receiver):
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert result.returncode == 1, result
    [post] = receiver.posts()
    payload = json.loads(post["body"])
    assert payload["severity"] == "critical" and payload["service"] == "DigitalMe" and payload["status"] == "firing"
    assert payload["check"].endswith("::test_disk") and payload["title"] == "/ is 91% used"  # the finding
    assert payload["message"] == "/ is 91% used (required: below 80%); check: Disk use below 80%"
    assert dt.datetime.fromisoformat(payload["timestamp"]).utcoffset() == dt.timedelta(0)
    assert payload["target"] == "http://localhost" and len(payload["fingerprint"]) >= 16
    assert (payload["value"], payload["threshold"]) == (91, 80) and payload["report"].endswith(".html")
    expected = "sha256=" + hmac.new(SECRET.encode(), post["body"], hashlib.sha256).hexdigest()
    assert post["headers"]["X-DigitalMe-Signature"] == expected
    [record] = alerts_of(result, state="sent")
    assert record["delivered"] is True and record["attempts"] == 1 and record["payload"] == payload


def test_a_second_run_within_the_repeat_interval_sends_nothing(alerting, receiver):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    second = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert len(receiver.posts()) == 1
    [record] = alerts_of(second, state="suppressed")
    assert record["reason"] == "repeat interval" and record["delivered"] is False
    assert "1 suppressed (repeat interval)" in second.stdout


def test_after_the_repeat_interval_the_alert_is_sent_again(alerting, receiver):
    for _ in range(2):
        alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_ALERT_REPEAT_CRITICAL="0s", FAIL_DISK="1")
    assert [p["status"] for p in receiver.payloads()] == ["firing", "firing"]


def test_recovery_sends_one_resolved_and_only_once(alerting, receiver):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    recovered = alerting(DIGITALME_WEBHOOK_URL=receiver.url())
    [record] = alerts_of(recovered, state="sent")
    alerting(DIGITALME_WEBHOOK_URL=receiver.url())
    firing, resolved = receiver.payloads()
    assert resolved["status"] == "resolved" and resolved["check"] == firing["check"]
    assert resolved["fingerprint"] == firing["fingerprint"] and resolved["severity"] == "critical"
    assert record["payload"] == resolved


def test_a_deselected_check_resolves_nothing(alerting, receiver):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    alerting("-k", "not test_disk", DIGITALME_WEBHOOK_URL=receiver.url())
    assert [p["status"] for p in receiver.payloads()] == ["firing"]


def test_a_receiver_answering_500_twice_gets_the_alert_exactly_once(alerting, receiver):
    receiver.script = [500, 500, 200]
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert len(receiver.posts()) == 3
    assert receiver.posts()[0]["body"] == receiver.posts()[2]["body"]  # the same alert, retried
    [record] = result.doc["alerts"]
    assert (record["state"], record["delivered"], record["attempts"]) == ("sent", True, 3)
    assert outbox_of(result) == []


def test_a_receiver_answering_429_is_retried_after_backing_off(alerting, receiver):
    receiver.script = [429, 200]
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert len(receiver.posts()) == 2
    [record] = result.doc["alerts"]
    assert (record["state"], record["delivered"], record["attempts"]) == ("sent", True, 2)


def test_a_receiver_that_is_down_gets_the_queued_alert_first_next_run(alerting, receiver, down_url):
    first = alerting(DIGITALME_WEBHOOK_URL=down_url, DIGITALME_ALERT_BUDGET_S="2", FAIL_DISK="1")
    [record] = first.doc["alerts"]
    assert record["state"] == "queued" and record["delivered"] is False and record["attempts"] >= 2
    assert "receiver unreachable" in record["last_error"]
    assert [item["payload"]["check"] for item in outbox_of(first)] == [record["payload"]["check"]]
    assert "1 queued (receiver unreachable)" in first.stdout

    second = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1", FAIL_MEMORY="1")
    queued, new = receiver.payloads()
    assert queued == record["payload"] and new["check"].endswith("::test_memory")
    assert alerts_of(second, from_outbox=True)[0]["state"] == "sent"
    assert alerts_of(second, from_outbox=False, state="suppressed")[0]["payload"]["check"].endswith("::test_disk")
    assert outbox_of(second) == []


def test_a_400_is_not_retried_and_recorded_as_failed(alerting, receiver):
    receiver.script = [400]
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert len(receiver.posts()) == 1
    [record] = result.doc["alerts"]
    assert (record["state"], record["delivered"], record["attempts"]) == ("failed", False, 1)
    assert "HTTP 400" in record["last_error"] and "not queued" in record["last_error"]
    assert outbox_of(result) == []


def window_around_now():
    """A weekly maintenance window (UTC) that contains the next few minutes."""
    now = dt.datetime.now(dt.timezone.utc)
    if now.time() >= dt.time(23, 56):
        pytest.skip("a weekly window cannot cover the last minutes of a day; run again after midnight UTC")
    start = max(now - dt.timedelta(minutes=1), now.replace(hour=0, minute=0))
    end = min(now + dt.timedelta(minutes=15), now.replace(hour=23, minute=59))
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[now.weekday()]
    return f"{day} {start:%H:%M}-{end:%H:%M}"


def test_a_weekly_failure_in_the_window_is_held_and_sent_by_the_next_monitor_run(alerting, receiver):
    """A weekly-only critical check failing inside the maintenance window is held, then delivered by the first run
    after the window, although that run (monitor) does not select the check.

    Manual: Weekly Maintenance (Sunday 02:00) inside the maintenance window (Sun 02:00-04:00)
    """
    held = alerting("-m", "weekly", DIGITALME_WEBHOOK_URL=receiver.url(),
                    DIGITALME_MAINTENANCE_WINDOW=window_around_now(), FAIL_INTEGRITY="1")
    assert held.returncode == 1, held
    assert receiver.requests == [], f"sent inside the window: {receiver.payloads()}"
    [record] = held.doc["alerts"]
    assert record["state"] == "held" and record["reason"].startswith("maintenance window ("), record
    assert record["held_at"] and record["payload"]["check"].endswith("::test_integrity"), record
    assert "DigitalMe alerts: 1 held (maintenance window (" in held.stdout, held
    assert 'class="alert-held"' in (held.report_dir / "latest.html").read_text(), "the record shows no held alert"

    after = alerting("-m", "monitor", DIGITALME_WEBHOOK_URL=receiver.url())  # the window is over ("off")
    assert after.returncode == 0, after
    assert receiver.payloads() == [record["payload"]], f"expected the held alert, got {receiver.payloads()}"
    [sent] = alerts_of(after, from_held=True)
    assert sent["state"] == "sent" and sent["held_at"] == record["held_at"], sent
    alerting("-m", "monitor", DIGITALME_WEBHOOK_URL=receiver.url())
    assert len(receiver.posts()) == 1, f"the held alert went out again: {receiver.payloads()}"


def test_a_held_alert_whose_check_passes_first_is_withdrawn_and_never_sent(alerting, receiver):
    """A check that passes before its held alert was delivered withdraws it: after the window nothing is sent, not
    even a resolved (no receiver heard of it), and a later failure alerts afresh."""
    window = window_around_now()
    alerting("-m", "weekly", DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_MAINTENANCE_WINDOW=window,
             FAIL_INTEGRITY="1")
    passed = alerting("-m", "weekly", DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_MAINTENANCE_WINDOW=window)
    [record] = passed.doc["alerts"]
    assert record["state"] == "withdrawn" and "passed before" in record["reason"], record
    assert 'class="alert-withdrawn"' in (passed.report_dir / "latest.html").read_text()
    after = alerting("-m", "monitor", DIGITALME_WEBHOOK_URL=receiver.url())
    assert receiver.requests == [] and after.doc["alerts"] == [], f"sent after all: {receiver.payloads()}"
    again = alerting("-m", "weekly", DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_INTEGRITY="1")
    assert [p["status"] for p in receiver.payloads()] == ["firing"], again


def test_a_resolved_held_in_the_window_is_sent_after_it(alerting, receiver):
    """A recovery inside the window is held like a failure, and its resolved goes out after the window."""
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    held = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_MAINTENANCE_WINDOW=window_around_now())
    [record] = held.doc["alerts"]
    assert (record["state"], record["payload"]["status"]) == ("held", "resolved"), record
    assert [p["status"] for p in receiver.payloads()] == ["firing"]
    alerting("-m", "weekly", DIGITALME_WEBHOOK_URL=receiver.url())
    assert [p["status"] for p in receiver.payloads()] == ["firing", "resolved"]


def test_a_held_resolved_is_withdrawn_when_the_check_fails_again_in_the_window(alerting, receiver):
    """Fail (sent), pass and fail again inside the window: the receiver still knows it as firing, so neither the
    held resolved nor a second firing goes out; its eventual recovery is resolved as usual."""
    window = window_around_now()
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_MAINTENANCE_WINDOW=window)
    again = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_MAINTENANCE_WINDOW=window, FAIL_DISK="1")
    assert sorted(a["state"] for a in again.doc["alerts"]) == ["suppressed", "withdrawn"], again.doc["alerts"]
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert [p["status"] for p in receiver.payloads()] == ["firing"], receiver.payloads()
    alerting(DIGITALME_WEBHOOK_URL=receiver.url())
    assert [p["status"] for p in receiver.payloads()] == ["firing", "resolved"], receiver.payloads()


def test_each_severity_goes_to_its_own_webhook(alerting, receiver):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url("/all"), DIGITALME_WEBHOOK_URL_CRITICAL=receiver.url("/critical"),
          DIGITALME_WEBHOOK_URL_WARNING=receiver.url("/warning"), FAIL_DISK="1", FAIL_MEMORY="1")
    assert [p["severity"] for p in receiver.payloads("/critical")] == ["critical"]
    assert [p["severity"] for p in receiver.payloads("/warning")] == ["warning"]
    assert receiver.posts("/all") == []


def test_a_severity_without_its_own_webhook_uses_the_common_one(alerting, receiver):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url("/all"), DIGITALME_WEBHOOK_URL_CRITICAL=receiver.url("/critical"),
          FAIL_DISK="1", FAIL_MEMORY="1")
    assert [p["severity"] for p in receiver.payloads("/critical")] == ["critical"]
    assert [p["severity"] for p in receiver.payloads("/all")] == ["warning"]


def test_without_a_webhook_nothing_is_sent_and_that_is_recorded(alerting):
    result = alerting(FAIL_DISK="1")
    [record] = result.doc["alerts"]
    assert (record["state"], record["reason"]) == ("unrouted", "no alert channel configured")


def test_check_results_are_the_same_whether_the_receiver_is_up_slow_or_down(alerting, receiver, down_url):
    def outcomes(result):
        return result.returncode, [(c["id"], c["outcome"], c["severity"], c["message"]) for c in result.doc["checks"]]

    budget = {"DIGITALME_ALERT_BUDGET_S": "1.5", "DIGITALME_ALERT_REPEAT_CRITICAL": "0s",
              "DIGITALME_ALERT_REPEAT_WARNING": "0s", "FAIL_DISK": "1", "FAIL_MEMORY": "1"}
    up = alerting(DIGITALME_WEBHOOK_URL=receiver.url("/up"), **budget)
    receiver.delay_s = 3
    slow = alerting(DIGITALME_WEBHOOK_URL=receiver.url("/slow"), **budget)
    down = alerting(DIGITALME_WEBHOOK_URL=down_url, **budget)
    assert outcomes(up) == outcomes(slow) == outcomes(down)
    assert outcomes(up)[0] == 1 and len(outcomes(up)[1]) == 9
    assert {a["state"] for a in up.doc["alerts"]} == {"sent"}
    assert {a["state"] for a in slow.doc["alerts"]} == {"queued"}
    assert {a["state"] for a in down.doc["alerts"]} == {"queued"}


def test_webhook_urls_and_the_secret_are_written_nowhere(alerting, receiver, down_url):
    heartbeat = receiver.url(f"/ping/{TOKEN}")
    runs = [alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_HEARTBEAT_URL=heartbeat, FAIL_DISK="1"),
            alerting("--alerts", "dry-run", DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_MEMORY="1")]
    receiver.script = [400]
    runs.append(alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_LOGS="1"))
    runs.append(alerting(DIGITALME_WEBHOOK_URL=down_url, DIGITALME_ALERT_BUDGET_S="1", FAIL_MEMORY="1"))
    assert {r.doc["alerts"][0]["state"] for r in runs} == {"sent", "dry-run", "failed", "queued"}
    assert outbox_of(runs[-1])
    written = [r.stdout + r.stderr for r in runs]
    written += [p.read_text() for p in runs[0].report_dir.rglob("*") if p.is_file()]
    for text in written:
        assert TOKEN not in text and SECRET not in text


def test_a_message_carrying_the_secret_is_scrubbed_before_sending(alerting, receiver):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_LEAKY="1")
    [post] = receiver.posts()
    assert SECRET.encode() not in post["body"] and "***" in json.loads(post["body"])["message"]


def test_a_flood_of_failures_sends_one_summary(alerting, receiver):
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_ALERTS_MAX_PER_RUN="3",
                   FAIL_DISK="1", FAIL_LOGS="1")
    [summary] = receiver.payloads()
    assert summary["severity"] == "critical" and summary["message"].startswith("5 checks failed: ")
    assert "/ is 91% used" in summary["message"]  # each alert's finding
    assert len(alerts_of(result, state="summarised")) == 5


def test_dry_run_prints_the_payloads_and_sends_nothing(alerting, receiver):
    result = alerting("--alerts", "dry-run", DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert receiver.requests == []
    line = next(line for line in result.stdout.splitlines() if line.startswith("DigitalMe alert (dry-run"))
    assert json.loads(line.split(": ", 1)[1])["check"].endswith("::test_disk")
    assert alerts_of(result, state="dry-run")
    assert not (result.report_dir / "state" / "alerts").exists()


def test_alerts_off_sends_and_keeps_nothing(alerting, receiver):
    result = alerting("--alerts", "off", DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert receiver.requests == [] and result.doc["alerts"] == []
    assert not (result.report_dir / "state" / "alerts").exists()


def test_the_heartbeat_is_pinged_and_hits_fail_when_a_check_failed(alerting, receiver):
    url = receiver.url("/ping/abc")
    alerting(DIGITALME_HEARTBEAT_URL=url)
    result = alerting(DIGITALME_HEARTBEAT_URL=url, FAIL_MEMORY="1")
    assert [(r["method"], r["path"]) for r in receiver.requests] == [("GET", "/ping/abc"), ("GET", "/ping/abc/fail")]
    assert "heartbeat (fail, a check failed) pinged" in result.stdout


def test_the_alerts_line_comes_before_the_status_line(alerting, receiver):
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    lines = result.stdout.splitlines()
    alerts = next(i for i, line in enumerate(lines) if line.startswith("DigitalMe alerts: "))
    status = next(i for i, line in enumerate(lines) if line.startswith("DigitalMe: CRITICAL"))
    assert alerts < status and lines[alerts] == "DigitalMe alerts: 1 sent"


def test_two_overlapping_runs_alert_once(alerting, receiver):
    receiver.delay_s = 1  # the first run is still delivering when the second decides
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(alerting, DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1") for _ in range(2)]
        assert [run.result().returncode for run in runs] == [1, 1]
    assert len(receiver.posts()) == 1


def test_an_alerts_folder_that_cannot_be_made_keeps_the_state_in_the_fallback(alerting, receiver, tmp_path):
    """When <report dir>/state/alerts cannot be used the run says so, alerts anyway, and keeps its state where it can,
    so the next run does not send the same alert again."""
    (tmp_path / "reports" / "state").mkdir(parents=True)
    (tmp_path / "reports" / "state" / "alerts").write_text("a file where the alert state folder should be")
    env = {"DIGITALME_WEBHOOK_URL": receiver.url(), "XDG_STATE_HOME": tmp_path / "state", "FAIL_DISK": "1"}
    first = alerting(**env)
    assert first.returncode == 1 and [a["state"] for a in first.doc["alerts"]] == ["sent"], first
    assert f"alert state kept in {tmp_path / 'state' / 'digitalme-ops'}" in first.stdout, first
    assert list((tmp_path / "state").rglob("state.json")), "no state in the fallback folder"
    second = alerting(**env)
    assert len(receiver.posts()) == 1, f"sent again: {receiver.payloads()}"
    assert [a["state"] for a in second.doc["alerts"]] == ["suppressed"], second


BREAK_ALERTING = """
import plugins.outputs.alerting.flood as _flood


def _broken(*args, **kwargs):
    raise RuntimeError("planning broke")


_flood.flood_guard = _broken
"""


def test_a_broken_alerting_is_one_line_and_changes_no_result(mini_project, receiver):
    run = mini_project(CHECKS, conftest_extra=BREAK_ALERTING)
    result = run(env={"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_WEBHOOK_URL": receiver.url(),
                      "FAIL_DISK": "1", "NO_PROXY": "127.0.0.1"})
    doc = result.results
    assert result.returncode == 1 and doc["status"] == "critical"
    [record] = doc["alerts"]
    assert record["state"] == "error" and record["last_error"]
    assert "DigitalMe alerts: 1 error (alerting failed: RuntimeError: planning broke)" in result.stdout, result
    assert "Traceback" not in result.stdout


# --- delivery goes through the pytest_digitalme_deliver_alert hook --------------------------------------

CHAT_CHANNEL = """
import json as _json
import os as _os

import pytest as _pytest


@_pytest.hookimpl
def pytest_digitalme_deliver_alert(config, alert, route):
    with open(_os.environ["CHAT_LOG"], "a") as log:
        log.write(_json.dumps({"route": route, "check": alert["check"], "status": alert["status"]}) + "\\n")
    if _os.environ["CHAT_MODE"] == "raise":
        raise RuntimeError("chat service down")
    if _os.environ["CHAT_MODE"] == "replace":
        return {"state": "sent", "reason": "", "delivered": True, "attempts": 1, "last_error": None}
    return None  # "add": the webhook goes too
"""


@pytest.fixture
def chat_alerting(mini_project, receiver, tmp_path):
    """``chat_alerting(mode, **env) -> (result, chat lines)``: a run with a plugin channel in its conftest."""
    run = mini_project(CHECKS, conftest_extra=CHAT_CHANNEL)
    log = tmp_path / "chat.log"

    def go(mode, **env):
        environment = {"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_ALERT_BUDGET_S": "4", "CHAT_MODE": mode,
                       "CHAT_LOG": str(log), "DIGITALME_WEBHOOK_URL": receiver.url(), "NO_PROXY": "127.0.0.1"}
        result = run(env={**environment, **env})
        result.doc = result.results
        return result, [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return go


def test_a_plugin_channel_can_replace_the_webhook(chat_alerting, receiver):
    result, chat = chat_alerting("replace", FAIL_DISK="1")
    assert receiver.requests == [], f"the webhook was called although the plugin delivered: {receiver.payloads()}"
    assert [(c["route"], c["status"]) for c in chat] == [("critical", "firing")], chat
    [record] = result.doc["alerts"]
    assert (record["state"], record["delivered"], record["attempts"]) == ("sent", True, 1), record
    assert "DigitalMe alerts: 1 sent" in result.stdout, result


def test_a_plugin_channel_can_be_added_beside_the_webhook(chat_alerting, receiver):
    result, chat = chat_alerting("add", FAIL_DISK="1")
    assert [p["check"] for p in receiver.payloads()] == [chat[0]["check"]], (receiver.payloads(), chat)
    assert len(chat) == 1 and [a["state"] for a in result.doc["alerts"]] == ["sent"], result.doc["alerts"]


def test_a_plugin_channel_that_raises_leaves_the_alert_queued_for_the_next_run(chat_alerting, receiver):
    """A broken channel costs neither the run's results nor the alert: it is queued, and goes out next run."""
    broken, _ = chat_alerting("raise", FAIL_DISK="1")
    assert broken.returncode == 1 and broken.doc["status"] == "critical", broken
    [record] = broken.doc["alerts"]
    assert record["state"] == "queued" and "RuntimeError: chat service down" in record["last_error"], record
    assert [item["payload"] for item in outbox_of(broken)] == [record["payload"]]
    fixed, _ = chat_alerting("add", FAIL_DISK="1")
    assert receiver.payloads() == [record["payload"]], receiver.payloads()
    assert [(a["state"], a["from_outbox"]) for a in fixed.doc["alerts"]] == [("sent", True), ("suppressed", False)]


# --- resolved goes to every route told of the failure ----------------------------------------------

ROUTES = {"DIGITALME_WEBHOOK_URL_CRITICAL": "/critical", "DIGITALME_WEBHOOK_URL_WARNING": "/warning"}


def test_resolved_goes_to_every_route_that_received_the_firing_alert(alerting, receiver):
    """Unhealthy (critical) -> Degraded (warning) -> Healthy: both routes were told, both hear it resolved."""
    urls = {name: receiver.url(path) for name, path in ROUTES.items()}
    for health in ("Unhealthy", "Degraded", "Healthy"):
        alerting("-k", "test_health", HEALTH=health, **urls)
    critical = [(p["status"], p["severity"]) for p in receiver.payloads("/critical")]
    warning = [(p["status"], p["severity"]) for p in receiver.payloads("/warning")]
    assert critical == [("firing", "critical"), ("resolved", "critical")], critical
    assert warning == [("firing", "warning"), ("resolved", "warning")], warning


def test_routes_sharing_one_webhook_hear_resolved_once(alerting, receiver):
    for health in ("Unhealthy", "Degraded", "Healthy"):
        alerting("-k", "test_health", HEALTH=health, DIGITALME_WEBHOOK_URL=receiver.url())
    statuses = [p["status"] for p in receiver.payloads()]
    assert statuses == ["firing", "firing", "resolved"], statuses


# --- the budget is a deadline; a blocked run spools ------------------------------------------------

class DripReceiver:
    """On 127.0.0.1: reads a request, answers 200 with a 1000-byte body, then sends one byte every 0.25 s (a per-read
    timeout never fires). Stops by itself after ``drip_s``; notes when each client gave up."""

    def __init__(self, drip_s=30):
        self.drip_s, self.accepted, self.gave_up, self.running = drip_s, [], [], True
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        threading.Thread(target=self.serve, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook/{TOKEN}"

    def serve(self):
        started = time.monotonic()
        while self.running and time.monotonic() - started < self.drip_s + 5:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(time.monotonic())
            threading.Thread(target=self.drip, args=(connection,), daemon=True).start()

    def drip(self, connection):
        with connection:
            connection.settimeout(2)
            with contextlib.suppress(OSError):
                connection.recv(65536)  # the request (headers and the small body)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
                until = time.monotonic() + self.drip_s
                while self.running and time.monotonic() < until:
                    connection.sendall(b".")
                    # waiting for the next byte's turn, watch for the client closing (readable, then EOF)
                    if select.select([connection], [], [], 0.25)[0] and not connection.recv(1):
                        break
                else:
                    return
            except OSError:
                pass
            self.gave_up.append(time.monotonic())

    def stop(self):
        self.running = False
        self.sock.close()


@pytest.fixture
def drip_receiver():
    server = DripReceiver()
    yield server
    server.stop()


def test_a_slow_drip_receiver_cannot_stretch_the_run_past_its_budget(alerting, drip_receiver):
    """The alert budget is a wall-clock deadline: a receiver sending one byte at a time is cut off at it, and the
    alert waits in the outbox."""
    budget = 2.0
    started = time.monotonic()
    result = alerting(DIGITALME_WEBHOOK_URL=drip_receiver.url(), DIGITALME_ALERT_BUDGET_S=budget, FAIL_DISK="1")
    took = time.monotonic() - started
    assert drip_receiver.accepted, f"the receiver was never reached: {result!r}"
    for _ in range(20):  # the receiver notices the client's close a moment later
        if not drip_receiver.gave_up:
            time.sleep(0.1)
    assert drip_receiver.gave_up, "the client never gave up on the drip"
    held_open = drip_receiver.gave_up[-1] - drip_receiver.accepted[0]
    assert held_open <= budget + 0.75, f"the delivery lasted {held_open:.2f} s, budget {budget} s"
    assert took < budget + 15, f"the whole run took {took:.1f} s with an alert budget of {budget} s"
    [record] = result.doc["alerts"]
    assert record["state"] == "queued" and "timed out" in record["last_error"], record
    assert [item["payload"] for item in outbox_of(result)] == [record["payload"]]


def test_a_run_blocked_at_the_lock_spools_its_alert_for_the_next_run(alerting, receiver, tmp_path):
    """An overlapping run that cannot get the alert lock within its budget drops nothing: the next run sends it."""
    folder = tmp_path / "reports" / "state" / "alerts"
    folder.mkdir(parents=True)
    with open(folder / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run is (for ever) delivering
        blocked = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_ALERT_BUDGET_S="1", FAIL_DISK="1")
    assert receiver.requests == []
    [record] = blocked.doc["alerts"]
    assert record["state"] == "spooled" and "locked by another run" in record["reason"], record
    assert len(list((folder / "spool").iterdir())) == 1, "no spool file"
    assert "DigitalMe alerts: 1 spooled (alert state locked by another run for the whole alert budget)" in blocked.stdout

    following = alerting("-k", "test_memory", DIGITALME_WEBHOOK_URL=receiver.url())  # selects no failing check
    [payload] = receiver.payloads()
    assert payload["check"].endswith("::test_disk") and payload["status"] == "firing", payload
    [sent] = alerts_of(following, from_spool=True)
    assert sent["state"] == "sent", sent
    assert list((folder / "spool").iterdir()) == [], "the spool file stayed"
    again = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert len(receiver.posts()) == 1 and alerts_of(again, state="suppressed"), f"sent twice: {receiver.payloads()}"


# --- the heartbeat tells of undelivered alerts and empty runs ----------------------------------------

def test_the_heartbeat_fails_when_an_alert_could_not_be_delivered(alerting, receiver, down_url):
    alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    result = alerting(DIGITALME_WEBHOOK_URL=down_url, DIGITALME_ALERT_BUDGET_S="1",
                      DIGITALME_HEARTBEAT_URL=receiver.url("/ping/abc"))
    assert result.returncode == 0, result  # every check passed: only the resolved could not go out
    assert [a["state"] for a in result.doc["alerts"]] == ["queued"], result.doc["alerts"]
    pings = [r["path"] for r in receiver.requests if r["method"] == "GET"]
    assert pings == ["/ping/abc/fail"], pings
    assert "heartbeat (fail, an alert was not delivered) pinged" in result.stdout


def test_the_heartbeat_fails_when_no_check_was_selected(alerting, receiver):
    result = alerting("-k", "no_such_check", DIGITALME_HEARTBEAT_URL=receiver.url("/ping/abc"))
    assert result.returncode == 5 and result.doc["counts"] == dict.fromkeys(
        ("passed", "failed", "skipped", "error", "waived", "not checked"), 0)
    pings = [r["path"] for r in receiver.requests if r["method"] == "GET"]
    assert pings == ["/ping/abc/fail"], pings
    assert "heartbeat (fail, no check ran) pinged" in result.stdout


# --- the alert state of an earlier version (<report dir>/alerts) -------------------------------------

def test_the_alert_state_of_an_earlier_version_is_read_once_and_moved(alerting, receiver, down_url):
    """Upgrading from a version that kept the alert state in <report dir>/alerts: the first run reads its state and
    outbox (the queued alert goes first, the still failing check's repeat is suppressed, the episode goes on),
    keeps them in <report dir>/state/alerts and removes the old folder."""
    first = alerting(DIGITALME_WEBHOOK_URL=down_url, DIGITALME_ALERT_BUDGET_S="2", FAIL_DISK="1")
    [queued] = first.doc["alerts"]
    assert queued["state"] == "queued", queued
    old = first.report_dir / "alerts"
    (first.report_dir / "state" / "alerts").rename(old)  # where an earlier version kept it
    upgraded = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert receiver.payloads() == [queued["payload"]], receiver.payloads()
    assert [(a["state"], a["from_outbox"]) for a in upgraded.doc["alerts"]] == [("sent", True), ("suppressed", False)]
    assert not old.exists(), f"the old folder stayed: {sorted(p.name for p in old.rglob('*'))}"
    assert outbox_of(upgraded) == [] and (upgraded.report_dir / "state" / "alerts" / "state.json").exists()
    alerting(DIGITALME_WEBHOOK_URL=receiver.url())
    assert [p["status"] for p in receiver.payloads()] == ["firing", "resolved"], "the episode was lost"


def test_an_earlier_versions_spooled_run_is_read_and_its_folder_removed_once_the_state_is_kept(tmp_path):
    """A run blocked at the lock under an earlier version left its checks in <report dir>/alerts/spool: the next
    lock holder reads them with the others, and once it has written the state the old folder is gone."""
    from plugins.outputs.alerting.store import Store
    spool = tmp_path / "alerts" / "spool"
    spool.mkdir(parents=True)
    (spool / "run-1.json").write_text(json.dumps({"now": "2026-03-01T10:00:00+00:00", "checks": []}))
    (tmp_path / "alerts" / "lock").write_text("")
    store = Store(str(tmp_path))
    with store.locked(time.monotonic() + 5):
        assert [document["now"] for document in store.read_spool()] == ["2026-03-01T10:00:00+00:00"]
        store.write({}, [], [], dt.datetime(2026, 3, 1, 10, 5, tzinfo=dt.timezone.utc))
    assert not (tmp_path / "alerts").exists(), sorted(p.name for p in (tmp_path / "alerts").rglob("*"))
    assert json.loads((tmp_path / "state" / "alerts" / "state.json").read_text())["alerts"] == {}
