"""The alerts plugin from the outside: mini projects run in a subprocess, webhooks land on a real HTTP receiver
on 127.0.0.1 that can answer 200, 500, 400, slowly, or be down."""

import datetime as dt
import hashlib
import hmac
import http.server
import json
import concurrent.futures
import socket
import threading
import time

import pytest

CHECKS = '''
    import os

    import pytest


    @pytest.mark.critical
    @pytest.mark.monitor
    def test_disk(check):
        """Disk use below 80%"""
        used = 91 if os.environ.get("FAIL_DISK") else 40
        check.record(used, 80)
        assert used < 80, f"/ is {used}% used (threshold 80%)"


    @pytest.mark.warning
    @pytest.mark.monitor
    def test_memory(check):
        """Memory use below 85%"""
        assert not os.environ.get("FAIL_MEMORY"), "memory is 90% used (threshold 85%)"


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.parametrize("n", range(4))
    def test_log(n):
        """Log errors within limits"""
        assert not os.environ.get("FAIL_LOGS"), f"log {n}: 12 errors (threshold 10)"


    @pytest.mark.critical
    @pytest.mark.monitor
    def test_leaky():
        """A check whose message carries a secret"""
        assert not os.environ.get("FAIL_LEAKY"), "answer mentions " + os.environ.get("DIGITALME_WEBHOOK_SECRET", "")
'''

SECRET = "s3cret-signing-key"
TOKEN = "T0KEN-9f8e7d6c5b4a"


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request, answers as scripted (default 200)."""

    def __init__(self):
        self.requests, self.script, self.delay_s = [], [], 0.0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body})
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

    def posts(self, path=None):
        return [r for r in self.requests if r["method"] == "POST" and (path is None or r["path"] == path)]

    def payloads(self, path=None):
        return [json.loads(r["body"]) for r in self.posts(path)]

    def stop(self):
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.running = False


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
    path = result.report_dir / "alerts" / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_failing_check_sends_one_signed_post_with_the_manuals_payload(alerting, receiver):
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert result.returncode == 1, result
    [post] = receiver.posts()
    payload = json.loads(post["body"])
    assert payload["severity"] == "critical" and payload["service"] == "DigitalMe" and payload["status"] == "firing"
    assert payload["check"].endswith("::test_disk") and payload["title"] == "Disk use below 80%"
    assert "/ is 91% used" in payload["message"]
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


def test_inside_the_maintenance_window_nothing_is_sent(alerting, receiver):
    now = dt.datetime.now(dt.timezone.utc)
    if now.time() >= dt.time(23, 58):
        pytest.skip("a weekly window cannot cover the last minutes of a day; run again after midnight UTC")
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[now.weekday()]
    window = f"{day} {now.hour:02d}:00-{min(now.hour + 1, 23):02d}:{'00' if now.hour < 23 else '59'}"
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), DIGITALME_MAINTENANCE_WINDOW=window, FAIL_DISK="1")
    assert receiver.requests == []
    [record] = result.doc["alerts"]
    assert (record["state"], record["reason"]) == ("suppressed", "maintenance window")
    assert not (result.report_dir / "alerts" / "state.json").exists()


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
    assert (record["state"], record["reason"]) == ("unrouted", "no webhook configured")


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
    assert outcomes(up)[0] == 1 and len(outcomes(up)[1]) == 7
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
    assert "Disk use below 80%" in summary["message"]
    assert len(alerts_of(result, state="summarised")) == 5


def test_dry_run_prints_the_payloads_and_sends_nothing(alerting, receiver):
    result = alerting("--alerts", "dry-run", DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert receiver.requests == []
    line = next(line for line in result.stdout.splitlines() if line.startswith("DigitalMe alert (dry-run"))
    assert json.loads(line.split(": ", 1)[1])["check"].endswith("::test_disk")
    assert alerts_of(result, state="dry-run")
    assert not (result.report_dir / "alerts").exists()


def test_alerts_off_sends_and_keeps_nothing(alerting, receiver):
    result = alerting("--alerts", "off", DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert receiver.requests == [] and result.doc["alerts"] == []
    assert not (result.report_dir / "alerts").exists()


def test_the_heartbeat_is_pinged_and_hits_fail_when_a_check_failed(alerting, receiver):
    url = receiver.url("/ping/abc")
    alerting(DIGITALME_HEARTBEAT_URL=url)
    result = alerting(DIGITALME_HEARTBEAT_URL=url, FAIL_MEMORY="1")
    assert [(r["method"], r["path"]) for r in receiver.requests] == [("GET", "/ping/abc"), ("GET", "/ping/abc/fail")]
    assert "heartbeat (fail) pinged" in result.stdout


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


def test_a_broken_alerting_is_one_line_and_changes_no_result(alerting, receiver, tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "alerts").write_text("a file where the alert state folder should be")
    result = alerting(DIGITALME_WEBHOOK_URL=receiver.url(), FAIL_DISK="1")
    assert result.returncode == 1 and result.doc["status"] == "critical"
    [record] = result.doc["alerts"]
    assert record["state"] == "error" and record["last_error"]
    assert "DigitalMe alerts: 1 error (alerting failed: " in result.stdout and "Traceback" not in result.stdout
