"""Since when a check fails (issue 14): each failing check of a run carries the start of its streak of failing runs
of the same selection, the streak's length and whether it is new since that selection's previous run.

The streak bookkeeping (plugins/outcomes/streaks.py ``since_when``) is tested through its function on the history's
state; plugin/test_failing_since_in_the_results_file.py proves it reaches the results file of real runs.
"""

import datetime as dt
import json
from types import SimpleNamespace

from plugins.outcomes import streaks
from plugins.outputs.history import bookkeeping, retention

START = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def at(minutes):
    return (START + dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")


def run(state, selection, minutes, **outcomes):
    """One run of ``selection`` at START + ``minutes``: {check id: outcome} (``target`` after an @ in a fleet);
    returns {check id: (failing_since, failing_runs, new_finding)} as since_when filled them."""
    checks = []
    for key, outcome in outcomes.items():
        check_id, _, target = key.partition("@")
        checks.append(SimpleNamespace(id=check_id, target=target or None, outcome=outcome, failing_since=None,
                                      failing_runs=None, new_finding=None))
    streaks.since_when(state, selection, at(minutes), checks)
    return {c.id + (f"@{c.target}" if c.target else ""): (c.failing_since, c.failing_runs, c.new_finding)
            for c in checks}


def test_a_streak_of_failing_runs_says_since_when_and_is_new_once():
    """Three failing runs of a selection: each says the first run's start and the count so far; the finding is
    new in the first only; a passing check has no since-when data.

    Manual: Escalation Matrix - Response Time (how long a finding has been open)
    """
    state = bookkeeping.empty_state()
    found = [run(state, "monitor", 5 * n, health="failed", disk="passed") for n in range(3)]
    assert [f["health"] for f in found] == [(at(0), 1, True), (at(0), 2, False), (at(0), 3, False)], found
    assert {f["disk"] for f in found} == {(None, None, None)}, found


def test_a_pass_ends_the_streak_and_the_next_failure_is_new():
    """A passing run (a thinned run is one) ends the streak: the next failure starts a new one, new again; an
    error counts as failing, a skipped run as not failing."""
    state = bookkeeping.empty_state()
    run(state, "monitor", 0, health="failed")
    run(state, "monitor", 5, health="passed")
    assert run(state, "monitor", 10, health="error")["health"] == (at(10), 1, True)
    run(state, "monitor", 15, health="skipped")
    assert run(state, "monitor", 20, health="failed")["health"] == (at(20), 1, True)
    assert state["failing"]["monitor"]["checks"] == {"health": [at(20), 1]}, "only the failing checks are kept"


def test_other_selections_runs_do_not_interfere():
    """A daily run between two monitor runs neither ends nor extends the monitor's streak, and has its own."""
    state = bookkeeping.empty_state()
    run(state, "monitor", 0, health="failed")
    assert run(state, "daily", 2, health="failed")["health"] == (at(2), 1, True)
    run(state, "resources", 3, health="passed")
    assert run(state, "monitor", 5, health="failed")["health"] == (at(0), 2, False)
    assert run(state, "daily", 7, health="passed")["health"] == (None, None, None)
    assert run(state, "monitor", 10, health="failed")["health"] == (at(0), 3, False)


def test_each_target_of_a_fleet_has_its_own_streak():
    """In a fleet run the same check on two targets keeps two streaks: prod failing since the first run, staging
    new in the second."""
    state = bookkeeping.empty_state()
    run(state, "monitor", 0, **{"health@prod": "failed", "health@staging": "passed"})
    found = run(state, "monitor", 5, **{"health@prod": "failed", "health@staging": "failed"})
    assert found == {"health@prod": (at(0), 2, False), "health@staging": (at(5), 1, True)}, found


def test_a_run_that_finishes_after_a_newer_one_changes_nothing():
    """An overlapping run (started earlier, finished later) is read against the newest streaks and leaves them."""
    state = bookkeeping.empty_state()
    run(state, "monitor", 0, health="failed")
    run(state, "monitor", 10, health="failed", disk="failed")
    kept = json.loads(json.dumps(state["failing"]))
    late = run(state, "monitor", 5, health="failed", disk="failed")
    assert late == {"health": (at(0), 2, False), "disk": (at(5), 1, True)}, late
    assert state["failing"] == kept, "a late run changed the newest run's streaks"


def test_a_check_passing_again_counts_its_passing_runs_for_whoever_asks():
    """Issue 24, the one streak counter (plugins/outcomes/streaks.py): once a failing check passes, its passing runs
    are counted too (what alerting's "resolve after N passing runs" needs), "not checked" keeps the count, a failure
    ends it; a check that never failed has none kept. ``count`` says what ``update`` would, changing nothing."""
    state = bookkeeping.empty_state()
    run(state, "monitor", 0, health="failed", disk="passed")
    run(state, "monitor", 5, health="passed", disk="passed")
    run(state, "monitor", 10, health="not checked", disk="passed")
    kept = json.loads(json.dumps(state))
    later = SimpleNamespace(selection="monitor", started_at=START + dt.timedelta(minutes=15), checks=[
        SimpleNamespace(id="health", target=None, outcome="passed", failing_since=None, failing_runs=None,
                        new_finding=None)])
    assert streaks.count(state, later) == {"health": streaks.Streak(at(5), 2, False, failing=False)}
    assert state == kept and later.checks[0].failing_since is None, "count changed the state or the check"
    assert state["failing"]["monitor"]["passing"] == {"health": [at(5), 1]}, state["failing"]
    assert streaks.update(state, later) == {"health": streaks.Streak(at(5), 2, False, failing=False)}
    assert run(state, "monitor", 20, health="failed")["health"] == (at(20), 1, True)
    assert "passing" not in state["failing"]["monitor"], "a failure ends the passing streak"
def test_a_streak_kept_under_a_host_checks_earlier_id_goes_on():
    """Issue 23 (stable identities): a host check's streak kept while its id carried testinfra's ``[local]`` (a
    run without a targets file) goes on under the id without it: same start, the count goes on, not new; a fleet's
    streak of a target named ``local`` is its own."""
    memory = "tests_resources/test_host.py::test_host_memory_below_threshold"
    state = bookkeeping.empty_state()
    run(state, "daily", 0, **{memory + "[local]": "failed"})
    found = run(state, "daily", 5, **{memory: "failed"})
    assert found[memory] == (at(0), 2, False), found
    fleet = bookkeeping.empty_state()
    run(fleet, "daily", 0, **{memory + "[local]@local": "failed"})
    found = run(fleet, "daily", 5, **{memory + "[local]@local": "failed", memory + "@other": "failed"})
    assert found[memory + "[local]@local"] == (at(0), 2, False), found
    assert found[memory + "@other"] == (at(5), 1, True), found


def test_a_repeated_run_is_thinned_across_the_change_of_ids():
    """The first run after the upgrade repeats the previous run of its selection (whose outcomes named a host
    check with ``[local]``): it is thinned as a repeat, not kept as "an outcome changed"; a fleet's outcomes are
    compared as they are."""
    memory = "tests_resources/test_host.py::test_host_memory_below_threshold"
    document = {"selection": "monitor", "status": "ok", "counts": {"passed": 1}, "alerts": [],
                "checks": [{"id": memory, "outcome": "passed"}]}
    before = {"targets": None, "outcomes": {memory + "[local]": "passed"}}
    assert retention.why_kept(document, before, {"monitor"}) is None
    fleet = {"targets": {"local": "ok"}, "outcomes": {memory + "[local]": "passed"}}
    assert retention.why_kept(document, fleet, {"monitor"}) == "an outcome changed"
