"""Since when a check fails, in the results file of real runs: a mini project (test_history_year.py's) run after run
with the suite's real plugins; each failing check's entry says since when, how many runs, and whether it is new.
The streak bookkeeping as a function: unit/test_failing_streaks.py."""

import time

import pytest

from test_history_year import CHECKS


@pytest.fixture
def mini(mini_project):
    """run(**env) of test_history_year's mini project (monitor selection, alerts off), a second apart."""
    run_pytest, last = mini_project(CHECKS), []

    def go(**env):
        while last and int(time.time()) == last[-1]:
            time.sleep(0.05)
        done = run_pytest("-m", "monitor", env={"DIGITALME_ALERTS": "off", **env})
        last.append(int(time.time()))
        done.doc = done.results  # latest.json is the newest run's: read right after this one
        done.health = done.check("test_endpoint_answers_within_time")
        done.other = done.check("test_container_is_up")
        return done
    return go


def test_the_results_file_says_since_when_each_check_fails(mini):
    """Real runs: a failing /health check's entry in the results file says since when (the first failing run's
    start), how many runs, and whether it is new; after a pass it is new again and a passing check has none."""
    runs = [mini(SLOW_TARGET="all"), mini(SLOW_TARGET="all"), mini(), mini(SLOW_TARGET="all")]
    assert [r.returncode for r in runs] == [1, 1, 0, 1], runs
    got = [(r.health["failing_since"], r.health["failing_runs"], r.health["new_finding"]) for r in runs]
    first, again = runs[0].doc["started_at"], runs[3].doc["started_at"]
    assert got == [(first, 1, True), (first, 2, False), (None, None, None), (again, 1, True)], got
    assert runs[0].other["outcome"] == "passed" and runs[0].other["failing_since"] is None, runs[0].other
