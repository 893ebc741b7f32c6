"""The history's three steps in a run, as plugins/pipeline.py calls them (each under the history's lock, so
overlapping runs never lose each other's update and the chain follows the order the files were written in):

1. :func:`add_run`, after the alerts: the state read (or made: plugins/outputs/history/migration.py), each failing
   check's streak (plugins/outcomes/streaks.py), the results file and ``latest.json`` written by
   plugins/outputs/results.py with their link in the chain, the run's line, the state.
2. :func:`write_history`, after the record: the record's SHA-256 in the chain and ``latest.html``, the day's upkeep
   once a day (retention, month pages), the run's month page, ``index.html``.
3. :func:`thin`, last: a thinned run's dated files removed (results.py notes it in ``latest.json``).

A report folder that cannot be written (plugins/outputs/results.py) is left alone: no history that run, no
traceback; one that fails during a step is noted for the run's one-line error, never raised.
"""

import contextlib
import datetime as dt
import json
import os

from plugins.configuration.settings import SETTINGS
from plugins.outcomes import streaks
from plugins.outcomes.run import RUN
from plugins.outputs import results
from plugins.outputs.history import chain
from plugins.outputs.history.bookkeeping import apply, fold, outcomes_of, summarize
from plugins.outputs.history.index import render
from plugins.outputs.history.migration import start
from plugins.outputs.history.months import refresh_month_page
from plugins.outputs.history.retention import retention_of, upkeep, why_kept
from plugins.outputs.history.store import INDEX, append_line, locked, read_state, write_state
from plugins.files import write_atomically
from plugins.outputs.results import REPORT_ERROR, RESULTS_OK, RESULTS_SHA256, THINNED, paths_of, report_failed


def record(store, state, name, document, thin, now, digest=None):
    """The run in the state and its line (``digest``: its results file's SHA-256), and in the chain
    (plugins/outputs/history/chain.py); the state written last."""
    summary = summarize(name, document)
    selection = summary["selection"]
    why = why_kept(document, state["last"].get(selection), thin)
    summary.update(kept="full" if why else "summary", why=why or "repeated the previous run")
    if digest:
        summary["sha256"] = digest
    if not why:
        summary["file"] = summary["html"] = None
    apply(state, summary, outcomes_of(document), now)
    chain.advance(store, state, name, document, digest, kept=bool(why))
    append_line(store, summary)
    write_state(store, state)
    return summary


def publish_history(folder, retention, now, record_of=None):
    """The run's HTML record in the chain (``record_of``: its path, its results file's name, whether thinned;
    :func:`keep_record`), the day's upkeep if not done today, and ``index.html``."""
    store = folder  # the history's files live beside the records
    with locked(folder):
        state = read_state(store)
        if state is None:
            return
        if record_of is not None:
            chain.keep_record(folder, state, *record_of)
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
    killed later is still listed): the state read, each failing check's streak, the results file and
    ``latest.json`` with their link to the previous kept results file, the line, the state. A folder that fails
    is noted, never raised; a lock held too long (or a history that fails before the file) still gets the
    results file, written outside the chain (``"unlinked"``) and without streaks."""
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
            streaks.update(state, run)
            attempted = True
            text = results.write_results(config, chain.link_of(state))
            if text is None:
                return  # noted by results.py; the state keeps nothing of this run
            summary = record(folder, state, name, json.loads(text), settings.report_thin, now,
                             config.stash[RESULTS_SHA256])
            config.stash[THINNED] = summary["kept"] == "summary"
    except OSError as e:  # TimeoutError too: the lock
        if not attempted:
            streaks.clear(run.checks)  # what the counter may have filled: not kept in the state
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
        try:  # latest.json, only while it is still this run's (a later run may have written it): under the lock
            with locked(config.stash[SETTINGS].report_dir):
                results.note_thinned(config)
        except (OSError, ValueError) as e:  # TimeoutError too: the lock
            report_failed(config, e if isinstance(e, OSError) else OSError(0, f"latest.json: {e}"))
