"""The history: every run in a small store beside the records, ``<report dir>/index.html``, month pages, thinning
and retention, at a cost per run that does not grow with the history's age.

The store, beside the records in the report folder (files, no subfolder: whatever serves or archives the folder
serves and archives them too):

- ``history-<YYYY-MM>.jsonl``: one line per run, appended (time, selection, status, counts, each target's status,
  the trend values by trend name, with each trend's caption and unit: the trends the checks declared where they
  recorded their values, read from the results file (plugins/outcomes/trends.py; null where a check ran and measured
  nothing, e.g. no answer: a gap in its chart), duration,
  whether its full record was kept and why). The audit's "it ran and passed at
  14:05" of every run, kept or thinned. JSON lines, not SQLite: a run appends one line (O(1), no rewrite, no
  database to lock or repair after a killed run), a month is one greppable text file an auditor can read
  without tools, and a half-written last line (a killed run) costs that line only.
- ``history-state.json``: what the index needs, kept up to date run by run (a few hundred KB at most, bounded by the
  days shown, not the runs kept): the last 24 hours of runs, every change of status, each selection's previous
  outcomes, each target's status as stretches, the last :data:`RAW_DAYS` days of trend values and per-day
  min/median/max before that, and counts per month.
- ``history-<YYYY-MM>.html``: every run of a month, by day, current after every run: made whole once a day (the
  first run of a UTC day re-reads that month's lines only) and after retention changed a month, and between those
  brought up to date by each run from the newest day's lines alone, the earlier days' parts kept in
  ``.history-<YYYY-MM>-days.json`` (so a run's cost is its day's runs, not the month's: a month page made whole
  at a month's end of 5-minute runs takes 0.2-0.4 s).

A run: after its alerts (plugins/pipeline.py), :func:`add_run` reads the state, fills each failing check's
since-when data, writes the results file (plugins/outputs/results.py) with its link in the chain, appends its line and
writes the state; after its record, :func:`write_history` does the day's upkeep once a day (retention, month
pages) and writes ``index.html`` from the state, and :func:`thin` removes a thinned run's dated files last. Both
hold ``<report dir>/.history.lock``, so overlapping runs (the 09:00 daily and a monitor) never lose each other's
update, and the chain follows the order the files were written in.

Since when (``history-state.json`` ``"failing"``): per selection, the checks failing in its newest run, each with
the start of the first run of its streak and the streak's length (per target in a fleet run): O(1) per run, and
bounded by the checks failing now. A failing check of the next run of that selection gets ``failing_since``,
``failing_runs`` and ``new_finding`` (the previous run of the selection did not fail it, or there was none); a
passing (or thinned, or skipped) run ends a streak; a waived check still fails, so its streak goes on; a check "not
checked" (its target unreachable: plugins/outcomes/reachability.py) keeps its streak as it was, neither longer nor ended. Runs of
other selections do not touch it. A run older than its selection's newest (overlapping, finished late) is read
against the newest streaks and changes nothing.

The chain: each results file's ``"chain"`` names the previous kept results file and its SHA-256 (the head,
``"chain"`` in the state, moved only to kept files: a thinned run's file is linked but goes at the end of its
run, meanwhile listed as pending). Retention removing chained files writes ``chain-anchor.json`` (the newest of
them and its SHA-256) first, so the oldest kept file still verifies. A kept run's HTML record, written after its
results file, has its SHA-256 kept in the state's ``"records"`` until the next kept results file's link carries it
(:func:`keep_record`); the state also names the run ``latest.json`` holds and ``latest.html``'s SHA-256.
``scripts/verify-records`` checks it all. A rebuilt state takes the head from the month files' lines (each kept
run's line has its ``sha256``), and the head's record as it is then.

Thinning (setting ``report_thin``, default ``monitor,resources``): a run of exactly one of those selections keeps
a summary line only (its dated ``.json`` and ``.html`` are removed; ``latest.json`` and ``latest.html`` still
hold it, as the newest run) when it passed (no failed or errored check), sent or queued no alert, and every
check's outcome (per check id, so per target in a fleet run) equals the previous run of the same selection.
Everything else keeps its full record: every failing run, every run where an outcome changes, the first run of
a selection, any run with an alert entry (a resolved alert links to its run's record), and every run of any
other selection (``daily``, ``weekly``, ``monthly`` cannot be thinned: the setting refuses them).

Retention, once a day: run files, lines and month pages older than the selection's days
(``report_retention_by_selection``, e.g. ``monitor:90``; else ``report_retention_days``) are removed, by the stamp
in a file's name (its mtime if the stamp is no date); today's never are. Other files are left alone.

A report folder of an earlier version (dated results files, ``.history-cache.json``, no ``history-state.json``)
is read once: the first run builds the store from its results files (using the old cache's summaries where they
are current; a year of them is read in seconds, once), each file written whole and the state last, which marks
it done (a killed migration is simply done again by the next run), and removes the old cache. Old files are
not thinned; retention removes them in time. A results file that cannot be read is left out with a visible note.

Fleet runs (``"targets"`` in the results file, each check's ``"target"``) keep, per target: its status over the
last 30 days (a strip of stretches), its status in each run's row, and its own line in each trend chart.
Results files without targets are shown as they always were. A report folder that cannot be written
(plugins/outputs/results.py) is left alone: no history that run, no traceback.
"""

import contextlib
import datetime as dt
import hashlib
import html
import json
import os
import re
import statistics
import time

from plugins import files
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import current_id, without_target
from plugins.files import write_atomically
from plugins.outcomes import trends
from plugins.outcomes.reachability import NOT_CHECKED
from plugins.outcomes.run import RUN, slug_of
from plugins.outcomes.trends import number, Trend
from plugins.outputs import results
from plugins.outputs.results import COLOURS, REPORT_ERROR, RESULTS_OK, RESULTS_SHA256, THINNED, kept_paths, paths_of, report_failed


