"""``history-<YYYY-MM>.html``: every run of a month, by day, current after every run.

Made whole once a day (the first run of a UTC day re-reads that month's lines only, :func:`write_month_page`) and
after retention changed a month, and between those brought up to date by each run from the newest day's lines alone
(:func:`refresh_month_page`), the earlier days' parts kept in ``.history-<YYYY-MM>-days.json`` (so a run's cost is
its day's runs, not the month's: a month page made whole at a month's end of 5-minute runs takes 0.2-0.4 s).
"""

import contextlib
import datetime as dt
import html
import json
import os
import statistics

from plugins.files import write_atomically
from plugins.outcomes.reachability import NOT_CHECKED
from plugins.outputs.history.charts import shown
from plugins.outputs.history.index import STYLE, links
from plugins.outputs.history.store import INDEX, PREFIX, STATE_VERSION, days_cache, month_lines, month_page, \
    parsed_line, read_positioned
from plugins.outputs.results import COLOURS

MONTH_STYLE = ".s{color:#fff;padding:0 6px;border-radius:3px}.ok{background:#1a7f37}.warning{background:#9a6700}" \
              ".critical{background:#cf222e}.c td{font-weight:bold}"


def write_month_page(store, month, state):
    """``history-<month>.html``: every run of the month, by day (each day folded), and each day's trend values
    (min/median/max), from all of the month's lines; the days before the newest kept in
    ``.history-<month>-days.json`` for :func:`refresh_month_page`."""
    lines = read_positioned(month_lines(store, month))
    summaries = [s for _, s in lines if s is not None]
    fleet = any(s.get("targets") for s in summaries)
    days = {day: day_parts(day, runs, fleet) for day, runs in by_day(summaries).items()}
    cut = newest_day_offset(lines)
    if cut is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(days_cache(store, month))  # each run makes the page whole until a day ends cleanly
    else:
        newest = max(days)
        write_atomically(days_cache(store, month), json.dumps(
            {"version": STATE_VERSION, "offset": cut, "fleet": fleet,
             "runs": sum(s["started_at"][:10] != newest for s in summaries),
             "days": {day: parts for day, parts in days.items() if day != newest}}, separators=(",", ":")))
    notes = [f"{os.path.basename(month_lines(store, month))} line {n}: not a readable run summary"
             for n, (_, s) in enumerate(lines, 1) if s is None]
    write_atomically(month_page(store, month), month_html(month, len(summaries), days, notes))
    state["pages"][month] = state["months"].get(month, {}).get("runs", len(summaries))


