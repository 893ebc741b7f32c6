"""The on-call policy of plugins/outputs/alerting: flap control (alert after N failing runs, resolve after N passing runs)
and Level 3 (the emergency route: an escalation of a critical still firing, and data loss or security incidents at
once). Each case plans runs directly against the alert state with the real settings (fast, with a clock of our
own); plugin/test_alert_policy_runs.py runs a mini project against a real receiver on 127.0.0.1 end to end."""

import ast
import datetime as dt
import types

import pytest

from plugins.outputs.alerting import episodes, flood, plan
from plugins.outputs.alerting.policy import Policy, target_policy
from plugins.configuration.settings import DECLARED, Settings
from plugins.configuration.targets import load as load_targets
from conftest import REPO
from test_alerts import TOKEN

HOOK = "http://127.0.0.1:9/hook/" + TOKEN  # never called: planning only decides
EMERGENCY_HOOK = "http://127.0.0.1:9/emergency/" + TOKEN
START = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def settings_of(**raw):
    """Real settings: the declared defaults, ``raw`` (setting name -> text) parsed as the environment would be."""
    return Settings({s.name: s.parse(raw.get(s.name, s.default)) for s in DECLARED}, {})


def check(outcome="failed", severity="critical", level3=None, name="test_disk", target=None):
    return types.SimpleNamespace(id=f"tests_mini/test_checks.py::{name}", title=name, severity=severity,
                                 outcome=outcome, message="/ is 91% used (required: below 80%)", value=91, threshold=80,
                                 level3=level3, target=target)


class Runs:
    """Successive runs planned against one alert state, ``minutes`` apart on our own clock; every pending alert
    counts as sent (its route is then told, as delivery does)."""

    def __init__(self, minutes=5, **raw):
        raw.setdefault("webhook_url", HOOK)
        self.own = target_policy(None, settings_of(**raw))
        self.targets = {None: self.own}
        self.state, self.held, self.now, self.step = {}, [], START, dt.timedelta(minutes=minutes)

    def run(self, *checks):
        """One run of ``checks``: its alert records, pending ones marked sent."""
        policy = Policy(now=self.now, context={"report": "r.html", "timestamp": self.now.isoformat(),
                                                    "secrets": []},
                             targets=self.targets, fallback=self.own)
        records, self.state, self.held = plan.plan_checks(checks, self.state, self.held, policy)
        for entry in records:
            if entry["state"] == "pending":
                entry["state"] = "sent"
                episodes.told_route(self.state, entry)
        self.now += self.step
        return records


def states(records):
    """``["sent critical firing", ...]``: each record's state, route and alert status."""
    return [f"{r['state']} {r['route']} {r['payload']['status']}" for r in records]


# --- flap control ----------------------------------------------------------------------------------

def test_a_failing_check_waits_for_its_threshold_of_failing_runs_then_alerts():
    """With DIGITALME_ALERT_AFTER_CRITICAL=3 a critical check failing alerts on its third consecutive failing run;
    the first two are ``waiting`` records that say how far it is, and nothing is sent."""
    runs = Runs(alert_after_critical="3")
    first, second, third = (runs.run(check()) for _ in range(3))
    assert states(first) == ["waiting critical firing"], first
    assert first[0]["reason"] == "failing 1 of 3 runs before alerting (DIGITALME_ALERT_AFTER_CRITICAL=3)", first
    assert second[0]["reason"].startswith("failing 2 of 3 runs"), second
    assert states(third) == ["sent critical firing"], f"expected the alert on the 3rd failing run, got {third}"


def test_a_pass_before_the_threshold_starts_the_count_again():
    """An intermittent failure (fail, pass, fail) is never two of three consecutive failing runs: no alert."""
    runs = Runs(alert_after_critical="2")
    assert states(runs.run(check())) == ["waiting critical firing"]
    assert runs.run(check("passed")) == [], "a check that passed before alerting sends nothing (no resolved)"
    again = runs.run(check())
    assert states(again) == ["waiting critical firing"] and "failing 1 of 2" in again[0]["reason"], again


def test_each_severity_has_its_own_threshold():
    """DIGITALME_ALERT_AFTER_WARNING applies to a check failing at warning, the critical one to a critical."""
    runs = Runs(alert_after_warning="2")
    records = runs.run(check(), check(severity="warning", name="test_memory"))
    assert states(records) == ["sent critical firing", "waiting warning firing"], records
    assert "(DIGITALME_ALERT_AFTER_WARNING=2)" in records[1]["reason"], records


