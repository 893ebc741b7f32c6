"""The day's health record: every run's self-contained pytest-html report, beside its results file.

``<report dir>/<UTC stamp>-<selection>.html`` (same stem as the results file) and ``latest.html``, titled
``DigitalMe health record - <date> - <selection>``. On top: the overall status in colour, counts by severity and
the failing checks, critical first. Extra columns: severity (as applied), the manual section the check enforces,
the measured value and its threshold; a check's evidence is shown inline under its row. The environment table
names the target, host, suite version, thresholds, who ran it and when, with every secret removed.

Values and thresholds are shown in human units (``1.0 GiB``, ``21 ms``, ``85 %``, ``30 days``) where the check named
its unit (``check.record(value, threshold, unit=...)``, plugins/units.py); the results file keeps the raw numbers.
A failing check says since when it fails and in how many runs of its selection in a row (``failing since
2026-11-28 09:00 UTC (3 runs)``), with a NEW badge when the previous run of its selection did not fail it
(plugins/outputs/history.py fills both before the record is written); the failing checks on top list the new findings
first. The top ends with the results file's name and SHA-256, as written (``scripts/verify-records`` checks it).

In a fleet run (a targets file, plugins/configuration/targets.py) the top also has one row per target (its status, counts and
failing checks by severity), each failing check names its target, the table has a sortable Target column and
opens grouped by target (in the targets file's order; failures first within each, as pytest-html orders the
table of a single target), and the environment table lists each target's own settings (redacted) beside the
settings all targets share. Without a targets file none of that appears: the record is as it always was.

A check "not checked" because its target is unreachable (plugins/outcomes/reachability.py) is a Skipped row saying so, and
has its own count column; the failing list shows the target's one headline.

With a waivers file (plugins/outcomes/waivers.py) a waived row is pytest-html's "XFailed", with its waiver (reason, owner,
expiry) under it, as are an expired or no longer needed waiver's checks; the top ends with every active waiver
and its state this run, and the expired ones.

Below the failing checks, the run's alerts: each with its state (sent, queued, held in the maintenance window,
withdrawn, ...), route, check and reason, so an audit sees what was told to whom and what waits.

A user's own ``--html PATH`` wins: that file gets the same content (and scrubbing) but no ``latest.html``.
A report folder that cannot be written (plugins/outputs/results.py) means no record this run, never a stopped run.

Every row is made from its check's one outcome, carried by the check's last report (``user_properties``, see
plugins/outcomes/run.py), on the process that owns the run: under xdist, pytest-html runs on the controller and gets
the workers' reports. pytest-html writes the file in its own ``pytest_sessionfinish``, which runs inside the
end-of-run pipeline (plugins/pipeline.py) at the record's turn; :func:`publish` then scrubs it, and the history
(plugins/outputs/history.py, under its lock) keeps its SHA-256 for the chain and points ``latest.html`` at it.
"""

import contextlib
import datetime as dt
import getpass
import html
import os
import re
import socket
import subprocess

import pytest
from pytest_html import extras
from pytest_metadata.plugin import metadata_key

from plugins import adapters
from plugins.configuration.markers import SEVERITIES
from plugins.outcomes import waivers
from plugins.outcomes.run import (COULD_NOT_CHECK_MARK, EVIDENCE_MAX_CHARS, FAILING, ORDER, RUN, counted, outcome_in,
                                  owns_run)
from plugins.configuration.settings import BY_NAME, SETTINGS, duration, size
from plugins.configuration.targets import fleet, targets_of
from plugins.files import write_atomically
from plugins.outputs.results import COLOURS, REPORT_ERROR, RESULTS_SHA256, paths_of, report_failed
from plugins.secrets import MASK, SECRET_LOOKING, scrub, secret_forms, without_url_credentials
from plugins.units import human, unit_of_key, units_of

