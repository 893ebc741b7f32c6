"""The top of the record, as HTML: the status in colour, counts by severity, in a fleet run each target's status,
the failing checks (new findings first, critical first within each, each saying since when it fails), the run's
alerts, the results file's name and SHA-256; with a waivers file, every waiver and its state this run. Every text
that came from a check or an alert is scrubbed of the run's secrets (plugins/secrets.py) and escaped.
"""

import html

from plugins.configuration.markers import SEVERITIES
from plugins.outcomes.run import FAILING, counted
from plugins.outputs.record.cells import since_of
from plugins.outputs.results import COLOURS
from plugins.secrets import scrub

OUTCOMES = ("passed", "failed", "error", "skipped", "waived", "not checked")
NEW_BADGE = ('<b class="new-finding" style="color:#fff;background:#8250df;padding:0 6px;border-radius:4px">'
             'NEW</b>')
# The summary's own tables (counts, alerts, waivers): cells apart and aligned, so each reads as a column (pytest-html
# styles only its own tables)
TABLES = ("<style>#digitalme-alerts td,#digitalme-alerts th,#digitalme-waivers td,#digitalme-waivers th,"
          "#digitalme-expired-waivers td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;"
          "vertical-align:top}#digitalme-alerts th,#digitalme-waivers th{border-bottom:2px solid #888}</style>")


def summary_of(run, secrets, results_file=None, results_sha256=None):
    """The top of the record: the status in colour, counts by severity, failing checks (new findings first, then
    the others; critical first within each, each saying since when it fails); in a fleet run also each target's
    status, counts and failing checks, and each failing check's target; the results file's name and SHA-256."""
    colour = COLOURS[run.status]
    failing = sorted((c for c in run.checks if c.outcome in FAILING), key=finding_rank)
    new = sum(c.new_finding is True for c in failing)
    targets = run.targets
    items = "".join(failing_item(c, bool(targets), secrets) for c in failing)
    return [
        f'<div id="digitalme-status" style="border-left:8px solid {colour};padding:4px 12px;margin:8px 0">'
        + status_of(run, failing, colour)
        + counts_table(run)
        + (targets_of_run(run, targets, secrets) if targets else "")
        + (f'<h3 style="margin:8px 0 2px">Failing checks{f" ({new} new)" if new else ""}</h3>'
           f'<ol id="digitalme-failing">{items}</ol>' if items else "")
        + alerts_of(run.alerts, secrets)
        + (f'<p id="digitalme-results-file" style="margin:8px 0 2px">Results file: <code>{html.escape(results_file)}'
           f'</code> SHA-256 <code>{html.escape(results_sha256)}</code></p>' if results_file and results_sha256 else "")
        + "</div>"]


def status_of(run, failing, colour):
    """The status line: ``Status: CRITICAL 2 failed of 28 checks`` in pytest's words and counts
    (plugins/outcomes/run.py), ``on 3 targets`` in a fleet run."""
    return (f'<p style="font-size:20px;margin:4px 0">Status: <b style="color:#fff;background:{colour};'
            f'padding:2px 10px;border-radius:4px">{run.status.upper()}</b> '
            + (f"{counted({o: run.counts[o] for o in FAILING})} of {len(run.checks)} checks" if failing
               else f"0 of {len(run.checks)} checks failed")
            + (f" on {len(run.targets)} targets" if run.targets else "") + "</p>")


def counts_table(run):
    """How many checks of each severity had each outcome."""
    counts = "".join(
        f"<tr><th>{severity}</th>" + "".join(
            f"<td>{sum(c.severity == severity and c.outcome == o for c in run.checks)}</td>" for o in OUTCOMES)
        + "</tr>" for severity in SEVERITIES)
    return (f'<table id="digitalme-counts" style="border-collapse:collapse;text-align:right">'
            f"<tr><th></th>{''.join(f'<th>&nbsp;{o}&nbsp;</th>' for o in OUTCOMES)}</tr>{counts}</table>")