def test_resolved_only_after_resolve_after_passing_runs_and_a_failure_between_is_the_same_episode():
    """With DIGITALME_RESOLVE_AFTER=2: one pass is ``resolving`` (nothing sent); a failure then resets the count
    without re-alerting within the repeat interval; two consecutive passes send the resolved."""
    runs = Runs(resolve_after="2")
    assert states(runs.run(check())) == ["sent critical firing"]
    once = runs.run(check("passed"))
    assert states(once) == ["resolving critical resolved"], once
    assert once[0]["reason"] == "passed 1 of 2 runs before resolved (DIGITALME_RESOLVE_AFTER=2)", once
    between = runs.run(check())
    assert states(between) == ["suppressed critical firing"], f"the same episode must not re-alert: {between}"
    assert states(runs.run(check("passed"))) == ["resolving critical resolved"], "a failure resets the passes"
    assert states(runs.run(check("passed"))) == ["sent critical resolved"]
    assert runs.state == {}, f"a resolved episode leaves no state: {runs.state}"


def test_the_defaults_alert_on_the_first_failure_and_resolve_on_the_first_pass():
    """Defaults (1, 1, 1): today's behaviour exactly."""
    runs = Runs()
    assert states(runs.run(check(), check(severity="warning", name="test_memory"))) == [
        "sent critical firing", "sent warning firing"]
    assert states(runs.run(check("passed"), check("passed", severity="warning", name="test_memory"))) == [
        "sent critical resolved", "sent warning resolved"]


@pytest.mark.parametrize("outcome", ["waived", "skipped"])
def test_a_waived_or_skipped_run_leaves_the_counts_as_they_are(outcome):
    """A waived (accepted) or skipped check is neither a failing nor a passing run: the counts go on after it."""
    runs = Runs(alert_after_critical="2", resolve_after="2")
    runs.run(check())
    assert runs.run(check(outcome)) == []
    assert states(runs.run(check())) == ["sent critical firing"], "the waiting count was lost"
    runs.run(check("passed"))
    assert runs.run(check(outcome)) == []
    assert states(runs.run(check("passed"))) == ["sent critical resolved"], "the passing count was lost"


def test_per_target_thresholds_in_a_fleet(tmp_path):
    """Each target's own ``alert_after_critical`` (targets file) decides when its alerts fire."""
    path = tmp_path / "targets.toml"
    path.write_text('[targets.prod]\nalert_after_critical = 1\n[targets.staging]\nalert_after_critical = 3\n')
    found = load_targets(str(path), settings_of(webhook_url=HOOK))
    runs = Runs()
    runs.targets = {name: target_policy(name, t.settings) for name, t in found.items()}
    records = runs.run(check(target="prod"), check(target="staging"))
    assert [(r["target"], r["state"]) for r in records] == [("prod", "sent"), ("staging", "waiting")], records
    assert "failing 1 of 3" in records[1]["reason"], records


# --- Level 3 ---------------------------------------------------------------------------------------

def test_alert_state_of_a_host_checks_earlier_id_keeps_its_episode():
    """Issue 23 (stable identities): a host check alerted while its id carried testinfra's ``[local]``; the episode
    kept under that id's fingerprint goes on for the check's id now: its next failure is a repeat within the
    interval (suppressed, no second page), its escalation clock runs from the episode's first alert, and its
    resolved closes it, every alert with the fingerprint receivers know it by; the next episode has the new one.
    A fleet's state (keyed by target name) has no such alias."""
    runs = Runs(webhook_url_emergency=EMERGENCY_HOOK, escalate_after="10m")
    old = check(name="test_host_memory_below_threshold[local]")
    (first,) = runs.run(old)  # as the earlier version alerted and kept it
    known = first["payload"]["fingerprint"]
    assert list(runs.state) == [known], runs.state
    now = check(name="test_host_memory_below_threshold")
    repeat = runs.run(now)
    assert states(repeat) == ["suppressed critical firing"], "the renamed check paged again"
    assert repeat[0]["payload"]["fingerprint"] == known and list(runs.state) == [known], runs.state
    escalated = runs.run(now)  # 10 minutes after the first alert (under the old id): the emergency route
    assert "sent emergency firing" in states(escalated), escalated
    resolved = runs.run(check("passed", name="test_host_memory_below_threshold"))
    assert sorted(states(resolved)) == ["sent critical resolved", "sent emergency resolved"], resolved
    assert {r["payload"]["fingerprint"] for r in resolved} == {known}, resolved
    assert runs.state == {}, runs.state
    (again,) = runs.run(now)  # a new episode: the check's own fingerprint now
    assert states([again]) == ["sent critical firing"] and again["payload"]["fingerprint"] != known, again

    fleet = {"k": {"check": "t.py::test_x[local]", "severity": "critical"}}
    policy = Policy(now=START, context={}, targets={"local": runs.own}, fallback=runs.own)
    assert plan.aliases(fleet, policy) == {}, "a fleet's state was taken for an earlier id's"