RECORD = pytest.StashKey[str]()  # the HTML file this run writes (ours, or the user's --html)
TITLE = "DigitalMe health record - {date} - {selection}"
COLUMNS = ("Severity", "Manual", "Measured", "Threshold")  # after pytest-html's "Test" column
CELL_MAX_CHARS = 300
TARGET = ("base_url", "https_url", "compose_file", "compose_project", "container")
FLEET_TARGET = TARGET + ("docker_host", "host")  # what tells a fleet's targets apart: shown for each
OUTCOMES = ("passed", "failed", "error", "skipped", "waived", "not checked")
# The summary's own tables (counts, alerts, waivers): cells apart and aligned, so each reads as a column (pytest-html
# styles only its own tables)
TABLES = ("<style>#digitalme-alerts td,#digitalme-alerts th,#digitalme-waivers td,#digitalme-waivers th,"
          "#digitalme-expired-waivers td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;"
          "vertical-align:top}#digitalme-alerts th,#digitalme-waivers th{border-bottom:2px solid #888}</style>")
# pytest-html's environment table, moved below the results table: the record opens with its summary
ENVIRONMENT = re.compile(r'\s*<div id="environment-header">.*?<table id="environment"></table>', re.S)
RESULT_RANK = {"error": 0, "failed": 1, "waived": 2, "not checked": 3, "skipped": 3,  # pytest-html's order (waived:
               "passed": 4}  # XFailed; not checked: Skipped, its target unreachable: plugins/outcomes/reachability.py)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
html_hook = pytest.hookimpl(optionalhook=True)  # pytest-html's hooks: it may be disabled (-p no:html)


# --- the data: what the record shows --------------------------------------------------------------

def title_of(run):
    return TITLE.format(date=f"{run.started_at:%Y-%m-%d}", selection=run.selection)


def shown(value, unit=None):
    """A measured value or threshold as one short line, in human units where the check named its unit
    (plugins/units.py): ``/: 41.2 %, /data: 63.0 %``; without one as recorded: ``/: 41.2, /data: 63``."""
    text = human(value, unit)
    return text if len(text) <= CELL_MAX_CHARS else text[:CELL_MAX_CHARS] + "..."


def since_of(outcome):
    """``failing since 2026-11-28 09:00 UTC (3 runs)`` of a failing check whose history is known, else ``""``.
    Shown in the failing checks on top, not in the table: pytest-html makes a row when its check ends, and the
    history fills these at the end of the run (plugins/outputs/history.py)."""
    if outcome.get("outcome") not in FAILING or not outcome.get("failing_since"):
        return ""
    runs = outcome.get("failing_runs")
    return f"failing since {utc_minute(outcome['failing_since'])}" + (
        f" ({runs} run{'' if runs == 1 else 's'})" if runs else "")


def utc_minute(stamp):
    """An ISO time as ``2026-11-28 09:00 UTC`` (as it is when it is not one)."""
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    when = when.astimezone(dt.timezone.utc) if when.tzinfo else when
    return f"{when:%Y-%m-%d %H:%M} UTC"


NEW_BADGE = ('<b class="new-finding" style="color:#fff;background:#8250df;padding:0 6px;border-radius:4px">'
             'NEW</b>')


def row_of(outcome):
    """The extra cells' values for a check's rows, from its outcome (empty for a collection error's row)."""
    if outcome is None:
        return dict.fromkeys(("severity", "manual", "value", "threshold"), "")
    value_unit, threshold_unit = units_of(outcome.get("unit"))
    return {"severity": outcome["severity"], "manual": outcome["manual"],
            "value": shown(outcome["value"], value_unit), "threshold": shown(outcome["threshold"], threshold_unit)}


def evidence_of(evidence, secrets):
    """The check's evidence as inline extras (a ``<pre>`` each): readable without leaving the page."""
    return [extras.html(f"<details open><summary>{html.escape(name)}</summary><pre>"
                        f"{html.escape(scrub(text[:EVIDENCE_MAX_CHARS], secrets))}</pre></details>")
            for name, text in evidence.items()]


def suite_version():
    """The suite's git commit, or ``unknown`` (not a checkout, no git)."""
    try:
        done = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def who_ran(environ):
    """The CI job when run by one (``CI``, ``GITHUB_WORKFLOW``, ``GITHUB_RUN_ID``), else the user."""
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (containers)
        user = f"uid {os.getuid()}"
    job = " ".join(environ[k] for k in ("GITHUB_WORKFLOW", "GITHUB_RUN_ID") if environ.get(k))
    if job or environ.get("CI"):
        return f"CI job {job or environ.get('CI_JOB_NAME') or environ.get('JOB_NAME') or '(CI)'} as {user}"
    return user


