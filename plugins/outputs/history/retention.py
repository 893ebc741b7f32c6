"""Retention and thinning: what of the report folder is kept, and for how long.

Thinning (setting ``report_thin``, default ``monitor,resources``; :func:`why_kept`): a run of exactly one of those
selections keeps a summary line only (its dated ``.json`` and ``.html`` are removed at the end of the run;
``latest.json`` and ``latest.html`` still hold it, as the newest run) when it passed (no failed or errored check),
sent or queued no alert, and every check's outcome (per check id, so per target in a fleet run) equals the previous
run of the same selection. Everything else keeps its full record: every failing run, every run where an outcome
changes, the first run of a selection, any run with an alert entry (a resolved alert links to its run's record),
and every run of any other selection (``daily``, ``weekly``, ``monthly`` cannot be thinned: the setting refuses
them).

Retention, once a UTC day (:func:`upkeep`): run files, lines and month pages older than the selection's days
(``report_retention_by_selection``, e.g. ``monitor:90``; else ``report_retention_days``) are removed, by the stamp
in a file's name (its mtime if the stamp is no date); today's never are. Other files are left alone. Retention
removing chained files writes ``chain-anchor.json`` first (plugins/outputs/history/chain.py).
"""

import contextlib
import datetime as dt
import json
import os

from plugins.configuration.targets import current_id
from plugins.files import write_atomically
from plugins.outcomes.run import slug_of
from plugins.outputs import results
from plugins.outputs.history.bookkeeping import outcomes_of, when_of
from plugins.outputs.history.chain import anchor_removed
from plugins.outputs.history.months import write_month_page
from plugins.outputs.history.store import RUN_FILE, days_cache, month_lines, month_page, read_lines
from plugins.outputs.results import COLOURS


def previous_outcomes(previous):
    """The outcomes of a selection's previous run, keyed by today's ids: a run without a targets file written
    before stable ids named host checks with testinfra's parameter (``test_x[local]``, plugins/configuration/targets.py)."""
    outcomes = previous["outcomes"]
    if previous.get("targets") is not None or not isinstance(outcomes, dict):
        return outcomes  # a fleet's ids were stable already (and ``[local]`` may be a target's name there)
    return {current_id(check_id): outcome for check_id, outcome in outcomes.items()}


def why_kept(document, previous, thin):
    """Why this run keeps its full record, or None: it repeats the previous run of its selection and may be
    thinned."""
    selection = str(document["selection"])
    if selection not in thin:
        return f"{selection} runs are never thinned"
    counts = document["counts"]
    if document["status"] != "ok" or counts.get("failed", 0) or counts.get("error", 0):
        return "a check failed"
    if document.get("alerts"):
        return "alerts"
    if previous is None or previous.get("outcomes") is None:
        return "first run of its selection"
    if previous_outcomes(previous) != outcomes_of(document):
        return "an outcome changed"
    return None


def retention_of(days, by_selection):
    """{selection slug: days} and the default days."""
    return {slug_of(name): int(n) for name, _, n in (pair.partition(":") for pair in by_selection)}, days


def time_of(path):
    """When a run file was made: the UTC stamp in its name, or (a stamp that is no date) its mtime."""
    try:
        stamp = RUN_FILE.match(os.path.basename(path)).group(1)
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return dt.datetime.fromtimestamp(os.path.getmtime(path), dt.timezone.utc)


def expired(folder, retention, now):
    """Run files older than their selection's days (never today's), and temporary files and claims on a run's
    name (plugins/outputs/results.py) a killed run left behind a day ago."""
    by_slug, default = retention
    yesterday = now - dt.timedelta(days=1)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            match = RUN_FILE.match(name)
            if match:
                when = time_of(path)
                cutoff = now - dt.timedelta(days=by_slug.get(match.group(2), default))
                if when < cutoff and when.date() < now.date():
                    yield path
            elif name.startswith((".tmp-", results.CLAIM)) and os.path.getmtime(path) < yesterday.timestamp():
                yield path
        except OSError:
            continue  # removed meanwhile by a concurrent run


def kept_by_retention(summary, retention, now):
    by_slug, default = retention
    when = when_of(summary)
    return when >= now - dt.timedelta(days=by_slug.get(slug_of(summary["selection"]), default)) or \
        when.date() >= now.date()


def upkeep(folder, state, retention, now):
    """Once a UTC day: retention of run files, month lines and the state's lists; month pages rebuilt where
    their month changed since."""
    store = folder  # the history's files live beside the records
    paths = list(expired(folder, retention, now))
    anchor_removed(folder, [p for p in paths if p.endswith(".json") and RUN_FILE.match(os.path.basename(p))], now)
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    oldest_kept = now - dt.timedelta(days=min([retention[1], *retention[0].values()]))
    for month in sorted(state["months"]):
        if month > f"{oldest_kept:%Y-%m}":
            break
        summaries, _ = read_lines(month_lines(store, month))
        left = [s for s in summaries if kept_by_retention(s, retention, now)]
        if len(left) == len(summaries):
            continue
        if left:
            write_atomically(month_lines(store, month),
                             "".join(json.dumps(s, separators=(",", ":"), sort_keys=True) + "\n" for s in left))
            counted = {"runs": len(left), "full": sum(s.get("kept") == "full" for s in left),
                       **{status: sum(s["status"] == status for s in left) for status in COLOURS}}
            state["months"][month] = counted
        else:
            for path in (month_lines(store, month), month_page(store, month), days_cache(store, month)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            del state["months"][month]
            state["pages"].pop(month, None)
    for key in ("recent", "changes"):
        state[key] = [s for s in state[key] if kept_by_retention(s, retention, now)]
    for month, counted in state["months"].items():
        if state["pages"].get(month) != counted["runs"]:
            write_month_page(store, month, state)
    state["day"] = now.date().isoformat()