def refresh_month_page(store, month, state):
    """The month page made current after a run, at the cost of the newest day's lines, not the month's: the
    earlier days' parts from ``.history-<month>-days.json``, the newest day's from the lines after its offset.
    What the cache cannot vouch for (none, another version, a late run of an earlier day, an unreadable line,
    the month's first fleet run) is made whole, as :func:`write_month_page` does once a day."""
    cache = read_days_cache(store, month)
    runs = None
    if cache is not None:
        try:
            with open(month_lines(store, month), "rb") as f:
                f.seek(cache["offset"])
                runs = [parsed_line(line) for line in f.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            runs = None
    if runs is None or any(s["started_at"][:10] in cache["days"] for s in runs) or \
            (not cache["fleet"] and any(s.get("targets") for s in runs)):
        write_month_page(store, month, state)
        return
    days = {**cache["days"], **{day: day_parts(day, each, cache["fleet"]) for day, each in by_day(runs).items()}}
    write_atomically(month_page(store, month), month_html(month, cache["runs"] + len(runs), days, []))
    state["pages"][month] = state["months"].get(month, {}).get("runs", cache["runs"] + len(runs))


def newest_day_offset(lines):
    """The offset from which every line of the month is of its newest day, when every line before it is readable
    and of an earlier day; else None (no lines, an unreadable one, a late run of an earlier day written after)."""
    if not lines or any(s is None for _, s in lines):
        return None
    newest = max(s["started_at"][:10] for _, s in lines)
    cut = len(lines)
    while cut > 0 and lines[cut - 1][1]["started_at"][:10] == newest:
        cut -= 1
    if any(s["started_at"][:10] == newest for _, s in lines[:cut]):
        return None
    return lines[cut][0]


def by_day(summaries):
    """{day: its runs, by start} in the order of the days."""
    days = {}
    for summary in sorted(summaries, key=lambda s: (s["started_at"], s.get("file") or "")):
        days.setdefault(summary["started_at"][:10], []).append(summary)
    return days


def day_parts(day, runs, fleet):
    """One day of a month page: its overview row (runs by status, trend min / median / max) and its section."""
    values, meta = {}, {}
    for summary in runs:
        meta.update(summary.get("trends") or {})
        for key, found in (("", summary.get("values") or {}), *(summary.get("target_values") or {}).items()):
            for name, (value, _) in found.items():
                if value is not None:  # a gap: nothing measured
                    values.setdefault((name, key), []).append(value)
    shown_trends = "; ".join(
        f"{html.escape(meta[name][0])}{' (' + html.escape(key) + ')' if key else ''} {shown(min(v), meta[name][1])}"
        f" / {shown(statistics.median(v), meta[name][1])} / {shown(max(v), meta[name][1])}"
        for (name, key), v in sorted(values.items(), key=lambda e: (meta.get(e[0][0], [e[0][0]])[0], e[0][1]))
        if name in meta)
    overview = (f'<tr><td><a href="#d{day}">{day}</a></td><td>{len(runs)}</td>'
                + "".join(f"<td>{sum(s['status'] == status for s in runs)}</td>" for status in COLOURS)
                + f"<td><small>{shown_trends}</small></td></tr>")
    rows = "".join(month_row(s, fleet) for s in runs)
    bad = sum(s["status"] != "ok" for s in runs)
    # closed until opened: a month of 5-minute runs is 9,000 rows, which a browser then need not lay out
    return [overview, f'<details id="d{day}"><summary><b>{day}</b>: {len(runs)} runs, {bad} not OK</summary>'
                      f"<table>{rows}</table></details>"]


def month_html(month, count, days, notes):
    """A month page from its days' parts ({day: [overview row, section]})."""
    ordered = [days[day] for day in sorted(days)]
    noted = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>DigitalMe health record - {month}</title>'
            f"<style>{STYLE}{MONTH_STYLE}</style></head><body><h1>DigitalMe health record - {month}</h1>"
            f'<p><a href="{INDEX}">history</a> - {count} runs, every one (full record or summary line);'
            f' the same as <a href="{PREFIX}{month}.jsonl">{PREFIX}{month}.jsonl</a>. Written '
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.</p>"
            + (f'<div class="note"><ul>{noted}</ul></div>' if noted else "")
            + '<table id="days"><tr><th>Day</th><th>Runs</th>' + "".join(f"<th>{s.upper()}</th>" for s in COLOURS)
            + "<th>Trends: min / median / max</th></tr>" + "".join(o for o, _ in ordered) + "</table>"
            + "".join(section for _, section in ordered) + "</body></html>\n")


def read_days_cache(store, month):
    """The month page's earlier days as :func:`write_month_page` left them, or None (none, or unreadable)."""
    try:
        with open(days_cache(store, month), encoding="utf-8") as f:
            cache = json.load(f)
        ok = cache.get("version") == STATE_VERSION and isinstance(cache.get("offset"), int) and \
            isinstance(cache.get("days"), dict) and isinstance(cache.get("runs"), int)
        return cache if ok else None
    except (OSError, ValueError, AttributeError):
        return None


def month_row(summary, fleet):
    """A compact row of a month page: time, selection, status (a change of status in bold), targets, counts."""
    counts = summary["counts"]
    targets = summary.get("targets") or {}
    return (f'<tr{" class=c" if summary.get("changed") else ""}><td>{summary["started_at"][11:19]}</td>'
            f'<td>{html.escape(summary["selection"])}</td><td><b class="s {summary["status"]}">'
            f'{summary["status"].upper()}</b></td>'
            + (f"<td>{html.escape(', '.join(f'{n} {s.upper()}' for n, s in targets.items()))}</td>" if fleet else "")
            + f"<td>{counts.get('passed', 0)}/{counts.get('failed', 0)}/{counts.get('error', 0)}/"
            f"{counts.get('skipped', 0)}" + (f" ({counts['waived']} waived)" if counts.get("waived") else "")
            + (f" ({counts[NOT_CHECKED]} not checked)" if counts.get(NOT_CHECKED) else "")
            + f"</td><td>{links(summary)}{sha_of(summary)}</td></tr>")


def sha_of(summary):
    """A kept results file's SHA-256 on its month page row: the start of it, the whole on hover."""
    sha = summary.get("sha256") if summary.get("kept") == "full" and summary.get("file") else None
    return f' <code title="SHA-256 of the results file: {html.escape(sha)}">{html.escape(sha[:12])}</code>' \
        if isinstance(sha, str) else ""
