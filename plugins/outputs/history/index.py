"""``<report dir>/index.html``, from the history's state alone (:func:`render`): its size follows the days shown
and the changes, not the runs. The latest run, each target's status over the last days, the trends, the recent
runs (the last 24 hours, at least the newest 50), every change of status, and the months (each a page:
plugins/outputs/history/months.py).
"""

import datetime as dt
import html

from plugins.outcomes.reachability import NOT_CHECKED
from plugins.outcomes.trends import Trend
from plugins.outputs.history.bookkeeping import CHANGES_KEPT, RAW_DAYS, RECENT_MIN, TREND_DAYS
from plugins.outputs.history.charts import chart, strip, trend_lines
from plugins.outputs.history.store import PREFIX
from plugins.outputs.results import COLOURS


STYLE = """body{font-family:sans-serif;margin:16px 24px;color:#1f2328}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}
.status{color:#fff;padding:1px 8px;border-radius:4px}.note{background:#fff8c5;border:1px solid #d4a72c;padding:6px}
.charts{display:flex;flex-wrap:wrap;gap:8px 24px}figure{margin:0}"""


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
            f'<h2>Recent runs</h2><p><small>The last 24 hours, and never fewer than the newest {RECENT_MIN} runs '
            f'however old (the months below hold every run).</small></p><table id="runs">{head}'
            + "".join(row(s, fleet) for s in recent)
            + f'</table><h2>Changes of status</h2><p><small>Each run whose status (or a target\'s) differs from the '
            f"previous run of its selection, newest first (the newest {CHANGES_KEPT}).</small></p>"
            f'<table id="changes">{head}' + "".join(row(s, fleet, '<tr class="change">') for s in changes)
            + '</table><h2>By month</h2><table id="months"><tr><th>Month</th><th>Runs</th><th>Full records</th>'
            + "".join(f"<th>{status.upper()}</th>" for status in COLOURS) + f"<th>Every run</th></tr>{months}"
            "</table></body></html>\n")