def setting_shown(name, value):
    """A setting's value as the record shows it: sizes and durations as they are written (``2.0 GiB``, ``4h``),
    percentages, seconds, hours and days with their unit (by the name: ``disk_max_pct`` -> ``80 %``)."""
    declared = BY_NAME.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or declared is None:
        return value
    if declared.parse is size:
        return human(value, "bytes")
    if declared.parse is duration:
        seconds = float(value)
        return next((f"{seconds / n:g}{unit}" for n, unit in ((86400, "d"), (3600, "h"), (60, "m"))
                     if seconds >= n and seconds % n == 0), f"{seconds:g}s")
    return human(value, unit_of_key(name)) if unit_of_key(name) else value


def shown_settings(values):
    return {name: setting_shown(name, value) for name, value in values.items()}


def environment_of(settings, run, environ, targets=None):
    """The record's own rows of the environment table (every value fit to print, in human units); in a fleet run
    (``targets``: {name: Target}), one entry per target under "Targets" instead of "Target"."""
    values = shown_settings(settings.redacted())
    if targets:
        where, values = fleet_settings(targets)
    else:
        where = {"Target": {name: values[name] or "(none)" for name in TARGET}}
    return {
        **where,
        "Host": socket.gethostname(),
        "Suite version": suite_version(),
        "Thresholds and settings": ", ".join(f"{k}={v}" for k, v in values.items() if k not in TARGET),
        "Run by": who_ran(environ),
        "Started at": run.started_at.isoformat(timespec="seconds"),
        "Selection": run.selection,
    }


def fleet_settings(targets):
    """({"Targets": {name: its own settings}}, the settings every target shares), all redacted: a target's line
    has what tells it apart (:data:`FLEET_TARGET`) and every value where it differs from another target."""
    each = {name: shown_settings(target.settings.redacted()) for name, target in targets.items()}
    first = next(iter(each.values()))
    shared = {k: v for k, v in first.items() if k not in FLEET_TARGET and all(s[k] == v for s in each.values())}
    own = {name: ", ".join(f"{k}={v if v not in (None, '') else '(none)'}" for k, v in values.items()
                           if k not in shared)
           for name, values in each.items()}
    return {"Targets": own}, shared


def without_secrets(metadata, secrets):
    """pytest-metadata's table minus anything secret-looking (CI variables can carry tokens)."""
    cleaned = {}
    for key, value in metadata.items():
        if isinstance(value, str):
            value = without_url_credentials(value)
            if SECRET_LOOKING.search(key) or any(s and s in value for s in secrets):
                value = MASK
        cleaned[key] = value
    return cleaned


def escaped(value):
    """pytest-html puts environment values in as HTML: escape ours."""
    if isinstance(value, dict):
        return {html.escape(str(k)): escaped(v) for k, v in value.items()}
    return html.escape(str(value))