RUN_FILE = re.compile(r"^(\d{8}T\d{6}Z)-(.+?)(?:_\d+)?\.(json|html)$")  # stamp, selection slug, [_n: a 2nd run]
INDEX, OLD_CACHE, LOCK = "index.html", ".history-cache.json", ".history.lock"
STATE, PREFIX = "history-state.json", "history-"  # beside the records: history-<YYYY-MM>.jsonl and .html
OLD_CACHE_VERSION = 2  # the version of .history-cache.json whose summaries are current (with "targets")
STATE_VERSION = 2  # 2: trends keyed by their declared names, with "trends" {name: [title, unit]} (issue 24)
LINE_COLOURS = ("#0969da", "#8250df", "#bf3989", "#1b7c83", "#953800", "#6e7781", "#0550ae", "#6639ba",
                "#99286e", "#116329")  # a trend's lines, one per target (never a status's red, amber or green)
TREND_DAYS = 30
RAW_DAYS = 3  # the last days' trend values are drawn run by run; older days as min/median/max per day
RECENT = dt.timedelta(hours=24)  # the index's run list; older runs are on the month pages
RECENT_MIN = 50  # ... but at least this many runs, however old
CHANGES_KEPT = 1000  # changes of status on the index, newest first; older ones are marked on the month pages
NOTES_KEPT = 50
MAX_POINTS_DRAWN = 400  # a line of more runs than this is drawn as a line alone, no circle per run
LINE_GAP = dt.timedelta(hours=36)  # points further apart are not joined: a missed day shows as a gap
LOCK_WAIT_S = 20  # an overlapping run's history update waits this long for the other's, then gives up (noted)
STREAK = ("failed", "error", "waived")  # outcomes that go on with a check's failing streak (a waived check still fails)
ANCHOR = "chain-anchor.json"  # the chain's start once retention removed its oldest files
PENDING_KEPT = 20  # thinned runs' dated files between their write and their removal at the end of the run
ANCHOR_LINKS_KEPT = 100


def when_of(summary):
    return dt.datetime.fromisoformat(summary["started_at"])


# --- the data: one summary per run --------------------------------------------------------------------

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


# --- the store: month lines and the state ----------------------------------------------------------------

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
        # a run older than the strip's last (an overlapping run that finished late) is in its row, not the strip


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


def month_lines(store, month):
    return os.path.join(store, f"{PREFIX}{month}.jsonl")


def month_page(store, month):
    return os.path.join(store, f"{PREFIX}{month}.html")


