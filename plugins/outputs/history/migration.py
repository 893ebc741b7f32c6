"""A state to start from where there is none: rebuilt from the month files' lines (a state lost or unreadable, or
of another version), or, in a report folder of an earlier version (dated results files, ``.history-cache.json``,
no history), built from its results files.

An earlier version's folder is read once: the first run builds the store from its results files (using the old
cache's summaries where they are current; a year of them is read in seconds, once), each file written whole and the
state last, which marks it done (a killed migration is simply done again by the next run), and removes the old
cache. Old files are not thinned; retention removes them in time. A results file that cannot be read is left out
with a visible note. A rebuilt state takes the chain's head from the month files' lines (each kept run's line has
its ``sha256``), and the head's record as it is then.
"""

import contextlib
import hashlib
import json
import os
import re

from plugins.files import write_atomically
from plugins.outputs.history.bookkeeping import NOTES_KEPT, apply, empty_state, fold, summarize
from plugins.outputs.history.chain import chain_of
from plugins.outputs.history.months import write_month_page
from plugins.outputs.history.store import PREFIX, RUN_FILE, month_lines, named_trends, read_lines, write_state

OLD_CACHE = ".history-cache.json"
OLD_CACHE_VERSION = 2  # the version of .history-cache.json whose summaries are current (with "targets")


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