def summary_of(run, secrets, results_file=None, results_sha256=None):
    """The top of the record: the status in colour, counts by severity, failing checks (new findings first, then
    the others; critical first within each, each saying since when it fails); in a fleet run also each target's
    status, counts and failing checks, and each failing check's target; the results file's name and SHA-256."""
    colour = COLOURS[run.status]
    failing = sorted((c for c in run.checks if c.outcome in FAILING), key=finding_rank)
    new = sum(c.new_finding is True for c in failing)
    outcomes = OUTCOMES
    counts = "".join(
        f"<tr><th>{severity}</th>" + "".join(
            f"<td>{sum(c.severity == severity and c.outcome == o for c in run.checks)}</td>" for o in outcomes)
        + "</tr>" for severity in SEVERITIES)
    targets = run.targets
    items = "".join(
        f'<li class="{"finding-new" if c.new_finding is True else "finding"}">'
        + (NEW_BADGE + " " if c.new_finding is True else "")
        + f'<b style="color:{COLOURS.get(c.severity, "#000")}">{c.severity.upper()}</b> '
        + (f'<span class="target">[{html.escape(c.target)}]</span> ' if targets else "")
        + f"{html.escape(scrub(c.message, secrets))} "  # what was found first, then the check it failed
        f"<small>(check: {html.escape(c.title)}; {html.escape(c.id)}"
        f"{'; manual: ' + html.escape(c.manual) if c.manual else ''})</small>"
        + (f' <small class="since">{html.escape(since)}</small>' if (since := since_of(vars(c))) else "")
        + "</li>"
        for c in failing)
    return [
        f'<div id="digitalme-status" style="border-left:8px solid {colour};padding:4px 12px;margin:8px 0">'
        f'<p style="font-size:20px;margin:4px 0">Status: <b style="color:#fff;background:{colour};'
        f'padding:2px 10px;border-radius:4px">{run.status.upper()}</b> '
        + (f"{counted({o: run.counts[o] for o in FAILING})} of {len(run.checks)} checks" if failing
           else f"0 of {len(run.checks)} checks failed")  # pytest's words and counts (plugins/outcomes/run.py)
        + (f" on {len(targets)} targets" if targets else "") + "</p>"
        f'<table id="digitalme-counts" style="border-collapse:collapse;text-align:right">'
        f"<tr><th></th>{''.join(f'<th>&nbsp;{o}&nbsp;</th>' for o in outcomes)}</tr>{counts}</table>"
        + (targets_of_run(run, targets, secrets) if targets else "")
        + (f'<h3 style="margin:8px 0 2px">Failing checks{f" ({new} new)" if new else ""}</h3>'
           f'<ol id="digitalme-failing">{items}</ol>' if items else "")
        + alerts_of(run.alerts, secrets)
        + (f'<p id="digitalme-results-file" style="margin:8px 0 2px">Results file: <code>{html.escape(results_file)}'
           f'</code> SHA-256 <code>{html.escape(results_sha256)}</code></p>' if results_file and results_sha256 else "")
        + "</div>"]


def severity_rank(check):
    return SEVERITIES.index(check.severity) if check.severity in SEVERITIES else len(SEVERITIES)


def finding_rank(check):
    """New findings first, then the others; the worst severity first within each (sorted() keeps the order of
    checks of the same rank: the collection's)."""
    return (check.new_finding is not True, severity_rank(check))


def targets_of_run(run, statuses, secrets):
    """One row per target of a fleet run, in the targets file's order: its status, counts, and its failing checks
    by severity (critical first)."""
    rows = []
    for name, status in statuses.items():
        checks = [c for c in run.checks if c.target == name]
        failing = sorted((c for c in checks if c.outcome in FAILING), key=severity_rank)
        listed = "".join(
            f'<li><b style="color:{COLOURS.get(c.severity, "#000")}">{c.severity.upper()}</b> '
            f'{html.escape(scrub(c.message, secrets))} '
            f'<small>(check: {html.escape(c.title)}; {html.escape(c.id.split("::")[-1])}, {c.outcome})</small></li>'
            for c in failing)
        rows.append(
            f'<tr id="target-{html.escape(name)}" class="target-{status}"><th scope="row">{html.escape(name)}</th>'
            f'<td><b style="color:#fff;background:{COLOURS[status]};padding:1px 8px;border-radius:4px">'
            f"{status.upper()}</b></td>"
            + "".join(f'<td class="count-{o.replace(" ", "-")}">{sum(c.outcome == o for c in checks)}</td>'
                      for o in OUTCOMES)
            + (f'<td><ul style="margin:0;padding-left:16px">{listed}</ul></td>' if listed else "<td>none failed</td>")
            + "</tr>")
    head = "".join(f'<th scope="col">{name}</th>' for name in ("Target", "Status", *OUTCOMES, "Failing checks"))
    return ("<style>#digitalme-targets td,#digitalme-targets th{padding:2px 10px;border-bottom:1px solid #ddd;"
            "vertical-align:top}</style>"
            f'<h3 style="margin:8px 0 2px">Targets</h3><table id="digitalme-targets" style="border-collapse:'
            f'collapse;text-align:left"><caption style="text-align:left">Each target\'s status: the worst severity '
            f"among its failed checks</caption><tr>{head}</tr>{''.join(rows)}</table>")