def test_a_critical_still_firing_after_escalate_after_goes_once_to_the_emergency_route():
    """Escalation: 30 min after its first alert a critical still firing is sent to the emergency route, marked
    ``escalation`` and ``level`` 3, once; its resolved then goes to the emergency route too."""
    runs = Runs(minutes=10, webhook_url_emergency=EMERGENCY_HOOK)
    at_0, at_10, at_20, at_30, at_40 = (runs.run(check()) for _ in range(5))
    assert states(at_0) == ["sent critical firing"], at_0
    assert all(r["route"] != "emergency" for r in at_10 + at_20), f"escalated before 30 min: {at_10 + at_20}"
    [escalation] = [r for r in at_30 if r["route"] == "emergency"]
    payload = escalation["payload"]
    assert escalation["state"] == "sent" and payload["escalation"] is True and payload["level"] == 3, escalation
    assert payload["severity"] == "critical" and payload["status"] == "firing" and payload["message"], payload
    assert payload["first_alerted"] == START.isoformat() and payload["fingerprint"] == at_0[0]["payload"]["fingerprint"]
    assert all(r["route"] != "emergency" for r in at_40), f"escalated twice in one episode: {at_40}"
    resolved = runs.run(check("passed"))
    assert states(resolved) == ["sent emergency resolved", "sent critical resolved"], resolved
    assert resolved[0]["payload"]["level"] == 3, resolved


def test_a_new_episode_escalates_again_but_a_warning_never_does():
    """A warning firing past DIGITALME_ESCALATE_AFTER stays Level 2; a critical that resolved and fails again is a
    new episode, escalated again when it lasts."""
    runs = Runs(minutes=40, webhook_url_emergency=EMERGENCY_HOOK)
    runs.run(check(), check(severity="warning", name="test_memory"))
    later = runs.run(check(), check(severity="warning", name="test_memory"))
    assert [r["payload"]["check"].split("::")[1] for r in later if r["route"] == "emergency"] == ["test_disk"], later
    runs.run(check("passed"))
    runs.run(check())
    assert any(r["route"] == "emergency" for r in runs.run(check())), "a new episode did not escalate"


def test_escalation_counts_from_the_first_critical_alert_not_an_earlier_warning():
    """/health Degraded (lowered to warning) for 40 minutes, then Unhealthy: the episode began with the warning,
    but Level 3 waits DIGITALME_ESCALATE_AFTER (30 min) from the first critical alert; it is paged once that has
    passed, naming both times. Back to Degraded and Unhealthy again later does not restart the clock."""
    runs = Runs(minutes=10, webhook_url_emergency=EMERGENCY_HOOK)
    degraded = [runs.run(check(severity="warning")) for _ in range(4)]  # 0, 10, 20, 30 min: warning only
    assert all(states(r) in (["sent warning firing"], ["suppressed warning firing"]) for r in degraded), degraded
    first_critical = runs.now  # 40 min
    unhealthy = [runs.run(check()) for _ in range(3)]  # 40, 50, 60 min: 0, 10, 20 min after the first critical
    assert states(unhealthy[0]) == ["sent critical firing"], unhealthy[0]
    assert all(r["route"] != "emergency" for rs in unhealthy for r in rs), \
        f"Level 3 paged before 30 min past the first critical alert: {unhealthy}"
    assert runs.state[next(iter(runs.state))]["first_critical"] == first_critical.isoformat(), runs.state
    assert states(runs.run(check(severity="warning"))) == ["sent warning firing"]  # 70 min: Degraded again
    [escalation] = [r for r in runs.run(check()) if r["route"] == "emergency"]  # 80 min: 40 past the first critical
    payload = escalation["payload"]
    assert payload["escalation"] is True and payload["level"] == 3, payload
    assert (payload["first_alerted"], payload["first_critical"]) == (
        START.isoformat(), first_critical.isoformat()), payload