def append_line(store, summary):
    """The run's line at the end of its month's file; a half-written last line (a killed run) is ended first."""
    path = month_lines(store, summary["started_at"][:7])
    line = json.dumps(summary, separators=(",", ":"), sort_keys=True) + "\n"
    with open(path, "a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.seek(0, os.SEEK_END)
        f.write(line.encode("utf-8"))


def read_lines(path):
    """(summaries, notes) of one month's file; a line that cannot be read is noted and left out."""
    summaries, notes = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        summaries.append(parsed_line(line))
                    except ValueError:
                        notes.append(f"{os.path.basename(path)} line {n}: not a readable run summary")
    except FileNotFoundError:
        pass
    return summaries, notes


def parsed_line(raw):
    """A run's line of a month file as a summary (ValueError where it is none); every line is read here."""
    summary = json.loads(raw)
    if not isinstance(summary, dict):
        raise ValueError("not a run summary")
    return named_trends(summary)


def named_trends(summary):
    """A run's line with its trend values keyed by trend names: a line written before trends were declared
    (keyed by the chart's title) is read as one written now (plugins/outcomes/trends.py maps it); the file is not rewritten."""
    if "trends" in summary:
        return summary
    summary["values"] = trends.by_name(summary.get("values") or {})
    summary["target_values"] = {target: trends.by_name(found)
                                for target, found in (summary.get("target_values") or {}).items()}
    names = {*summary["values"], *(n for found in summary["target_values"].values() for n in found)}
    summary["trends"] = trends.legacy_meta(names)
    return summary


def upgraded(state):
    """A version 1 state (trends keyed by title) as version 2, in place, once: the next write keeps it."""
    state["points"], state["days"] = trends.by_name(state["points"]), trends.by_name(state["days"])
    state["trends"] = trends.legacy_meta([*state["points"], *state["days"]])
    state["version"] = STATE_VERSION
    return state


def read_state(store):
    try:
        with open(os.path.join(store, STATE), encoding="utf-8") as f:
            state = json.load(f)
        if state.get("version") == 1:
            return upgraded(state)
        return state if state.get("version") == STATE_VERSION else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def write_state(store, state):
    write_atomically(os.path.join(store, STATE), json.dumps(state, separators=(",", ":")))


def locked(folder):
    """The history's lock, held by one run at a time; waits up to :data:`LOCK_WAIT_S`, then raises TimeoutError."""
    return files.locked(os.path.join(folder, LOCK), time.monotonic() + LOCK_WAIT_S,
                        TimeoutError(f"the history was locked by another run for {LOCK_WAIT_S} s"))


# --- a report folder of an earlier version: read once ------------------------------------------------------

def old_summaries(folder, names, exclude):
    """(summaries oldest first, notes) of the folder's results files, using the old cache where current."""
    try:
        with open(os.path.join(folder, OLD_CACHE), encoding="utf-8") as f:
            cached = json.load(f)
        cache = cached["files"] if cached.get("version") == OLD_CACHE_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        cache = {}
    summaries, notes = [], []
    for name in sorted(names):
        if not (RUN_FILE.match(name) and name.endswith(".json")) or name == exclude:
            continue
        try:
            stat = os.stat(os.path.join(folder, name))
            if cache.get(name, {}).get("key") == [stat.st_mtime_ns, stat.st_size]:
                summary = named_trends({"duration_s": None, **cache[name]["summary"]})
            else:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    summary = summarize(name, json.load(f))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            notes.append(f"{name}: skipped, not a readable results file ({type(e).__name__}: {e})")
            continue
        summary["html"] = summary["html"] if summary["html"] in names else None
        summary.update(kept="full", why="kept by an earlier version")
        summaries.append(summary)
    summaries.sort(key=lambda s: (s["started_at"], s["file"]))
    return summaries, notes


def rebuild(folder, months, now):
    """The state again from the month files' lines (a state that was lost or unreadable, or of another version):
    read once, then kept up to date run by run again."""
    state = empty_state()
    for month in sorted(months):
        summaries, notes = read_lines(month_lines(folder, month))
        state["notes"] = (state["notes"] + notes)[-NOTES_KEPT:]
        for summary in summaries:  # the chain's head: the last kept file's line, in the order written (locked)
            if summary.get("kept") == "full" and summary.get("file") and summary.get("sha256"):
                chain_of(state).update(head=summary["file"], sha256=summary["sha256"])
        for summary in sorted(summaries, key=lambda s: s["started_at"]):
            apply(state, summary, None, now)
    rerecord_head(folder, state)
    fold(state, now)
    write_state(folder, state)
    return state


def rerecord_head(folder, state):
    """A rebuilt state lost the newest HTML record's SHA-256 (no results file links it yet): it is taken again
    from the record as it is now, so the next results file links it rather than verify-records naming it."""
    head = chain_of(state)["head"]
    if not head:
        return
    path = os.path.join(folder, head[:-len(".json")] + ".html")
    with contextlib.suppress(OSError):
        with open(path, "rb") as f:
            chain_of(state)["records"][os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()


def start(folder, exclude, now):
    """The state of a folder without one: rebuilt from its month files if it has any, else (an earlier version's
    folder, or a new one) made from its results files."""
    months = [m.group(1) for m in map(re.compile(rf"^{PREFIX}(\d{{4}}-\d{{2}})\.jsonl$").match,
                                      os.listdir(folder)) if m]
    return rebuild(folder, months, now) if months else migrate(folder, exclude, now)


def migrate(folder, exclude, now):
    """Build the history from the folder's results files (an earlier version's folder, or a new one): month
    files and pages written whole (a killed migration is simply done again), the state last, which marks it
    done. Returns the state."""
    names = set(os.listdir(folder))
    summaries, notes = old_summaries(folder, names, exclude)
    state = empty_state()
    state["notes"] = notes[-NOTES_KEPT:]
    for month in sorted({s["started_at"][:7] for s in summaries}):
        lines = []
        for summary in (s for s in summaries if s["started_at"][:7] == month):
            apply(state, summary, None, now)
            lines.append(json.dumps(summary, separators=(",", ":"), sort_keys=True) + "\n")
        write_atomically(month_lines(folder, month), "".join(lines))
    fold(state, now)
    for month in state["months"]:
        write_month_page(folder, month, state)
    write_state(folder, state)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(folder, OLD_CACHE))  # its summaries are in the history now
    return state


# --- retention and the day's upkeep -------------------------------------------------------------------------

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


# --- rendering ---------------------------------------------------------------------------------------

def shown(value, unit, gap=False):
    """A trend's value in its unit; None is "-", or with ``gap`` (a run that measured nothing) "no value"."""
    if value is None:
        return "no value" if gap else "-"
    if unit == "bytes":
        for size, suffix in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
            if abs(value) >= size:
                return f"{value / size:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:.1f}".rstrip("0").rstrip(".")


def chart(trend, lines, since, now):
    """One trend as an inline SVG line chart: points joined unless a gap, the threshold dashed. ``lines``:
    {None or a target's name: points}; with more than one line each has its colour and a legend names it."""
    width, height, left, right, top, bottom = 520, 170, 70, 12, 10, 22
    named = len(lines) > 1 or None not in lines
    colours = {key: LINE_COLOURS[n % len(LINE_COLOURS)] for n, key in enumerate(lines)}
    names = {key: "no target" if key is None else key for key in lines}  # None: the runs without a targets file
    thresholds = {key: next((p[2] for p in reversed(points) if p[2] is not None), None)
                  for key, points in lines.items()}
    distinct = sorted({t for t in thresholds.values() if t is not None})
    threshold = distinct[-1] if distinct else None
    every = [p for points in lines.values() for p in points]
    measured = [p[4] if len(p) > 3 else p[1] for p in every]
    high = max([v for v in measured if v is not None] + (distinct or [0])) * 1.1 or 1
    span = (now - since).total_seconds() or 1

    def x(when):
        return left + (when - since).total_seconds() / span * (width - left - right)

    def y(value):
        return height - bottom - value / high * (height - top - bottom)

    parts = [f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0):.1f}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{shown(high, trend.unit)}</text>',
             f'<text x="{left - 4}" y="{y(0):.1f}" text-anchor="end">0</text>',
             f'<text x="{left}" y="{height - 6}">{since:%Y-%m-%d}</text>',
             f'<text x="{width - right}" y="{height - 6}" text-anchor="end">{now:%Y-%m-%d}</text>']
    if len(distinct) == 1:
        parts.append(f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
                     f'stroke="#cf222e" stroke-dasharray="6 4"/><text x="{width - right}" y="{y(threshold) - 3:.1f}" '
                     f'text-anchor="end" fill="#cf222e">threshold {shown(threshold, trend.unit)}</text>')
    else:  # targets held to different thresholds: each its own, dashed in its line's colour
        for key, value in thresholds.items():
            if value is not None:
                parts.append(f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - right}" y2="{y(value):.1f}" '
                             f'stroke="{colours[key]}" stroke-dasharray="6 4"><title>threshold of '
                             f'{html.escape(names[key])}: {shown(value, trend.unit)}</title></line>')
    for key, points in lines.items():  # many runs: a line without a circle each (the page's size)
        runs = sum(p[5] if len(p) > 3 else 1 for p in points)
        parts += plotted(points, trend.unit, x, y, colours[key], f"{names[key]}: " if named else "",
                         circles=runs <= MAX_POINTS_DRAWN)
    if not every:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no values in the last '
                     f"{TREND_DAYS} days</text>")
    if not named:
        points = lines.get(None, [])
        latest = (f"latest {shown(points[-1][1], trend.unit, gap=True)}" if points else "no data") + (
            f", threshold {shown(threshold, trend.unit)}" if threshold is not None else "")
    else:
        latest = "latest " + ", ".join(
            f'<span style="color:{colours[key]}">&#9632;</span> {html.escape(names[key])} '
            + (shown(points[-1][1], trend.unit, gap=True) if points else "-")
            + (f" (threshold {shown(thresholds[key], trend.unit)})" if thresholds[key] is not None else "")
            for key, points in lines.items())
    return (f'<figure class="trend"><figcaption><b>{html.escape(trend.title)}</b> <small>{latest}</small>'
            f'</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-size="11" font-family="sans-serif" role="img" aria-label="{html.escape(trend.title)}">'
            + "".join(parts) + "</svg></figure>")


