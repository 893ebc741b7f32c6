"""The on-call policy of plugins/alerting end to end: a mini project run after run against a real receiver on
127.0.0.1 shows flap control and Level 3 in the results file, the record, the terminal and the webhooks it reaches.
The policy itself, case by case: unit/test_alert_policy.py."""

import fcntl
import json
import time

import pytest

from mini_checks import DISK, HEALTH, checks, integrity
from test_alerts import TOKEN, receiver, window_around_now  # noqa: F401 (fixture)


CHECKS = checks(DISK, HEALTH, integrity("weekly", level3=True))


@pytest.fixture
def policy_runs(mini_project, receiver):
    """``policy_runs(**env)``: one run of the mini project, critical and emergency webhooks on the receiver."""
    run = mini_project(CHECKS)

    def go(**env):
        environment = {"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_ALERT_BUDGET_S": "4",
                       "DIGITALME_WEBHOOK_URL": receiver.url("/critical/" + TOKEN),
                       "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", **{k: str(v) for k, v in env.items()}}
        result = run(env=environment)
        result.doc = result.results  # read now: the next run replaces latest.json
        return result
    return go


def test_a_waiting_alert_is_in_the_results_file_the_record_and_the_terminal(policy_runs, receiver):
    first = policy_runs(DIGITALME_ALERT_AFTER_CRITICAL="2", FAIL_DISK="1")
    assert first.returncode == 1, first
    assert receiver.posts() == [], f"sent below the threshold: {receiver.payloads()}"
    [record] = first.doc["alerts"]
    assert record["state"] == "waiting" and "failing 1 of 2 runs" in record["reason"], record
    assert "DigitalMe alerts: 1 waiting (failing 1 of 2 runs before alerting" in first.stdout, first
    assert 'class="alert-waiting"' in (first.report_dir / "latest.html").read_text(), "the record shows no waiting"
    policy_runs(DIGITALME_ALERT_AFTER_CRITICAL="2", FAIL_DISK="1")
    assert [p["status"] for p in receiver.payloads()] == ["firing"], receiver.payloads()


def test_escalation_and_level3_reach_the_emergency_webhook(policy_runs, receiver):
    """End to end: a marked finding goes to the emergency webhook at once; an unmarked critical goes there once,
    as an escalation, after DIGITALME_ESCALATE_AFTER; both resolved there too. The terminal and the record name
    the emergency route; the URLs never appear."""
    level3 = {"DIGITALME_WEBHOOK_URL_EMERGENCY": receiver.url("/emergency/" + TOKEN), "DIGITALME_ESCALATE_AFTER": "1s"}
    first = policy_runs(**level3, FAIL_DISK="1", FAIL_INTEGRITY="1")
    [marked] = receiver.payloads("/emergency/" + TOKEN)
    assert marked["check"].endswith("::test_integrity") and marked["level3"] == "data loss", marked
    assert len(receiver.payloads("/critical/" + TOKEN)) == 2, receiver.payloads()
    assert "1 sent to emergency" in first.stdout, first
    time.sleep(1.1)  # past DIGITALME_ESCALATE_AFTER since the first alert
    second = policy_runs(**level3, FAIL_DISK="1", FAIL_INTEGRITY="1")
    escalations = [p for p in receiver.payloads("/emergency/" + TOKEN) if p.get("escalation")]
    assert [(p["check"].split("::")[1], p["level"]) for p in escalations] == [("test_disk", 3)], escalations
    [entry] = [a for a in second.doc["alerts"] if a["route"] == "emergency"]
    assert entry["state"] == "sent", entry
    assert "<td>emergency</td>" in (second.report_dir / "latest.html").read_text(), "the record hides the route"
    policy_runs(**level3, FAIL_DISK="1", FAIL_INTEGRITY="1")
    assert len(receiver.posts("/emergency/" + TOKEN)) == 2, f"Level 3 sent twice: {receiver.payloads()}"
    recovered = policy_runs(**level3)
    resolved = [p for p in receiver.payloads("/emergency/" + TOKEN) if p["status"] == "resolved"]
    assert sorted(p["check"].split("::")[1] for p in resolved) == ["test_disk", "test_integrity"], resolved
    assert TOKEN not in recovered.stdout + json.dumps(recovered.doc), "a webhook URL was written"


