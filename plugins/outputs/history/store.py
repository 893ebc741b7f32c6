"""The history's store: its files' names, the month files of run lines, the state, and the lock.

- ``history-<YYYY-MM>.jsonl`` beside the records (whatever serves or archives the report folder serves and archives
  them too): one line per run, appended (time, selection, status, counts, each target's status, the trend values by
  trend name, with each trend's caption and unit, duration, whether its full record was kept and why). The audit's
  "it ran and passed at 14:05" of every run, kept or thinned. JSON lines, not SQLite: a run appends one line (O(1),
  no rewrite, no database to lock or repair after a killed run), a month is one greppable text file an auditor can
  read without tools, and a half-written last line (a killed run) costs that line only.
- ``<report dir>/state/history.json`` (THE state layout, plugins/files.py): what the index needs, kept up to date run
  by run (plugins/outputs/history/bookkeeping.py), a few hundred KB at most. An earlier version kept it at the report
  folder's root as ``history-state.json``: read once and moved (:func:`moved_state`), so an upgrade loses nothing.
- ``<report dir>/state/history.json.lock``: held by one run at a time (:func:`locked`), so overlapping runs (the
  09:00 daily and a monitor) never lose each other's update.
"""

import json
import os
import re
import time

from plugins import files
from plugins.files import write_atomically
from plugins.outcomes import trends

RUN_FILE = re.compile(r"^(\d{8}T\d{6}Z)-(.+?)(?:_\d+)?\.(json|html)$")  # stamp, selection slug, [_n: a 2nd run]
INDEX, PREFIX = "index.html", "history-"  # beside the records: history-<YYYY-MM>.jsonl and .html
OLD_STATE = "history-state.json"  # where versions before issue 24 kept the state: the report folder's root
STATE_VERSION = 2  # 2: trends keyed by their declared names, with "trends" {name: [title, unit]} (issue 24)
LOCK_WAIT_S = 20  # an overlapping run's history update waits this long for the other's, then gives up (noted)


def state_file(store):
    """``<report dir>/state/history.json``."""
    return files.state_path(store, "history")


def lock_file(store):
    """The history's lock, beside its state."""
    return state_file(store) + ".lock"


def month_lines(store, month):
    return os.path.join(store, f"{PREFIX}{month}.jsonl")


def month_page(store, month):
    return os.path.join(store, f"{PREFIX}{month}.html")


def days_cache(store, month):
    return os.path.join(store, f".{PREFIX}{month}-days.json")


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


def moved_state(store):
    """A state an earlier version kept at the report folder's root moved to its place, once (under the lock): the
    next read finds it there; one already there is the newer, and the old file is left as it is."""
    old, new = os.path.join(store, OLD_STATE), state_file(store)
    if os.path.exists(old) and not os.path.exists(new):
        os.makedirs(os.path.dirname(new), exist_ok=True)
        os.replace(old, new)


def read_state(store):
    try:
        moved_state(store)
        with open(state_file(store), encoding="utf-8") as f:
            state = json.load(f)
        if state.get("version") == 1:
            return upgraded(state)
        return state if state.get("version") == STATE_VERSION else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def write_state(store, state):
    write_atomically(state_file(store), json.dumps(state, separators=(",", ":")))


def locked(folder):
    """The history's lock, held by one run at a time; waits up to :data:`LOCK_WAIT_S`, then raises TimeoutError."""
    return files.locked(lock_file(folder), time.monotonic() + LOCK_WAIT_S,
                        TimeoutError(f"the history was locked by another run for {LOCK_WAIT_S} s"))
