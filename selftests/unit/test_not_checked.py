"""A check "not checked" because its target was unreachable (plugins/outcomes/reachability.py, plugins/outcomes/streaks.py), as
functions: judged on another xdist worker than its headline, which passed, it gets its own failure back, never a
silent pass; and its failing streak goes on as it was. The headline from the outside: sandbox/test_unreachable.py."""


def test_a_check_not_checked_whose_headline_passed_gets_its_failure_back():
    """Judged in two processes (xdist) while the target came back: a check "not checked" on one worker whose
    headline passed on another is its own failure again at the end of the run, never a silent pass."""
    from plugins.outcomes.run import CheckOutcome, Run
    from plugins.outcomes.reachability import gather

    def outcome(name, result, message="", blocked_by=None):
        return CheckOutcome(id=f"t.py::{name}", title=name, manual="", severity="critical",
                            declared_severity="critical", schedules=["monitor"], outcome=result, message=message,
                            duration_s=0.0, blocked_by=blocked_by)
    blocked = {"check": "tests_health/test_reachable.py::test_target_reachable", "finding": "gone",
               "outcome": "failed", "message": "/health gave no answer"}
    run = Run(started_at=None, selection="monitor", stem="x")
    run.checks = [outcome("test_target_reachable", "passed"), outcome("test_health", "not checked", "x", blocked)]
    run.checks[0].id = blocked["check"]
    assert gather(run) is True
    assert (run.checks[1].outcome, run.checks[1].message) == ("failed", "/health gave no answer"), run.checks[1]


def test_a_check_not_checked_keeps_its_failing_streak_as_it_was():
    """A failing check, then "not checked" while its target is unreachable, then failing again: one streak since
    its first failing run, counting the runs that judged it (the run that did not judge it neither ends nor
    lengthens it)."""
    import types
    from plugins.outcomes.streaks import since_when

    def run(outcome):
        return types.SimpleNamespace(id="t.py::test_backups", target=None, outcome=outcome, failing_since=None,
                                     failing_runs=None, new_finding=None)
    state = {}
    since_when(state, "daily", "2026-12-01T09:00:00+00:00", [run("failed")])
    since_when(state, "daily", "2026-12-02T09:00:00+00:00", [run("not checked")])
    again = run("failed")
    since_when(state, "daily", "2026-12-03T09:00:00+00:00", [again])
    assert (again.failing_since, again.failing_runs, again.new_finding) == (
        "2026-12-01T09:00:00+00:00", 2, False), vars(again)
