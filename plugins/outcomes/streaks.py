"""THE streak counter: since when each check of a selection fails, and for how many runs (``failing_since``,
``failing_runs``, ``new_finding`` in the results file and the record: one counter, so they never disagree). Where
it is kept, its rules and flap control's counts beside it: docs/design.md, "Streaks: since when a check fails".
API: :func:`update` (once a run, under the caller's lock), :func:`of`, :func:`clear`, :func:`count`. No hooks.
"""

import dataclasses

from plugins.configuration.targets import current_id
from plugins.outcomes.reachability import NOT_CHECKED

STREAK = ("failed", "error", "waived")  # outcomes that go on with a check's failing streak (a waived check still fails)
SECTION = "failing"  # the counter's part of the state it is kept in


@dataclasses.dataclass(frozen=True)
class Streak:
    """A check's streak of failing (``failing`` true) or passing runs of one selection (per target in a fleet): the
    start (ISO) of its first run, how many runs long it is with this one, and whether it started with this run."""
    since: str
    length: int
    new: bool
    failing: bool = True


def key_of(check):
    """A check's key in its selection's streaks: its id, and its target in a fleet run."""
    return check.id if check.target is None else f"{check.target}::{check.id}"


def current_key(key):
    """A streak's key as kept before stable ids (``...::test_x[local]``, a run without a targets file) as it is
    now; a fleet's keys (``<target>::<id>``, never starting with a module's path) were stable already."""
    return current_id(key) if key.split("::", 1)[0].endswith(".py") else key


def started_of(run):
    return run.started_at.isoformat(timespec="seconds")


def update(state, run):
    """The streaks of ``run`` (a plugins/outcomes/run.py ``Run``) in ``state``: each failing check filled
    (``failing_since``, ``failing_runs``, ``new_finding``), the selection's streaks kept; returns ``{key: Streak}``
    of the run's failing and passing streaks."""
    return since_when(state, run.selection, started_of(run), run.checks)


def count(state, run):
    """``{key: Streak}``: the failing and passing streaks ``run`` has, as :func:`update` would count them; ``state``
    and the checks are left as they are."""
    return counted(state, run.selection, started_of(run), run.checks)[0]


def of(check):
    """A failing check's streak as :func:`update` filled it, or None (not failing, or not counted this run)."""
    if check.failing_since is None:
        return None
    return Streak(check.failing_since, check.failing_runs, check.new_finding)


def clear(checks):
    """Take back what :func:`update` filled: the state it came from could not be kept (a guess otherwise)."""
    for check in checks:
        check.failing_since = check.failing_runs = check.new_finding = None


def kept(state, selection):
    """(the start of the selection's newest run, {key: [since, runs]} failing, {key: [since, runs]} passing) as
    kept; (None, {}, {}) when none yet, or the state was edited by hand into something else."""
    entry = state.get(SECTION, {}).get(selection)
    try:
        return str(entry["at"]), *({current_key(str(k)): [str(v[0]), int(v[1])] for k, v in part.items()}
                                   for part in (entry["checks"], entry.get("passing") or {}))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None, {}, {}


def going_on(known, started, late, failing):
    """The streak a run started at ``started`` goes on with (``known``: [since, runs] kept), or a new one."""
    if known and known[0] <= started:
        return Streak(known[0], known[1] + (0 if late else 1), False, failing)
    return Streak(started, 1, True, failing)


def counted(state, selection, started, checks):
    """({key: Streak} of the run's checks, the selection's entry to keep, or None for a late run)."""
    at, failing_before, passing_before = kept(state, selection)
    late = at is not None and started < at
    found, keep = {}, {"checks": {}, "passing": {}}
    for check in checks:
        key = key_of(check)
        if check.outcome == NOT_CHECKED:  # not judged this run: its streak waits, as is
            for part, before in (("checks", failing_before), ("passing", passing_before)):
                if key in before:
                    keep[part][key] = before[key]
        elif check.outcome in STREAK:
            found[key] = going_on(failing_before.get(key), started, late, True)
        elif check.outcome == "passed" and (key in failing_before or key in passing_before):
            found[key] = going_on(passing_before.get(key), started, late, False)
        if key in found:
            keep["checks" if found[key].failing else "passing"][key] = [found[key].since, found[key].length]
    entry = {"at": started, "checks": keep["checks"], **({"passing": keep["passing"]} if keep["passing"] else {})}
    return found, None if late else entry


def since_when(state, selection, started, checks):
    """Fill ``failing_since``, ``failing_runs`` and ``new_finding`` on each failing check of a run of ``selection``
    started at ``started`` (ISO) and keep the selection's streaks in ``state`` (see the module's rules); returns
    ``{key: Streak}`` of the run's failing and passing streaks."""
    found, entry = counted(state, selection, started, checks)
    for check in checks:
        streak = found.get(key_of(check))
        if streak is not None and streak.failing:
            check.failing_since, check.failing_runs, check.new_finding = streak.since, streak.length, streak.new
    streaks = state.setdefault(SECTION, {})
    if entry is not None:
        streaks[selection] = entry
    return found


def alert_counts(seen, failed):
    """Flap control's counts after this run: ``{"failing", "passing"}``, the alert's consecutive failing and
    passing runs (this one included) from its alert-state entry ``seen``, over every schedule; a failure ends a run
    of passes and a pass a run of failures."""
    def count_of(name):
        value = (seen or {}).get(name)
        return value if isinstance(value, int) and value >= 0 else 0
    if failed:
        return {"failing": count_of("failing") + 1, "passing": 0}
    return {"failing": 0, "passing": count_of("passing") + 1}