def plotted(points, unit, x, y, colour="#0969da", label="", circles=True):
    """The points as circles (each with its value; or, ``circles`` false, only the lines, named by ``label``),
    joined by lines unless further apart than :data:`LINE_GAP` (a missed day) or parted by a run that measured
    nothing (its value None: no answer has no response time), which is drawn as a gap. A day's aggregate (a point
    ``(noon, median, threshold, min, max, runs)``) is a bar from its min to its max, the line through its median."""
    parts, line = [], []
    label = html.escape(label)
    named = "" if circles else f"<title>{label.rstrip(': ') or 'each run'}</title>"
    for i, (when, value, *more) in enumerate(points):
        if len(more) == 4:
            _, low, high, runs = more
            parts.append(f'<rect x="{x(when) - 1.5:.1f}" y="{y(high):.1f}" width="3" '
                         f'height="{max(y(low) - y(high), 1):.1f}" fill="{colour}" opacity="0.6"><title>{label}'
                         f"{when:%Y-%m-%d}: min {shown(low, unit)}, median {shown(value, unit)}, max "
                         f"{shown(high, unit)} ({runs} runs)</title></rect>")
        if line and (value is None or when - points[i - 1][0] > LINE_GAP):
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(line)}"'
                         + (f">{named}</polyline>" if named else "/>"))
            line = []
        if value is None:  # a run that measured nothing (no answer): a gap in the line, never a value
            continue
        line.append(f"{x(when):.1f},{y(value):.1f}")
        if circles and len(more) < 4:
            parts.append(f'<circle cx="{x(when):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}">'
                         f"<title>{label}{when:%Y-%m-%d %H:%M} UTC: {shown(value, unit)}</title></circle>")
    if line:
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(line)}"'
                     + (f">{named}</polyline>" if named else "/>"))
    return parts


def badge(status):
    return f'<b class="status" style="background:{COLOURS[status]}">{status.upper()}</b>'


def target_badges(targets):
    """A fleet run's targets: each not OK as ``name STATUS`` (a badge), then those OK by name; nothing for a run
    without targets. Ten deployments stay one short line, what needs a look first."""
    targets = targets or {}
    bad = [f'{html.escape(name)} <b class="status target" style="background:{COLOURS[status]}">{status.upper()}'
           f"</b>" for name, status in targets.items() if status != "ok"]
    fine = [html.escape(name) for name, status in targets.items() if status == "ok"]
    return ", ".join(bad) + ("; " if bad and fine else "") + (
        f'<span class="ok">OK: {", ".join(fine)}</span>' if fine else "")


def links(summary):
    """The run's files: report and results where kept, else what was kept of it."""
    if summary.get("kept") == "summary":
        return '<i class="thinned">summary only (repeated the previous run)</i>'
    report = summary.get("html")
    link = f'<a href="{html.escape(report)}">report</a>' if report else "<i>no report</i>"
    return link + (f' <a href="{html.escape(summary["file"])}">results</a>' if summary.get("file") else "")


def row(summary, fleet=False, opening="<tr>"):
    counts = summary["counts"]
    return (f"{opening}<td>{summary['started_at'][:19].replace('T', ' ')}</td><td>{html.escape(summary['selection'])}"
            f"</td><td>{badge(summary['status'])}</td>"
            + (f'<td class="targets">{target_badges(summary.get("targets"))}</td>' if fleet else "")
            + f"<td>{counts.get('passed', 0)} passed, "
            f"{counts.get('failed', 0)} failed, {counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped"
            + (f", {counts['waived']} waived" if counts.get("waived") else "")
            + (f", {counts[NOT_CHECKED]} not checked" if counts.get(NOT_CHECKED) else "")
            + f"</td><td>{links(summary)}</td></tr>")


def strip(name, stretches, since, now):
    """One target's status over the window as an SVG strip: one bar per stretch of runs with the same status
    (runs further apart than :data:`LINE_GAP` start a new one), so its size follows the changes, not the runs."""
    width, height, pad = 520, 20, 2
    span = (now - since).total_seconds() or 1

    def x(when):
        return pad + (when - since).total_seconds() / span * (width - 2 * pad)

    stretches = [(status, max(dt.datetime.fromisoformat(first), since), dt.datetime.fromisoformat(last), runs)
                 for status, first, last, runs in stretches]
    bars = "".join(
        f'<rect x="{min(x(first), width - pad - 3):.1f}" y="2" width="{max(x(last) - x(first), 3):.1f}" '
        f'height="{height - 4}" '
        f'fill="{COLOURS[status]}"><title>{html.escape(name)}: {status.upper()}, {first:%Y-%m-%d %H:%M}'
        + (f" to {last:%Y-%m-%d %H:%M}" if last != first else "") + f" UTC ({runs} run{'' if runs == 1 else 's'})"
        f"</title></rect>" for status, first, last, runs in stretches)
    total = sum(s[3] for s in stretches)
    label = f"{name}: " + (", ".join(f"{sum(s[3] for s in stretches if s[0] == status)} {status}"
                                     for status in COLOURS) + f" of {total} runs" if stretches else "no runs")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(label)}"><rect x="0" y="0" width="{width}" height="{height}" fill="#f6f8fa"/>'
            f"{bars}</svg>")


def targets_section(strips, names, since, now):
    """Each target's status over the last days: its latest status, a strip of its runs and how many were not OK."""
    rows = []
    for name in names:
        stretches = strips[name]
        status, when = stretches[-1][0], dt.datetime.fromisoformat(stretches[-1][2])
        counts = ", ".join(f"{sum(s[3] for s in stretches if s[0] == each)} {each}" for each in COLOURS)
        rows.append(f'<tr id="target-{html.escape(name)}"><th scope="row">{html.escape(name)}</th>'
                    f"<td>{badge(status)} <small>{when:%Y-%m-%d %H:%M}</small></td>"
                    f"<td>{strip(name, stretches, since, now)}</td><td>{counts}</td></tr>")
    return (f'<h2>Targets, last {TREND_DAYS} days</h2><table id="targets"><tr><th scope="col">Target</th>'
            f'<th scope="col">Latest (UTC)</th><th scope="col">Status per run, {since:%Y-%m-%d} to {now:%Y-%m-%d}'
            f'</th><th scope="col">Runs</th></tr>{"".join(rows)}</table>')


