"""The end of a run, in one place (:func:`finish_run`): alerts, then the results file with its history line (one
locked section: since-when data and the chain link come from the history's state), then the record, then the
history (locked: the record's hash for the chain, ``latest.html``, the index), then any plugin's output
(``pytest_digitalme_run_finished``), then thinning (a repeated passing run's dated files go), and the run's last
terminal lines.

It runs only on the process that owns the run: the single pytest process, or the xdist controller, which has every
check's outcome from the workers' reports (plugins/outcomes/run.py). Workers alert and write nothing.

Why a hook wrapper: pytest-html writes the record in its own ``pytest_sessionfinish`` (trylast). Wrapping
``pytest_sessionfinish`` puts that write at the record's turn, after the alerts (which the record shows) and the
results file, and before the history (whose index links to the record). The order does not hang on the order of
conftest.py's SUITE_PLUGINS: pytest-html's write is trylast (inside every wrapper), and pytest registers its
terminal reporter at configure, after conftest.py registered this module, so the reporter's wrapper is the outer
one and its summary (:func:`pytest_terminal_summary`, step 7: the status line) comes after all of it.
"""

import pytest

from plugins.outcomes import reachability
from plugins.outcomes.run import RUN, in_collection_order, owns_run
from plugins.outputs import alerting, history, results
from plugins.outputs.record import publishing as record  # the record's file: publish, withdraw, failed_writing


def finish_run(session, exitstatus):
    """The end-of-run pipeline, as a generator for the hook wrapper below: at its ``yield`` (step 3) pytest-html
    writes the record, as every other plugin's ``pytest_sessionfinish`` runs. A report folder that fails at any step
    is noted and the steps after it go on: alerts are never lost to a broken folder, and the run ends with
    results.py's one line. The run's last terminal lines (step 7) follow: :func:`pytest_terminal_summary`."""
    config = session.config
    run = config.stash[RUN]
    in_collection_order(config)  # xdist workers report in any order; the outputs list checks as collected
    if reachability.gather(run):  # each unreachable target's headline lists what it stands for
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a "not checked" without its headline failed after all
    alerting.send(config, run, exitstatus)  # 1. alerts: their delivery outcomes go into the results file and record
    # 2. under the history's lock: since-when data, the results file (chained to the previous one; written by
    # plugins/outputs/results.py), its line in the history now (a run killed later is still listed), the state
    history.add_run(config)
    try:  # 3. the record: pytest-html renders and writes it in its own pytest_sessionfinish (trylast), here
        outcome = yield
    except OSError as e:
        record.failed_writing(config, e)  # a folder pytest-html could not write: noted
        outcome = None
    record.publish(config)  # scrubbed, its summary first
    history.write_history(config)  # 4. the history: the record's hash in the chain, latest.html, retention, the index
    config.hook.pytest_digitalme_run_finished(config=config, run=run)  # 5. any plugin's own output (Prometheus)
    history.thin(config)  # 6. a repeated passing run keeps its history line only (plugins/outputs/history/)
    results.fail_on_report_error(session)  # a report folder that failed fails the run
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session, exitstatus):
    """The end of the run (:func:`finish_run`) where the run is owned; elsewhere nothing of ours. A run stopped
    by bad input found at collection (exit 4: a check without its markers, a waiver naming no check) checked
    nothing: it leaves no results file, record or alert behind, as one stopped at start-up."""
    if not owns_run(session.config):
        return (yield)
    if exitstatus == pytest.ExitCode.USAGE_ERROR:
        try:
            return (yield)
        finally:  # after pytest-html's own sessionfinish wrote it
            record.withdraw(session.config)
    return (yield from finish_run(session, exitstatus))


def pytest_terminal_summary(terminalreporter, config):
    """Step 7, the run's last lines: what alerting did, the status line, where the results are (or why not). Two
    lines may come before these, from their own hooks: the Prometheus file's problem (a wrapper: first) and the
    waivers to remove or renew (tryfirst: before this plain one)."""
    if not owns_run(config):
        return
    run = config.stash[RUN]
    for line in alerting.terminal_lines(config, run):
        terminalreporter.write_line(line, yellow=line.startswith("DigitalMe alerts: alert state "))
    if run.checks:
        colour = {"ok": {"green": True}, "warning": {"yellow": True}, "critical": {"red": True}}[run.status]
        terminalreporter.write_line(results.status_line(config), bold=True, **colour)
        if results.REPORT_ERROR not in config.stash:
            terminalreporter.write_line(f"DigitalMe: results {results.kept_paths(config)['json']}")
    if results.REPORT_ERROR in config.stash:
        terminalreporter.write_line(results.report_error_line(config), bold=True, red=True)