def alerts_of(alerts, secrets):
    """The run's alerts as a table: state (and why), route, status and finding (its title); nothing when none."""
    if not alerts:
        return ""
    rows = []
    fleet_run = any(entry.get("target") for entry in alerts)  # a Target column only where alerts name one
    for entry in alerts:
        payload = entry.get("payload") or {}
        state = entry["state"] + (" (from the outbox)" if entry.get("from_outbox") else "") + (
            f" (held since {entry['held_at']})" if entry.get("from_held") else "")
        cells = (state, entry.get("reason", ""), entry.get("route") or "", payload.get("status", ""),
                 payload.get("severity", ""), payload.get("title", "")) + ((entry.get("target") or "",) if fleet_run else ())
        rows.append(f'<tr class="alert-{html.escape(entry["state"])}">'
                    + "".join(f"<td>{html.escape(scrub(str(c), secrets))}</td>" for c in cells) + "</tr>")
    names = ("State", "Reason", "Route", "Alert", "Severity", "Finding") + (("Target",) if fleet_run else ())
    head = "".join(f"<th>{name}</th>" for name in names)
    return (f'{TABLES}<h3 style="margin:8px 0 2px">Alerts</h3><table id="digitalme-alerts" '
            f'style="border-collapse:collapse">'
            f"<tr>{head}</tr>{''.join(rows)}</table>")


WAIVER_NOTES = {
    "applied": "WAIVED: this failure is an accepted finding, not alerted",
    "expired": "Waiver expired: it no longer applies; the check is judged and alerted as usual",
    "not needed": "Waiver no longer needed: the check passed",
}


def waiver_note(waiver, secrets):
    """A check's waiver under its row (waived, expired or not needed): state, reason, owner, expiry."""
    if not waiver:
        return []
    text = (f"{WAIVER_NOTES.get(waiver['state'], waiver['state'])}. Reason: {waiver['reason']} - owner "
            f"{waiver['owner']}, expires {waiver['expires']} (waiver for {waiver['check']}"
            + (f" on {waiver['target']}" if waiver.get("target") else "") + ")")
    return [extras.html(f'<p class="waiver waiver-{html.escape(waiver["state"].replace(" ", "-"))}">'
                        f"{html.escape(scrub(text, secrets))}</p>")]


def waivers_section(listed, secrets):
    """Every active waiver of the waivers file (check, target, reason, owner, expiry, its state this run); the
    expired ones below, to be renewed or removed."""
    def row(w):
        cells = (w["number"], w["check"], w.get("target") or "(any)", w["reason"], w["owner"], w["expires"],
                 w["state"] + (f": {', '.join(w['checks'])}" if w["state"] == "applied" else ""))
        return (f'<tr class="waiver-{html.escape(w["state"].replace(" ", "-"))}">'
                + "".join(f"<td>{html.escape(scrub(str(c), secrets))}</td>" for c in cells) + "</tr>")
    active = [w for w in listed if w["state"] != "expired"]
    expired = [w for w in listed if w["state"] == "expired"]
    head = "".join(f"<th>{name}</th>" for name in ("#", "Check", "Target", "Reason", "Owner", "Expires",
                                                   "This run"))
    table = (f'<table id="digitalme-waivers" style="border-collapse:collapse"><tr>{head}</tr>'
             f"{''.join(map(row, active))}</table>" if active else "<p>None.</p>")
    lapsed = (f'<div id="digitalme-expired-waivers">Expired (no longer applied: renew or remove):<table>'
              f"{''.join(map(row, expired))}</table></div>" if expired else "")
    return (f'{TABLES}<div id="digitalme-active-waivers"><h3 style="margin:8px 0 2px">Active waivers</h3>{table}'
            f"{lapsed}</div>")


