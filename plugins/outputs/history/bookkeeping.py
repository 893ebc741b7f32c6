"""What the history keeps of each run: its summary (the run's line in the month file, from its results file) and
the state the index is drawn from, kept up to date run by run (:func:`apply`, :func:`fold`).

The state (plugins/outputs/history/store.py keeps it) is bounded by the days shown, not the runs kept: the last 24
hours of runs, every change of status, each selection's previous outcomes, each target's status as stretches, the
last :data:`RAW_DAYS` days of trend values and per-day min/median/max before that, and counts per month. The trend
values are the trends the checks declared where they recorded their values, read from the results file
(plugins/outcomes/trends.py; null where a check ran and measured nothing, e.g. no answer: a gap in its chart).
The failing streaks kept in it are the streak counter's (plugins/outcomes/streaks.py).

Fleet runs (``"targets"`` in the results file, each check's ``"target"``) keep, per target: its status over the
last 30 days (a strip of stretches), its status in each run's row, and its own line in each trend chart.
"""

import contextlib
import datetime as dt
import statistics

from plugins.configuration.targets import current_id, without_target
from plugins.outcomes import trends
from plugins.outcomes.trends import number
from plugins.outputs.history.store import STATE_VERSION
from plugins.outputs.results import COLOURS

TREND_DAYS = 30
RAW_DAYS = 3  # the last days' trend values are drawn run by run; older days as min/median/max per day
RECENT = dt.timedelta(hours=24)  # the index's run list; older runs are on the month pages
RECENT_MIN = 50  # ... but at least this many runs, however old
CHANGES_KEPT = 1000  # changes of status on the index, newest first; older ones are marked on the month pages
NOTES_KEPT = 50
LINE_GAP = dt.timedelta(hours=36)  # points further apart are not joined: a missed day shows as a gap


def when_of(summary):
    return dt.datetime.fromisoformat(summary["started_at"])


def trend_check_name(check_id, target=None):
    """A check id's last part as results files written before trends were declared knew it (plugins/outcomes/trends.py
    maps those by it): in a fleet run without the target in its parameters (``[prod-/health]`` is ``[/health]``
    of target prod); an id written before stable ids (``[local]``) as it is now."""
    return current_id(without_target(check_id, target)).split("::")[-1]


def summarize(name, document):
    """What the history needs of one results file; raises KeyError/TypeError/ValueError on a malformed one."""
    started = dt.datetime.fromisoformat(document["started_at"])
    started = started.astimezone(dt.timezone.utc) if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
    if document["status"] not in COLOURS:
        raise ValueError(f"unknown status {document['status']!r}")
    targets = document.get("targets")
    if targets is not None:
        targets = {str(target): status for target, status in targets.items()}
        if any(status not in COLOURS for status in targets.values()):
            raise ValueError(f"unknown status among the targets {targets!r}")
    values, target_values, meta = {}, {}, {}
    for check in document["checks"]:
        target = check.get("target")
        found = trends.of_check(check, trend_check_name(check["id"], target))
        if found is not None:
            trend, value = found
            if value is not None or check.get("outcome") != "skipped":
                # a check that ran and measured nothing (no answer: no response time) is a gap, [None, threshold]
                into = values if target is None else target_values.setdefault(str(target), {})
                into[trend.name] = [value, number(check.get("threshold"))]
                meta[trend.name] = [trend.title, trend.unit]
    duration = None
    with contextlib.suppress(KeyError, TypeError, ValueError):
        duration = round((dt.datetime.fromisoformat(document["finished_at"]) - started).total_seconds(), 3)
    return {"file": name, "started_at": started.isoformat(), "selection": str(document["selection"]),
            "status": document["status"], "counts": {k: int(v) for k, v in document["counts"].items()},
            "html": name[:-len(".json")] + ".html", "values": values, "targets": targets,
            "target_values": target_values, "trends": meta, "duration_s": duration}


def outcomes_of(document):
    """{check id: outcome} of a results file: what a repeated run must match exactly (ids name the target)."""
    return {str(check["id"]): str(check["outcome"]) for check in document["checks"]}


def empty_state():
    return {"version": STATE_VERSION, "recent": [], "changes": [], "last": {}, "points": {}, "days": {},
            "trends": {}, "strips": {}, "months": {}, "pages": {}, "notes": [], "day": None}