def test_an_alert_state_from_before_first_critical_escalates_as_it_did():
    """A state entry written before ``first_critical`` was kept (a critical episode already open) escalates from
    its ``first_alerted``: an upgrade neither pages early nor forgets an open outage."""
    runs = Runs(minutes=10, webhook_url_emergency=EMERGENCY_HOOK)
    runs.run(check())
    for entry in runs.state.values():
        del entry["first_critical"]
    assert all(r["route"] != "emergency" for r in runs.run(check()) + runs.run(check()))  # 10, 20 min
    assert [r["route"] for r in runs.run(check())] == ["critical", "emergency"], "not escalated at 30 min"


def test_a_level3_finding_goes_to_the_emergency_route_at_once_beside_its_critical_route():
    """A failing check marked ``emergency("data loss")`` alerts its critical route and, at once, the emergency
    route with ``"level": 3, "level3": "data loss"``, even with a flap threshold (a finding of data loss is no
    flap); an unmarked critical does not, and neither does a marked check that could not run (error)."""
    runs = Runs(webhook_url_emergency=EMERGENCY_HOOK, alert_after_critical="3")
    records = runs.run(check(level3="data loss", name="test_integrity"), check(name="test_disk"),
                       check("error", level3="security incident", name="test_secrets"))
    by_check = {}
    for r in records:
        by_check.setdefault(r["payload"]["check"].split("::")[1], []).append(r)
    assert states(by_check["test_integrity"]) == ["sent critical firing", "sent emergency firing"], records
    level3 = by_check["test_integrity"][1]["payload"]
    assert (level3["level"], level3["level3"], level3["severity"]) == (3, "data loss", "critical"), level3
    assert "escalation" not in level3, level3
    assert states(by_check["test_disk"]) == ["waiting critical firing"], records
    assert states(by_check["test_secrets"]) == ["waiting critical firing"], "an error is no Level 3 finding"
    again = runs.run(check(level3="data loss", name="test_integrity"))
    assert all(r["route"] != "emergency" for r in again), f"Level 3 sent twice in one episode: {again}"


def test_without_an_emergency_webhook_nothing_changes():
    """Unset DIGITALME_WEBHOOK_URL_EMERGENCY: a marked finding and a long-firing critical alert exactly as without
    Level 3: no emergency record, not even ``unrouted``."""
    runs = Runs(minutes=60)
    for _ in range(3):
        records = runs.run(check(level3="data loss"), check(name="test_health"))
        assert all(r["route"] != "emergency" for r in records), records
    assert states(runs.run(check("passed", level3="data loss"), check("passed", name="test_health"))) == [
        "sent critical resolved", "sent critical resolved"]


def test_a_flood_of_level3_alerts_is_one_summary_on_the_emergency_route():
    """The flood guard counts the emergency route's alerts on their own: beyond the limit, one Level 3 summary
    goes there (and one to the critical route for the critical alerts)."""
    runs = Runs(webhook_url_emergency=EMERGENCY_HOOK, alerts_max_per_run="2")
    records = runs.run(*(check(level3="data loss", name=f"test_{n}") for n in range(3)))
    policy = Policy(now=START, context={"report": "r.html", "timestamp": START.isoformat(), "secrets": []},
                         targets=runs.targets, fallback=runs.own)
    for entry in records:
        entry["state"] = "pending"
    guarded = flood.flood_guard(records, 2, policy)
    summaries = [r for r in guarded if r["payload"]["check"] == "summary"]
    assert sorted(r["route"] for r in summaries) == ["critical", "emergency"], summaries
    assert [r["payload"].get("level") for r in summaries if r["route"] == "emergency"] == [3], summaries


# the Level 3 kinds: a failed integrity or restore check, an exposed secret, a privileged container
LEVEL3_CHECKS = {
    "tests_backup/test_database.py::test_database_integrity_ok": "data loss",
    "tests_backup/test_backups.py::test_newest_backup_restores": "data loss",
    "tests_security/test_http_exposure.py::test_endpoints_expose_no_secrets": "security incident",
    "tests_security/test_container_hardening.py::test_container_not_privileged_and_no_docker_socket":
        "security incident",
}


def test_the_suites_level3_checks_carry_their_kind():
    """The suite's checks of the Level 3 kinds are marked ``emergency(<kind>)``, and no other check is (read from
    the source: importing the checks here would validate their markers against the selftests' own)."""
    marked = {}
    for path in sorted(REPO.glob("tests_*/test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            for decorator in getattr(node, "decorator_list", []):
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.emergency":
                    kind = [ast.literal_eval(a) for a in decorator.args]
                    marked[f"{path.relative_to(REPO)}::{node.name}"] = kind[0] if kind else None
    assert marked == LEVEL3_CHECKS, f"expected exactly {LEVEL3_CHECKS}, found {marked}"