STYLE = """body{font-family:sans-serif;margin:16px 24px;color:#1f2328}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}
.status{color:#fff;padding:1px 8px;border-radius:4px}.note{background:#fff8c5;border:1px solid #d4a72c;padding:6px}
.charts{display:flex;flex-wrap:wrap;gap:8px 24px}figure{margin:0}"""




def trend_lines(state, trend, names):
    """{None or target: points} of one trend from the state: per-day aggregates, then the last days run by run;
    empty lines left out (the runs without targets always kept, so a history without a fleet draws as before)."""
    lines = {}
    for key in ["", *names]:
        days = state["days"].get(trend.name, {}).get(key, {})
        points = [(dt.datetime.fromisoformat(day + "T12:00:00+00:00"), median, threshold, low, high, runs)
                  for day, (low, median, high, threshold, runs) in sorted(days.items())]
        points += sorted(((dt.datetime.fromisoformat(when), value, threshold)
                          for when, value, threshold in state["points"].get(trend.name, {}).get(key, [])),
                         key=lambda p: p[0])  # by time alone: a gap's None is no number to compare
        if points or key == "":
            lines[key or None] = points
    if len(lines) > 1 and not lines[None]:
        del lines[None]
    return lines


def target_names(state, since):
    """The targets with runs in the window: the newest fleet run's in its (the targets file's) order, then others."""
    names = {}
    for summary in state["recent"]:
        names.update(dict.fromkeys(summary.get("targets") or {}))
    names.update(dict.fromkeys(sorted(state["strips"])))
    return [name for name in names if name in state["strips"] and state["strips"][name][-1][2] >= since.isoformat()]


def render(state, now):
    """The index page, from the state alone: its size follows the days shown and the changes, not the runs."""
    since = now - dt.timedelta(days=TREND_DAYS)
    names = target_names(state, since)
    recent, changes = state["recent"], state["changes"]
    fleet = bool(names) or any(s.get("targets") for s in recent + changes)
    charts = "".join(chart(Trend(name, title, unit), trend_lines(state, Trend(name, title, unit), names), since, now)
                     for name, (title, unit) in state["trends"].items())
    latest = (f"Latest run: {badge(recent[0]['status'])} {html.escape(recent[0]['selection'])} at "
              f"{recent[0]['started_at'][:19].replace('T', ' ')} UTC"
              + (f" ({target_badges(recent[0]['targets'])})" if recent[0].get("targets") else "")
              ) if recent else "No runs yet."
    total = sum(m["runs"] for m in state["months"].values())
    full = sum(m["full"] for m in state["months"].values())
    noted = "".join(f"<li>{html.escape(note)}</li>" for note in state["notes"])
    head = ("<tr><th>Started (UTC)</th><th>Selection</th><th>Status</th>" + ("<th>Targets</th>" if fleet else "")
            + "<th>Checks</th><th>Files</th></tr>")
    months = "".join(
        f'<tr class="month"><td><a href="{PREFIX}{month}.html">{month}</a></td><td>{m["runs"]}</td>'
        f'<td>{m["full"]}</td>' + "".join(f"<td>{m[status]}</td>" for status in COLOURS)
        + f'<td><a href="{PREFIX}{month}.jsonl">one line per run</a></td></tr>'
        for month, m in sorted(state["months"].items(), reverse=True))
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>DigitalMe health record - history</title>'
            f"<style>{STYLE}</style></head><body><h1>DigitalMe health record - history</h1>"
            f"<p>{latest}</p><p>{total} run{'' if total == 1 else 's'} in the history, {full} with their full record "
            f"(the others repeated the previous run's outcomes and keep a summary line). Written "
            f"{now:%Y-%m-%d %H:%M:%S} UTC.</p>"
            + (f'<div class="note" id="skipped-files"><b>Not shown:</b><ul>{noted}</ul></div>' if noted else "")
            + (targets_section(state["strips"], names, since, now) if names else "")
            + f"<h2>Trends, last {TREND_DAYS} days</h2><p><small>The last {RAW_DAYS} days run by run; before that "
            f"each day's min to max (a bar) and median (the line).</small></p><div class=\"charts\">{charts}</div>"
            f'<h2>Runs, last 24 hours</h2><table id="runs">{head}'
            + "".join(row(s, fleet) for s in recent)
            + f'</table><h2>Changes of status</h2><p><small>Each run whose status (or a target\'s) differs from the '
            f"previous run of its selection, newest first (the newest {CHANGES_KEPT}).</small></p>"
            f'<table id="changes">{head}' + "".join(row(s, fleet, '<tr class="change">') for s in changes)
            + '</table><h2>By month</h2><table id="months"><tr><th>Month</th><th>Runs</th><th>Full records</th>'
            + "".join(f"<th>{status.upper()}</th>" for status in COLOURS) + f"<th>Every run</th></tr>{months}"
            "</table></body></html>\n")


def write_month_page(store, month, state):
    """``history-<month>.html``: every run of the month, by day (each day folded), and each day's trend values
    (min/median/max), from all of the month's lines; the days before the newest kept in
    ``.history-<month>-days.json`` for :func:`refresh_month_page`."""
    lines = read_positioned(month_lines(store, month))
    summaries = [s for _, s in lines if s is not None]
    fleet = any(s.get("targets") for s in summaries)
    days = {day: day_parts(day, runs, fleet) for day, runs in by_day(summaries).items()}
    cut = newest_day_offset(lines)
    if cut is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(days_cache(store, month))  # each run makes the page whole until a day ends cleanly
    else:
        newest = max(days)
        write_atomically(days_cache(store, month), json.dumps(
            {"version": STATE_VERSION, "offset": cut, "fleet": fleet,
             "runs": sum(s["started_at"][:10] != newest for s in summaries),
             "days": {day: parts for day, parts in days.items() if day != newest}}, separators=(",", ":")))
    notes = [f"{os.path.basename(month_lines(store, month))} line {n}: not a readable run summary"
             for n, (_, s) in enumerate(lines, 1) if s is None]
    write_atomically(month_page(store, month), month_html(month, len(summaries), days, notes))
    state["pages"][month] = state["months"].get(month, {}).get("runs", len(summaries))


