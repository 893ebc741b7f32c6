"""THE streak counter: since when each check of a selection fails, and for how many runs. The results file and the
record read it from each failing check (``failing_since``, ``failing_runs``, ``new_finding``); one counter, so
they never disagree.

Kept per selection in the dict the caller stores (the history's state, plugins/outputs/history/, under its lock:
``state["failing"]``): the checks failing in the selection's newest run, ``{"at": started, "checks": {key: [since,
runs]}}``, so it is O(1) per run and bounded by the checks failing now. The key is the check's id, ``<target>::<id>``
in a fleet run (:func:`key_of`): each target has its own streak.

- A failing check (``failed``, ``error``, or ``waived``: a waived check still fails, :data:`STREAK`) goes on with
  its streak, or starts one (``new_finding``: the previous run of the selection did not fail it, or there was none).
- A passing (or skipped, or thinned) run ends the streak.
- A check "not checked" (its target unreachable: plugins/outcomes/reachability.py) keeps its streak as it was,
  neither longer nor ended.
- Runs of other selections do not touch it.
- A run older than its selection's newest (overlapping, finished late) is read against the newest streaks (a streak
  that began before it goes on, with its count so far; else new) and changes nothing.

API: :func:`update` (once a run, under the caller's lock) fills each failing check and returns ``{key: Streak}``;
:func:`of` reads one check's afterwards; :func:`clear` takes it back when the caller could not keep the state.
No hooks of its own.
"""

import dataclasses

from plugins.configuration.targets import current_id
from plugins.outcomes.reachability import NOT_CHECKED

STREAK = ("failed", "error", "waived")  # outcomes that go on with a check's failing streak (a waived check still fails)
SECTION = "failing"  # the counter's part of the state it is kept in


@dataclasses.dataclass(frozen=True)
class Streak:
    """A check's streak of failing runs of one selection (per target in a fleet): the start (ISO) of its first run,
    how many runs long it is with this one, and whether it started with this run."""
    first_failing_at: str
    length: int
    new: bool


def key_of(check):
    """A check's key in its selection's streaks: its id, and its target in a fleet run."""
    return check.id if check.target is None else f"{check.target}::{check.id}"


def current_key(key):
    """A streak's key as kept before stable ids (``...::test_x[local]``, a run without a targets file) as it is
    now; a fleet's keys (``<target>::<id>``, never starting with a module's path) were stable already."""
    return current_id(key) if key.split("::", 1)[0].endswith(".py") else key


def update(state, run):
    """The failing streaks of ``run`` (a plugins/outcomes/run.py ``Run``) in ``state``: each failing check filled
    (``failing_since``, ``failing_runs``, ``new_finding``), the selection's streaks kept; returns ``{key: Streak}``
    of the run's failing checks."""
    return since_when(state, run.selection, run.started_at.isoformat(timespec="seconds"), run.checks)


def of(check):
    """A check's streak as :func:`update` filled it, or None (not failing, or not counted this run)."""
    if check.failing_since is None:
        return None
    return Streak(check.failing_since, check.failing_runs, check.new_finding)


def clear(checks):
    """Take back what :func:`update` filled: the state it came from could not be kept (a guess otherwise)."""
    for check in checks:
        check.failing_since = check.failing_runs = check.new_finding = None


def kept(state, selection):
    """(the start of the selection's newest run, {key: [since, runs]}) as kept; (None, {}) when none yet, or the
    state was edited by hand into something else."""
    entry = state.setdefault(SECTION, {}).get(selection)
    try:
        return str(entry["at"]), {current_key(str(k)): [str(v[0]), int(v[1])] for k, v in entry["checks"].items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None, {}


def since_when(state, selection, started, checks):
    """Fill ``failing_since``, ``failing_runs`` and ``new_finding`` on each failing check of a run of ``selection``
    started at ``started`` (ISO) and keep the selection's streaks in ``state`` (see the module's rules); returns
    ``{key: Streak}`` of the run's failing checks."""
    at, before = kept(state, selection)
    late = at is not None and started < at
    failing, found = {}, {}
    for check in checks:
        key = key_of(check)
        if check.outcome == NOT_CHECKED and key in before:
            failing[key] = before[key]  # not judged this run: its streak waits, as is
        if check.outcome not in STREAK:
            continue
        known = before.get(key)
        if known and known[0] <= started:
            since, runs, new = known[0], known[1] + (0 if late else 1), False
        else:
            since, runs, new = started, 1, True
        check.failing_since, check.failing_runs, check.new_finding = since, runs, new
        failing[key], found[key] = [since, runs], Streak(since, runs, new)
    if not late:
        state[SECTION][selection] = {"at": started, "checks": failing}
    return found
