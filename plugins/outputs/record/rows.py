"""The record's table, one row per check, through pytest-html's row hooks (:class:`Rows`): the extra columns
(severity, manual, measured, threshold; in a fleet run the target, sortable), a skip's reason as a sentence, a
check that could not be checked counted as an error, and under each row its waiver and its evidence, inline.

A waived check (plugins/outcomes/waivers.py) is pytest-html's "XFailed" row, its waiver (reason, owner, expiry)
under it, as are an expired or no longer needed waiver's checks; a check "not checked" because its target is
unreachable (plugins/outcomes/reachability.py) is a Skipped row saying so. A fleet run's table opens grouped by
target (in the targets file's order, failures first within each), by the Target column's hidden sort key.
"""

import html

import pytest
from pytest_html import extras

from plugins import adapters
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import fleet, targets_of
from plugins.outcomes.run import COULD_NOT_CHECK_MARK, EVIDENCE_MAX_CHARS, ORDER, outcome_in
from plugins.outputs.record.cells import row_of, sentence
from plugins.outputs.results import COLOURS
from plugins.secrets import scrub

COLUMNS = ("Severity", "Manual", "Measured", "Threshold")  # after pytest-html's "Test" column
RESULT_RANK = {"error": 0, "failed": 1, "waived": 2, "not checked": 3, "skipped": 3,  # pytest-html's order (waived:
               "passed": 4}  # XFailed; not checked: Skipped, its target unreachable: plugins/outcomes/reachability.py)
WAIVER_NOTES = {
    "applied": "WAIVED: this failure is an accepted finding, not alerted",
    "expired": "Waiver expired: it no longer applies; the check is judged and alerted as usual",
    "not needed": "Waiver no longer needed: the check passed",
}
html_hook = pytest.hookimpl(optionalhook=True)  # pytest-html's hooks: it may be disabled (-p no:html)


class Rows:
    """The record's cells and evidence of each check, from the outcome its last report carries; registered where
    the record is written, as pytest-html's hooks give the report but not the run."""

    def __init__(self, config):
        self.config, self.outcomes = config, {}
        self._cells = None  # (check id, id of its outcome, extra cells, target cell) of the rows being made
        self.fleet = fleet(config)
        self.target_order = {name: n for n, name in enumerate(targets_of(config))} if self.fleet else {}

    def pytest_runtest_logreport(self, report):
        """Keep the check's outcome for its rows, and put its evidence where pytest-html reads it (before
        pytest-html's own logreport, which is trylast, makes the rows)."""
        outcome = outcome_in(report)
        if outcome is not None:
            self.outcomes[report.nodeid] = outcome
            secrets = self.config.stash[SETTINGS].secrets()
            report.extras = (list(getattr(report, "extras", [])) + waiver_note(outcome.get("waiver"), secrets)
                             + evidence_of(outcome["evidence"], secrets))

    @html_hook
    def pytest_html_results_table_header(self, cells):
        """Called after building the header: severity, manual, measured, threshold after the test's name; in a
        fleet run, the target before it."""
        cells[2:2] = ['<th class="sortable" data-column-type="severity">Severity</th>'] + [
            f"<th>{name}</th>" for name in COLUMNS[1:]]
        if self.fleet:
            cells.insert(1, '<th class="sortable" data-column-type="target">Target</th>')

    @html_hook
    def pytest_html_results_table_html(self, report, data):
        """Called after building a row's log: a skip's reason as a sentence (pytest-html shows a skip's
        ``(path, line, 'Skipped: reason')`` tuple as Python writes it)."""
        if report.skipped and isinstance(report.longrepr, tuple) and data:
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            data[0] = html.escape(sentence(reason)) + "\n"

    @html_hook
    def pytest_html_results_table_row(self, report, cells):
        """Called after building a row: the cells of the header's extra columns."""
        outcome = self.outcomes.get(report.nodeid)
        if report.when == "call" and getattr(report, COULD_NOT_CHECK_MARK, False):
            cells[0] = '<td class="col-result">Error</td>'  # an error, as pytest and the results file count it
            counted_as_error(self.config)
        if self._cells is None or self._cells[:2] != (report.nodeid, id(outcome)):
            # pytest-html makes a check's rows (setup, call, teardown) one after the other: their cells once
            self._cells = (report.nodeid, id(outcome), self.extra_cells(outcome),
                           self.target_cell(report, outcome) if self.fleet else None)
        cells[2:2] = self._cells[2]
        if self.fleet:
            cells.insert(1, self._cells[3])

    @staticmethod
    def extra_cells(outcome):
        """Severity, manual, measured value, threshold of a check's rows."""
        row = row_of(outcome)
        colour = COLOURS.get(row["severity"], "inherit")
        return [f'<td class="col-severity" style="color:{colour};font-weight:bold">{row["severity"]}</td>',
                f'<td class="col-manual">{html.escape(row["manual"])}</td>',
                f'<td class="col-measured">{html.escape(row["value"])}</td>',
                f'<td class="col-threshold">{html.escape(row["threshold"])}</td>']

    def target_cell(self, report, outcome):
        """The row's target, led by a hidden sort key (pytest-html sorts a column by its cell's markup): the
        target's place in the targets file, then the result (failures first), then the collection order."""
        name = (outcome or {}).get("target") or ""
        order = self.config.stash.get(ORDER, {})
        key = (f"{self.target_order.get(name, -1) + 1:04d}."
               f"{RESULT_RANK.get((outcome or {}).get('outcome'), 0)}."
               f"{order.get(report.nodeid, len(order)):06d}")
        return f'<td class="col-target"><span hidden>{key}</span>{html.escape(name)}</td>'


def evidence_of(evidence, secrets):
    """The check's evidence as inline extras (a ``<pre>`` each): readable without leaving the page."""
    return [extras.html(f"<details open><summary>{html.escape(name)}</summary><pre>"
                        f"{html.escape(scrub(text[:EVIDENCE_MAX_CHARS], secrets))}</pre></details>")
            for name, text in evidence.items()]


def waiver_note(waiver, secrets):
    """A check's waiver under its row (waived, expired or not needed): state, reason, owner, expiry."""
    if not waiver:
        return []
    text = (f"{WAIVER_NOTES.get(waiver['state'], waiver['state'])}. Reason: {waiver['reason']} - owner "
            f"{waiver['owner']}, expires {waiver['expires']} (waiver for {waiver['check']}"
            + (f" on {waiver['target']}" if waiver.get("target") else "") + ")")
    return [extras.html(f'<p class="waiver waiver-{html.escape(waiver["state"].replace(" ", "-"))}">'
                        f"{html.escape(scrub(text, secrets))}</p>")]


def counted_as_error(config):
    """pytest-html's counts (the filter boxes) with one check moved from failed to errors: the row it is about to
    count as failed (pytest-html says error only of a setup or teardown failure). No public API reaches its counts
    (plugins/adapters.py); a version where the adapter finds none leaves the counts as pytest-html made them."""
    counts = adapters.html_report_counts(config)
    if counts is not None and "failed" in counts and "error" in counts:
        counts["failed"]["value"] -= 1  # pytest-html adds this row to "failed" right after this hook
        counts["error"]["value"] += 1
