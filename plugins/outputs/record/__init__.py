"""The day's health record: every run's self-contained pytest-html report, beside its results file.

``<report dir>/<UTC stamp>-<selection>.html`` (same stem as the results file) and ``latest.html``, titled
``DigitalMe health record - <date> - <selection>``. On top: the status in colour, counts by severity, the failing
checks (new findings first, critical first, each saying since when it fails), the run's alerts, the results file's
name and SHA-256, and with a waivers file every waiver's state. Then pytest-html's table with the extra columns
(severity as applied, manual, measured value and threshold in human units; a fleet run's sortable Target), each
check's waiver and evidence under its row, and last the environment table, every secret masked. A user's own
``--html PATH`` wins: same content and scrubbing, no ``latest.html``. A report folder that cannot be written
(plugins/outputs/results.py) means no record this run, never a stopped run.

The jobs, in the order of a run:

    __init__     the plugin: pytest-html pointed at the run's dated file, the environment table filled, the title
                 and the summary on top (this module's hooks; conftest.py registers it)
    rows         pytest-html's row hooks: the extra cells, skip reasons as sentences, evidence and waivers
    cells        what the record shows of each check, as text (title, cells in human units, "failing since")
    summary      the top of the record as HTML: status, counts, targets, failing checks, alerts, waivers
    environment  the environment table: target(s), host, suite version, settings, who ran it, secrets masked
    publishing   the written file at the record's turn (plugins/pipeline.py): scrubbed, summary first;
                 withdrawn after bad input; a write that failed noted

Every row is made from its check's one outcome, carried by the check's last report (``user_properties``, see
plugins/outcomes/run.py), on the process that owns the run: under xdist, pytest-html runs on the controller and
gets the workers' reports. pytest-html writes the file in its own ``pytest_sessionfinish``, which runs inside the
end-of-run pipeline (plugins/pipeline.py) at the record's turn; :func:`publishing.publish` then scrubs it, and the
history (plugins/outputs/history/, under its lock) keeps its SHA-256 for the chain and points ``latest.html``
at it.
"""

import os

import pytest

from plugins import adapters
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import fleet
from plugins.outcomes import waivers
from plugins.outcomes.run import RUN, owns_run
from plugins.outputs.record import environment
from plugins.outputs.record.cells import title_of
from plugins.outputs.record.publishing import RECORD
from plugins.outputs.record.rows import Rows, html_hook
from plugins.outputs.record.summary import summary_of, waivers_section
from plugins.outputs.results import REPORT_ERROR, RESULTS_SHA256, paths_of


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Configure pytest-html for this run's dated file, once the run is named and the folder probed."""
    # trylast: pytest-html's own configure has run by now (and did nothing without --html); the adapter has it
    # run again with our path.
    if not owns_run(config) or REPORT_ERROR in config.stash:
        return  # invalid settings stop the run; xdist workers: the controller writes; no folder to write into
    html_plugin = config.pluginmanager.getplugin("html")
    if html_plugin is None:
        return  # pytest-html disabled (-p no:html): no record
    if not config.getoption("htmlpath"):
        config.option.htmlpath = paths_of(config)["html"]
        config.option.self_contained_html = True
        adapters.configure_html_report(config, html_plugin)
    config.stash[RECORD] = os.path.abspath(config.option.htmlpath)
    config.pluginmanager.register(Rows(config), "digitalme-record-rows")


def pytest_sessionstart(session):
    """Fill the environment table before pytest-html reads it (its sessionstart is trylast)."""
    if RECORD in session.config.stash:
        environment.fill(session.config)


@html_hook
def pytest_html_report_title(report):
    """Called before adding the title: the record's dated title."""
    report.title = title_of(report.config.stash[RUN])
    if fleet(report.config) and report.config.getini("initial_sort") == "result":  # pytest-html's default
        report.set_data("initialSort", "target")  # the table opens grouped by target (Target's sort key)


@html_hook
def pytest_html_results_summary(prefix, summary, postfix, session):
    """Called before adding the summary: the status, counts by severity and failing checks on top."""
    config = session.config
    prefix.extend(summary_of(config.stash[RUN], config.stash[SETTINGS].secrets(),
                             os.path.basename(paths_of(config)["json"]), config.stash.get(RESULTS_SHA256, None)))
    if waivers.waivers_of(config):  # the accepted findings: every active waiver, and the expired ones
        listed = waivers.states(config, config.stash[RUN].checks)
        prefix.append(waivers_section(listed, config.stash[SETTINGS].secrets()))