def refresh_month_page(store, month, state):
    """The month page made current after a run, at the cost of the newest day's lines, not the month's: the
    earlier days' parts from ``.history-<month>-days.json``, the newest day's from the lines after its offset.
    What the cache cannot vouch for (none, another version, a late run of an earlier day, an unreadable line,
    the month's first fleet run) is made whole, as :func:`write_month_page` does once a day."""
    cache = read_days_cache(store, month)
    runs = None
    if cache is not None:
        try:
            with open(month_lines(store, month), "rb") as f:
                f.seek(cache["offset"])
                runs = [parsed_line(line) for line in f.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            runs = None
    if runs is None or any(s["started_at"][:10] in cache["days"] for s in runs) or \
            (not cache["fleet"] and any(s.get("targets") for s in runs)):
        write_month_page(store, month, state)
        return
    days = {**cache["days"], **{day: day_parts(day, each, cache["fleet"]) for day, each in by_day(runs).items()}}
    write_atomically(month_page(store, month), month_html(month, cache["runs"] + len(runs), days, []))
    state["pages"][month] = state["months"].get(month, {}).get("runs", cache["runs"] + len(runs))


def read_positioned(path):
    """[(byte offset, summary or None when unreadable)] of one month's file, in the order written."""
    lines, at = [], 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return lines
    for raw in data.splitlines(keepends=True):
        if raw.strip():
            try:
                lines.append((at, parsed_line(raw)))
            except ValueError:
                lines.append((at, None))
        at += len(raw)
    return lines


def newest_day_offset(lines):
    """The offset from which every line of the month is of its newest day, when every line before it is readable
    and of an earlier day; else None (no lines, an unreadable one, a late run of an earlier day written after)."""
    if not lines or any(s is None for _, s in lines):
        return None
    newest = max(s["started_at"][:10] for _, s in lines)
    cut = len(lines)
    while cut > 0 and lines[cut - 1][1]["started_at"][:10] == newest:
        cut -= 1
    if any(s["started_at"][:10] == newest for _, s in lines[:cut]):
        return None
    return lines[cut][0]


def by_day(summaries):
    """{day: its runs, by start} in the order of the days."""
    days = {}
    for summary in sorted(summaries, key=lambda s: (s["started_at"], s.get("file") or "")):
        days.setdefault(summary["started_at"][:10], []).append(summary)
    return days


def day_parts(day, runs, fleet):
    """One day of a month page: its overview row (runs by status, trend min / median / max) and its section."""
    values, meta = {}, {}
    for summary in runs:
        meta.update(summary.get("trends") or {})
        for key, found in (("", summary.get("values") or {}), *(summary.get("target_values") or {}).items()):
            for name, (value, _) in found.items():
                if value is not None:  # a gap: nothing measured
                    values.setdefault((name, key), []).append(value)
    shown_trends = "; ".join(
        f"{html.escape(meta[name][0])}{' (' + html.escape(key) + ')' if key else ''} {shown(min(v), meta[name][1])}"
        f" / {shown(statistics.median(v), meta[name][1])} / {shown(max(v), meta[name][1])}"
        for (name, key), v in sorted(values.items(), key=lambda e: (meta.get(e[0][0], [e[0][0]])[0], e[0][1]))
        if name in meta)
    overview = (f'<tr><td><a href="#d{day}">{day}</a></td><td>{len(runs)}</td>'
                + "".join(f"<td>{sum(s['status'] == status for s in runs)}</td>" for status in COLOURS)
                + f"<td><small>{shown_trends}</small></td></tr>")
    rows = "".join(month_row(s, fleet) for s in runs)
    bad = sum(s["status"] != "ok" for s in runs)
    # closed until opened: a month of 5-minute runs is 9,000 rows, which a browser then need not lay out
    return [overview, f'<details id="d{day}"><summary><b>{day}</b>: {len(runs)} runs, {bad} not OK</summary>'
                      f"<table>{rows}</table></details>"]


def month_html(month, count, days, notes):
    """A month page from its days' parts ({day: [overview row, section]})."""
    ordered = [days[day] for day in sorted(days)]
    noted = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>DigitalMe health record - {month}</title>'
            f"<style>{STYLE}{MONTH_STYLE}</style></head><body><h1>DigitalMe health record - {month}</h1>"
            f'<p><a href="{INDEX}">history</a> - {count} runs, every one (full record or summary line);'
            f' the same as <a href="{PREFIX}{month}.jsonl">{PREFIX}{month}.jsonl</a>. Written '
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.</p>"
            + (f'<div class="note"><ul>{noted}</ul></div>' if noted else "")
            + '<table id="days"><tr><th>Day</th><th>Runs</th>' + "".join(f"<th>{s.upper()}</th>" for s in COLOURS)
            + "<th>Trends: min / median / max</th></tr>" + "".join(o for o, _ in ordered) + "</table>"
            + "".join(section for _, section in ordered) + "</body></html>\n")


def days_cache(store, month):
    return os.path.join(store, f".{PREFIX}{month}-days.json")


def read_days_cache(store, month):
    """The month page's earlier days as :func:`write_month_page` left them, or None (none, or unreadable)."""
    try:
        with open(days_cache(store, month), encoding="utf-8") as f:
            cache = json.load(f)
        ok = cache.get("version") == STATE_VERSION and isinstance(cache.get("offset"), int) and \
            isinstance(cache.get("days"), dict) and isinstance(cache.get("runs"), int)
        return cache if ok else None
    except (OSError, ValueError, AttributeError):
        return None


MONTH_STYLE = ".s{color:#fff;padding:0 6px;border-radius:3px}.ok{background:#1a7f37}.warning{background:#9a6700}" \
              ".critical{background:#cf222e}.c td{font-weight:bold}"


