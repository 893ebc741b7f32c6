"""The history: every run in a small store beside the records, ``<report dir>/index.html``, month pages, thinning
and retention, at a cost per run that does not grow with the history's age. One job a module:

    steps.py        the three steps plugins/pipeline.py calls (add_run, write_history, thin), under the lock
    store.py        the files: month files of run lines (history-<YYYY-MM>.jsonl), the state
                    (<report dir>/state/history.json), the lock
    bookkeeping.py  a run's summary (its line) from its results file; the state the index is drawn from
    migration.py    a state where there is none: rebuilt from the lines, or from an earlier version's folder
    retention.py    thinning (which runs keep a summary line only) and retention (the day's upkeep)
    chain.py        the hash chain of results files and records (scripts/verify-records checks it)
    charts.py       SVG: trend charts, each target's status strip
    index.py        index.html, from the state alone
    months.py       history-<YYYY-MM>.html, made whole once a day, brought up to date by each run

The failing streaks kept in the state are the one streak counter's (plugins/outcomes/streaks.py); the results
file and ``latest.json`` are written by plugins/outputs/results.py alone. No hooks of its own.
"""

from plugins.outputs.history.steps import add_run, thin, write_history

__all__ = ["add_run", "write_history", "thin"]