def test_a_warning_before_the_critical_does_not_start_the_escalation_clock(policy_runs, receiver):
    """End to end, with the state file between runs: /health Degraded (a warning alert) past
    DIGITALME_ESCALATE_AFTER, then Unhealthy: its critical alert goes out, not Level 3; Level 3 is paged once
    DIGITALME_ESCALATE_AFTER has passed since that first critical alert, and once only."""
    level3 = {"DIGITALME_WEBHOOK_URL_EMERGENCY": receiver.url("/emergency/" + TOKEN), "DIGITALME_ESCALATE_AFTER": "3s",
              "DIGITALME_WEBHOOK_URL_WARNING": receiver.url("/warning/" + TOKEN)}
    policy_runs(**level3, HEALTH="Degraded")
    assert [p["severity"] for p in receiver.payloads("/warning/" + TOKEN)] == ["warning"], receiver.payloads()
    time.sleep(3.2)  # the warning alert is now older than DIGITALME_ESCALATE_AFTER
    first = policy_runs(**level3, HEALTH="Unhealthy")
    assert [p["severity"] for p in receiver.payloads("/critical/" + TOKEN)] == ["critical"], receiver.payloads()
    assert receiver.posts("/emergency/" + TOKEN) == [], f"paged on the first critical: {receiver.payloads()}"
    state = json.loads((first.report_dir / "state" / "alerts" / "state.json").read_text())
    [entry] = [e for e in state["alerts"].values() if e["check"].endswith("::test_health")]
    assert entry["first_critical"] > entry["first_alerted"], entry
    time.sleep(3.2)  # now past DIGITALME_ESCALATE_AFTER since the first critical alert
    policy_runs(**level3, HEALTH="Unhealthy")
    [paged] = receiver.payloads("/emergency/" + TOKEN)
    assert paged["escalation"] is True and paged["check"].endswith("::test_health"), paged
    assert paged["first_critical"] == entry["first_critical"][:19] + "+00:00", paged
    policy_runs(**level3, HEALTH="Unhealthy")
    assert len(receiver.posts("/emergency/" + TOKEN)) == 1, f"Level 3 paged twice: {receiver.payloads()}"


def test_a_run_blocked_at_the_lock_still_counts(policy_runs, receiver, tmp_path):
    """A failing run that could not get the alert lock sends nothing (it is below its threshold) but is spooled, so
    the next run counts it: two failing runs in a row alert with DIGITALME_ALERT_AFTER_CRITICAL=2."""
    folder = tmp_path / "reports" / "state" / "alerts"
    folder.mkdir(parents=True)
    with open(folder / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run is (for ever) delivering
        blocked = policy_runs(DIGITALME_ALERT_AFTER_CRITICAL="2", DIGITALME_ALERT_BUDGET_S="1", FAIL_DISK="1")
    [record] = blocked.doc["alerts"]
    assert record["state"] == "waiting" and "counted by the next run" in record["reason"], record
    policy_runs(DIGITALME_ALERT_AFTER_CRITICAL="2", FAIL_DISK="1")
    assert [p["status"] for p in receiver.payloads()] == ["firing"], "the blocked run's failure was not counted"


def test_the_counts_go_on_in_the_maintenance_window_but_not_in_dry_run(policy_runs, receiver):
    """Runs inside the window are real observations: they count, and the alert reaching its threshold there is
    held, then sent after the window. A dry-run only shows what would happen: it counts nothing."""
    after_2 = {"DIGITALME_ALERT_AFTER_CRITICAL": "2", "FAIL_DISK": "1"}
    dry = policy_runs(**after_2, DIGITALME_ALERTS="dry-run")
    assert [(a["state"], a["reason"][:16]) for a in dry.doc["alerts"]] == [("waiting", "failing 1 of 2 r")], dry
    window = window_around_now()
    first = policy_runs(**after_2, DIGITALME_MAINTENANCE_WINDOW=window)
    assert "failing 1 of 2 runs" in first.doc["alerts"][0]["reason"], "the dry-run was counted"
    held = policy_runs(**after_2, DIGITALME_MAINTENANCE_WINDOW=window)
    assert [a["state"] for a in held.doc["alerts"]] == ["held"], held.doc["alerts"]
    assert receiver.posts() == [], "sent inside the window"
    policy_runs(**after_2)  # the window is over ("off")
    assert [p["status"] for p in receiver.payloads()] == ["firing"], receiver.payloads()