def failing_item(check, fleet_run, secrets):
    """A failing check in the list on top: what was found first, then the check it failed, since when."""
    return (f'<li class="{"finding-new" if check.new_finding is True else "finding"}">'
            + (NEW_BADGE + " " if check.new_finding is True else "")
            + f'<b style="color:{COLOURS.get(check.severity, "#000")}">{check.severity.upper()}</b> '
            + (f'<span class="target">[{html.escape(check.target)}]</span> ' if fleet_run else "")
            + f"{html.escape(scrub(check.message, secrets))} "
            f"<small>(check: {html.escape(check.title)}; {html.escape(check.id)}"
            f"{'; manual: ' + html.escape(check.manual) if check.manual else ''})</small>"
            + (f' <small class="since">{html.escape(since)}</small>' if (since := since_of(vars(check))) else "")
            + "</li>")


def severity_rank(check):
    return SEVERITIES.index(check.severity) if check.severity in SEVERITIES else len(SEVERITIES)


def finding_rank(check):
    """New findings first, then the others; the worst severity first within each (sorted() keeps the order of
    checks of the same rank: the collection's)."""
    return (check.new_finding is not True, severity_rank(check))


def targets_of_run(run, statuses, secrets):
    """One row per target of a fleet run, in the targets file's order: its status, counts, and its failing checks
    by severity (critical first)."""
    rows = [target_row(name, status, [c for c in run.checks if c.target == name], secrets)
            for name, status in statuses.items()]
    head = "".join(f'<th scope="col">{name}</th>' for name in ("Target", "Status", *OUTCOMES, "Failing checks"))
    return ("<style>#digitalme-targets td,#digitalme-targets th{padding:2px 10px;border-bottom:1px solid #ddd;"
            "vertical-align:top}</style>"
            f'<h3 style="margin:8px 0 2px">Targets</h3><table id="digitalme-targets" style="border-collapse:'
            f'collapse;text-align:left"><caption style="text-align:left">Each target\'s status: the worst severity '
            f"among its failed checks</caption><tr>{head}</tr>{''.join(rows)}</table>")


def target_row(name, status, checks, secrets):
    """A fleet target's row: its status, its checks' counts, its failing checks."""
    failing = sorted((c for c in checks if c.outcome in FAILING), key=severity_rank)
    listed = "".join(
        f'<li><b style="color:{COLOURS.get(c.severity, "#000")}">{c.severity.upper()}</b> '
        f'{html.escape(scrub(c.message, secrets))} '
        f'<small>(check: {html.escape(c.title)}; {html.escape(c.id.split("::")[-1])}, {c.outcome})</small></li>'
        for c in failing)
    return (f'<tr id="target-{html.escape(name)}" class="target-{status}"><th scope="row">{html.escape(name)}</th>'
            f'<td><b style="color:#fff;background:{COLOURS[status]};padding:1px 8px;border-radius:4px">'
            f"{status.upper()}</b></td>"
            + "".join(f'<td class="count-{o.replace(" ", "-")}">{sum(c.outcome == o for c in checks)}</td>'
                      for o in OUTCOMES)
            + (f'<td><ul style="margin:0;padding-left:16px">{listed}</ul></td>' if listed else "<td>none failed</td>")
            + "</tr>")


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
        cells = ((state, entry.get("reason", ""), entry.get("route") or "", payload.get("status", ""),
                  payload.get("severity", ""), payload.get("title", ""))
                 + ((entry.get("target") or "",) if fleet_run else ()))
        rows.append(f'<tr class="alert-{html.escape(entry["state"])}">'
                    + "".join(f"<td>{html.escape(scrub(str(c), secrets))}</td>" for c in cells) + "</tr>")
    names = ("State", "Reason", "Route", "Alert", "Severity", "Finding") + (("Target",) if fleet_run else ())
    head = "".join(f"<th>{name}</th>" for name in names)
    return (f'{TABLES}<h3 style="margin:8px 0 2px">Alerts</h3><table id="digitalme-alerts" '
            f'style="border-collapse:collapse">'
            f"<tr>{head}</tr>{''.join(rows)}</table>")


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