def month_row(summary, fleet):
    """A compact row of a month page: time, selection, status (a change of status in bold), targets, counts."""
    counts = summary["counts"]
    targets = summary.get("targets") or {}
    return (f'<tr{" class=c" if summary.get("changed") else ""}><td>{summary["started_at"][11:19]}</td>'
            f'<td>{html.escape(summary["selection"])}</td><td><b class="s {summary["status"]}">'
            f'{summary["status"].upper()}</b></td>'
            + (f"<td>{html.escape(', '.join(f'{n} {s.upper()}' for n, s in targets.items()))}</td>" if fleet else "")
            + f"<td>{counts.get('passed', 0)}/{counts.get('failed', 0)}/{counts.get('error', 0)}/"
            f"{counts.get('skipped', 0)}" + (f" ({counts['waived']} waived)" if counts.get("waived") else "")
            + (f" ({counts[NOT_CHECKED]} not checked)" if counts.get(NOT_CHECKED) else "")
            + f"</td><td>{links(summary)}{sha_of(summary)}</td></tr>")


def sha_of(summary):
    """A kept results file's SHA-256 on its month page row: the start of it, the whole on hover."""
    sha = summary.get("sha256") if summary.get("kept") == "full" and summary.get("file") else None
    return f' <code title="SHA-256 of the results file: {html.escape(sha)}">{html.escape(sha[:12])}</code>' \
        if isinstance(sha, str) else ""


# --- a run --------------------------------------------------------------------------------------------------

def record(store, state, name, document, thin, now, digest=None):
    """The run in the state and its line (``digest``: its results file's SHA-256); the state written last. A kept
    chained file becomes the chain's head; a thinned one is pending (its dated file goes at the end of the run,
    scripts/verify-records passes over it meanwhile)."""
    summary = summarize(name, document)
    selection = summary["selection"]
    why = why_kept(document, state["last"].get(selection), thin)
    summary.update(kept="full" if why else "summary", why=why or "repeated the previous run")
    if digest:
        summary["sha256"] = digest
    if not why:
        summary["file"] = summary["html"] = None
    apply(state, summary, outcomes_of(document), now)
    if digest and isinstance(document.get("chain"), dict) and not document["chain"].get("unlinked"):
        chain = chain_of(state)
        chain["latest"] = {"name": name, "sha256": digest}  # what latest.json holds (before a thinned run's note)
        for record_name in (document["chain"].get("records") or {}) if why else ():
            chain["records"].pop(record_name, None)  # linked by this kept file now (a thinned one's file goes)
        pending = [n for n in chain["pending"]  # <= PENDING_KEPT stats; a name used again is no longer pending
                   if n != name and os.path.exists(os.path.join(store, n))]
        if why:
            chain.update(head=name, sha256=digest)
        else:
            pending.append(name)
        chain["pending"] = pending[-PENDING_KEPT:]
    append_line(store, summary)
    write_state(store, state)
    return summary


# --- since when a check fails, and the chain of results files ------------------------------------------------

def streak_key(check):
    """A check's key in its selection's streaks: its id, and its target in a fleet run."""
    return check.id if check.target is None else f"{check.target}::{check.id}"


def current_streak_key(key):
    """A streak's key as kept before stable ids (``...::test_x[local]``, a run without a targets file) as it is
    now; a fleet's keys (``<target>::<id>``, never starting with a module's path) were stable already."""
    return current_id(key) if key.split("::", 1)[0].endswith(".py") else key