def publish(config):
    """Scrub the written report (``latest.html`` is then made a copy of it under the history's lock, with its
    SHA-256 kept for the chain: plugins/outputs/history.py's ``keep_record``)."""
    if RECORD not in config.stash or REPORT_ERROR in config.stash:
        return
    path = config.stash[RECORD]
    if not os.path.exists(path):
        return  # pytest-html wrote nothing (the session broke before it finished)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cleaned = scrub(text, secret_forms(config.stash[SETTINGS].secrets()))
    scrubbed = cleaned != text
    cleaned = summary_first(cleaned)
    try:
        if cleaned != text:
            write_atomically(path, cleaned)
    except OSError as e:
        if scrubbed:
            with contextlib.suppress(OSError):
                os.unlink(path)  # never leave an unscrubbed record behind
        report_failed(config, e)


def summary_first(page):
    """The record with pytest-html's environment table after the results table: the status, the failing checks
    and the alerts come first, the run's context (target, host, settings) last. The table is still filled (by
    its id) and folds as before."""
    found = ENVIRONMENT.search(page)
    if found is None or "\n  <footer>" not in page:
        return page  # another pytest-html layout: left as it is
    page = page[:found.start()] + page[found.end():]
    return page.replace("\n  <footer>", found.group(0) + "\n  <footer>", 1)


def sentence(text):
    """A skip reason as a sentence: ``HTTPS not applicable: DIGITALME_HTTPS_URL is empty.``"""
    text = text.strip()
    if not text:
        return "Skipped."
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


def withdraw(config):
    """A run stopped by bad input at collection checked nothing: no record of it (pytest-html writes one as the
    session starts and ends; an empty dated record beside no results file would stand in the audit folder)."""
    if RECORD in config.stash:
        with contextlib.suppress(OSError):
            os.unlink(config.stash[RECORD])


def failed_writing(config, error):
    """pytest-html could not write the record (a folder filled during the run): noted for the run's one-line
    error; an OSError of a run without a record is not ours, and is raised again."""
    if RECORD not in config.stash:
        raise error
    report_failed(config, error)


class Rows:
    """The record's cells and evidence of each check, from the outcome its last report carries; registered where
    the record is written, as pytest-html's hooks give the report but not the run."""

    def __init__(self, config):
        self.config, self.outcomes = config, {}
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
        row = row_of(outcome)
        colour = COLOURS.get(row["severity"], "inherit")
        cells[2:2] = [f'<td class="col-severity" style="color:{colour};font-weight:bold">{row["severity"]}</td>',
                      f'<td class="col-manual">{html.escape(row["manual"])}</td>',
                      f'<td class="col-measured">{html.escape(row["value"])}</td>',
                      f'<td class="col-threshold">{html.escape(row["threshold"])}</td>']
        if self.fleet:
            cells.insert(1, self.target_cell(report, outcome))

    def target_cell(self, report, outcome):
        """The row's target, led by a hidden sort key (pytest-html sorts a column by its cell's markup): the
        target's place in the targets file, then the result (failures first), then the collection order."""
        name = (outcome or {}).get("target") or ""
        order = self.config.stash.get(ORDER, {})
        key = (f"{self.target_order.get(name, -1) + 1:04d}."
               f"{RESULT_RANK.get((outcome or {}).get('outcome'), 0)}."
               f"{order.get(report.nodeid, len(order)):06d}")
        return f'<td class="col-target"><span hidden>{key}</span>{html.escape(name)}</td>'


def counted_as_error(config):
    """pytest-html's counts (the filter boxes) with one check moved from failed to errors: the row it is about to
    count as failed (pytest-html says error only of a setup or teardown failure). No public API reaches its counts
    (plugins/adapters.py); a version where the adapter finds none leaves the counts as pytest-html made them."""
    counts = adapters.html_report_counts(config)
    if counts is not None and "failed" in counts and "error" in counts:
        counts["failed"]["value"] -= 1  # pytest-html adds this row to "failed" right after this hook
        counts["error"]["value"] += 1


# --- hooks ----------------------------------------------------------------------------------------

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
    config = session.config
    if RECORD in config.stash and metadata_key in config.stash:
        secrets = config.stash[SETTINGS].secrets()
        own = environment_of(config.stash[SETTINGS], config.stash[RUN], os.environ,
                             targets_of(config) if fleet(config) else None)
        metadata = config.stash[metadata_key]
        cleaned = {**without_secrets(metadata, secrets), **escaped(own)}
        metadata.clear()
        metadata.update(cleaned)


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