def row_of(summary):
    """A run as the index's lists hold it: the summary without its trend values."""
    return {k: v for k, v in summary.items() if k not in ("values", "target_values", "trends")}


def changed_status(previous, summary):
    """The run's status, or a target's, differs from the previous run of its selection (or there was none)."""
    return previous is None or previous["status"] != summary["status"] or \
        (previous.get("targets") or {}) != (summary.get("targets") or {})


def apply(state, summary, outcomes, now):
    """Add one run to the state (bounded: old entries fall out as they are added)."""
    selection = summary["selection"]
    previous = state["last"].get(selection)
    summary["changed"] = changed_status(previous, summary)
    if previous is None or previous.get("started_at", "") <= summary["started_at"]:
        state["last"][selection] = {"started_at": summary["started_at"], "status": summary["status"],
                                    "targets": summary.get("targets"), "outcomes": outcomes}
    row = row_of(summary)
    recent = state["recent"]
    if not recent or summary["started_at"] >= recent[0]["started_at"]:
        recent.insert(0, row)
    else:  # an overlapping run that finished after a later one
        recent.append(row)
        recent.sort(key=lambda s: s["started_at"], reverse=True)
    recent_since = (now - RECENT).isoformat()
    while len(recent) > RECENT_MIN and recent[-1]["started_at"] < recent_since:
        recent.pop()
    if summary["changed"]:
        changes = state["changes"]
        changes.insert(0, row)
        if len(changes) > 1 and changes[1]["started_at"] > row["started_at"]:
            changes.sort(key=lambda s: s["started_at"], reverse=True)
        del changes[CHANGES_KEPT:]
    month = summary["started_at"][:7]
    counted = state["months"].setdefault(month, {"runs": 0, "full": 0, "ok": 0, "warning": 0, "critical": 0})
    counted["runs"] += 1
    counted["full"] += summary["kept"] == "full"
    counted[summary["status"]] += 1
    state["trends"].update(summary.get("trends") or {})  # each trend's caption and unit, as last declared
    for key, values in (("", summary["values"]), *sorted((summary.get("target_values") or {}).items())):
        for name, (value, threshold) in values.items():
            state["points"].setdefault(name, {}).setdefault(key, []).append(
                [summary["started_at"], value, threshold])
    for name, status in (summary.get("targets") or {}).items():
        stretches = state["strips"].setdefault(name, [])
        last = stretches[-1] if stretches else None
        if last and last[0] == status and \
                dt.timedelta(0) <= when_of(summary) - dt.datetime.fromisoformat(last[2]) <= LINE_GAP:
            last[2:] = [summary["started_at"], last[3] + 1]
        elif not last or summary["started_at"] >= last[2]:
            stretches.append([status, summary["started_at"], summary["started_at"], 1])


def fold(state, now):
    """Trend values of whole days older than :data:`RAW_DAYS` become that day's min/median/max; days and
    stretches older than the charts' :data:`TREND_DAYS` go."""
    first_raw = (now - dt.timedelta(days=RAW_DAYS - 1)).date().isoformat()
    first_shown = (now - dt.timedelta(days=TREND_DAYS + 1)).date().isoformat()
    for title, lines in state["points"].items():
        for key, points in lines.items():
            old = [p for p in points if p[0][:10] < first_raw]
            if not old:
                continue
            lines[key] = [p for p in points if p[0][:10] >= first_raw]
            by_day = {}
            for when, value, threshold in old:
                if value is not None:  # a gap (nothing measured) has no place in a day's min/median/max
                    by_day.setdefault(when[:10], []).append((value, threshold))
            days = state["days"].setdefault(title, {}).setdefault(key, {})
            for day, values in by_day.items():
                numbers = [v for v, _ in values]
                if day in days:  # a late run of a day already folded: min and max exact, the median kept
                    low, median, high, threshold, n = days[day]
                    numbers += [low, high]
                    days[day] = [min(numbers), median, max(numbers), threshold, n + len(values)]
                else:
                    days[day] = [min(numbers), statistics.median(numbers), max(numbers), values[-1][1], len(values)]
    for lines in state["days"].values():
        for key, days in lines.items():
            for day in [d for d in days if d < first_shown]:
                del days[day]
    since = (now - dt.timedelta(days=TREND_DAYS)).isoformat()
    for name in list(state["strips"]):
        state["strips"][name] = [s for s in state["strips"][name] if s[2] >= since]
        if not state["strips"][name]:
            del state["strips"][name]