def since_when(state, selection, started, checks):
    """Fill ``failing_since``, ``failing_runs`` and ``new_finding`` on each failing check of a run of ``selection``
    started at ``started`` (ISO) and keep the selection's streaks in the state: only the checks failing in its
    newest run, ``{"at": started, "checks": {key: [since, runs]}}`` (a passing, skipped or thinned run ends a
    check's streak). A run older than the selection's newest (an overlapping run that finished late) is read
    against the newest streaks (a streak that began before it goes on, with its count so far; else new) and
    changes nothing."""
    streaks = state.setdefault("failing", {})
    entry = streaks.get(selection)
    try:
        at, before = str(entry["at"]), {current_streak_key(str(k)): [str(v[0]), int(v[1])]
                                        for k, v in entry["checks"].items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # none yet, or a state edited by hand
        at, before = None, {}
    late = at is not None and started < at
    failing = {}
    for check in checks:
        if check.outcome == NOT_CHECKED and streak_key(check) in before:
            failing[streak_key(check)] = before[streak_key(check)]  # not judged this run: its streak waits, as is
        if check.outcome not in STREAK:
            continue
        key = streak_key(check)
        known = before.get(key)
        if known and known[0] <= started:
            since, runs, new = known[0], known[1] + (0 if late else 1), False
        else:
            since, runs, new = started, 1, True
        check.failing_since, check.failing_runs, check.new_finding = since, runs, new
        failing[key] = [since, runs]
    if not late:
        streaks[selection] = {"at": started, "checks": failing}


def chain_of(state):
    """The chain's head in the state: the newest kept results file's name and SHA-256, thinned runs' files not
    yet removed, the HTML records written since the newest results file (``"records"``: name -> SHA-256), the run
    ``latest.json`` holds (``"latest"``) and what ``latest.html`` holds (``"latest_html"``). A state of an earlier
    version has no ``"records"``: one is added; ``"latest"`` and ``"latest_html"`` come with the next run."""
    chain = state.get("chain")
    if not (isinstance(chain, dict) and isinstance(chain.get("pending"), list)):
        chain = state["chain"] = {"head": None, "sha256": None, "pending": []}
    if not isinstance(chain.get("records"), dict):
        chain["records"] = {}
    return chain


def link_of(state):
    """A new results file's ``"chain"``: the head's name and SHA-256 (null and null for the first), and the HTML
    records written since it with their SHA-256 (``"records"``: present, if empty, in every file of a version that
    chains its records, so scripts/verify-records knows this file's own record is expected in a later link)."""
    chain = chain_of(state)
    return {"previous": chain["head"], "previous_sha256": chain["sha256"], "records": dict(chain["records"])}


def keep_record(folder, state, html_path, name, thinned):
    """This run's HTML record, once written: its SHA-256 in the state's ``"records"``, for the next results file
    to link (a thinned run's record goes at the end of the run: not kept), and ``latest.html`` a copy of it while
    this run is the one ``latest.json`` holds. Under the history's lock, so ``latest.html`` and ``latest.json``
    show the same run when two overlap, and a record altered later (a failure edited out) is detectable."""
    try:
        with open(html_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return  # no record this run: pytest-html disabled, ``--html`` elsewhere, or the session broke
    digest = hashlib.sha256(data).hexdigest()
    chain = chain_of(state)
    html_name = os.path.basename(html_path)
    if not thinned:
        chain["records"][html_name] = digest
    if (chain.get("latest") or {}).get("name") == name:
        write_atomically(os.path.join(folder, "latest.html"), data.decode("utf-8"))
        chain["latest_html"] = {"name": html_name, "sha256": digest}


def read_anchor(folder):
    try:
        with open(os.path.join(folder, ANCHOR), encoding="utf-8") as f:
            anchor = json.load(f)
        return {str(k): str(v) for k, v in anchor["links"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def anchor_removed(folder, paths, now):
    """Before retention removes chained results files: ``chain-anchor.json`` names the newest of them (and any
    other that no removed file links to) with its SHA-256, so the oldest kept file's link still verifies. Entries
    a removed file linked to are no longer needed and go; the file is rewritten only when chained files go."""
    removed = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            link = json.loads(data).get("chain")
        except (OSError, ValueError, AttributeError):
            continue  # unreadable: not a chained file this can vouch for
        if isinstance(link, dict):
            removed[os.path.basename(path)] = (hashlib.sha256(data).hexdigest(), link.get("previous"))
    if not removed:
        return
    links = {**read_anchor(folder), **{name: sha for name, (sha, _) in removed.items()}}
    for _, previous in removed.values():
        links.pop(previous, None)  # the file that linked to it is gone too
    links = dict(sorted(links.items())[-ANCHOR_LINKS_KEPT:])
    newest = max(links)
    write_atomically(os.path.join(folder, ANCHOR), json.dumps(
        {"name": newest, "sha256": links[newest], "removed_at": now.isoformat(timespec="seconds"),
         "links": links}, indent=1) + "\n")


def publish_history(folder, retention, now, record_of=None):
    """The run's HTML record in the chain (``record_of``: its path, its results file's name, whether thinned;
    :func:`keep_record`), the day's upkeep if not done today, and ``index.html``."""
    store = folder  # the history's files live beside the records
    with locked(folder):
        state = read_state(store)
        if state is None:
            return
        if record_of is not None:
            keep_record(folder, state, *record_of)
        fold(state, now)
        if state["day"] != now.date().isoformat():
            upkeep(folder, state, retention, now)
        for month, counted in state["months"].items():  # the run's month: its page current, not a day behind
            if state["pages"].get(month) != counted["runs"]:
                refresh_month_page(store, month, state)
        write_state(store, state)
        write_atomically(os.path.join(folder, INDEX), render(state, now))


def add_run(config):
    """The run's results file and its line in the history, in one section under the history's lock (so a run
    killed later is still listed): the state read, each failing check's since-when data, the results file and
    ``latest.json`` with their link to the previous kept results file, the line, the state. A folder that fails
    is noted, never raised; a lock held too long (or a history that fails before the file) still gets the
    results file, written outside the chain (``"unlinked"``) and without since-when data."""
    if REPORT_ERROR in config.stash:
        return
    settings = config.stash[SETTINGS]
    folder = settings.report_dir
    run = config.stash[RUN]
    name = os.path.basename(paths_of(config)["json"])
    attempted = False
    try:
        with locked(folder):
            now = dt.datetime.now(dt.timezone.utc)
            state = read_state(folder)
            if state is None:
                state = start(folder, name, now)
            since_when(state, run.selection, run.started_at.isoformat(timespec="seconds"), run.checks)
            attempted = True
            text = results.write_results(config, link_of(state))
            if text is None:
                return  # noted by results.py; the state keeps nothing of this run
            summary = record(folder, state, name, json.loads(text), settings.report_thin, now,
                             config.stash[RESULTS_SHA256])
            config.stash[THINNED] = summary["kept"] == "summary"
    except OSError as e:  # TimeoutError too: the lock
        if not attempted:
            for check in run.checks:  # what since_when may have filled: not kept in the state
                check.failing_since = check.failing_runs = check.new_finding = None
            results.write_results(config, {"previous": None, "previous_sha256": None,
                                           "unlinked": f"written outside the chain: {e}"})
        report_failed(config, e)


def write_history(config):
    """After the record: the day's upkeep, the index; a folder that fails now (full) is noted for the run's
    one-line error, never raised."""
    if REPORT_ERROR in config.stash or not config.stash.get(RESULTS_OK, False):
        return
    settings = config.stash[SETTINGS]
    record_of = (paths_of(config)["html"], os.path.basename(paths_of(config)["json"]), config.stash.get(THINNED, False))
    try:
        publish_history(settings.report_dir,
                        retention_of(settings.report_retention_days, settings.report_retention_by_selection),
                        dt.datetime.now(dt.timezone.utc), record_of)
    except OSError as e:  # TimeoutError too: the lock
        report_failed(config, e)


def thin(config):
    """A thinned run's dated results file and record go, last (every plugin's ``pytest_digitalme_run_finished``
    has had them); ``latest.json`` and ``latest.html`` still hold the run, and its line is in the history."""
    if config.stash.get(THINNED, False):
        for path in paths_of(config).values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        folder = config.stash[SETTINGS].report_dir
        latest = os.path.join(folder, "latest.json")
        try:  # its "files" named the dated files just removed: it now names where the run can still be read
            with locked(folder):  # and only while it is still this run's (a later run may have written it)
                with open(latest, encoding="utf-8") as f:
                    document = json.load(f)
                if document.get("files") == paths_of(config):
                    document["thinned_files"], document["files"] = document["files"], kept_paths(config)
                    document["thinned"] = True
                    write_atomically(latest, json.dumps(document, indent=1))
        except (OSError, ValueError) as e:  # TimeoutError too: the lock
            report_failed(config, e if isinstance(e, OSError) else OSError(0, f"latest.json: {e}"))
