"""The history: ``<report dir>/index.html``, rebuilt after every run from the results files, and retention.

One row per run, newest first (time, selection, status, counts, links to its report and results), and trend
charts as inline SVG (no script, no network) over the last 30 days of the values in :data:`TRENDS`. A results
file that cannot be read is left out with a visible note, never failing the run. The page is written atomically,
so a run killed while writing it leaves the previous one intact.

Retention: run files (``<UTC stamp>-<selection>.json`` / ``.html``) older than ``report_retention_days``, by the
stamp in their name (their mtime if the stamp is no date), are removed; today's never are. Other files in the
report directory (``latest.*``, ``index.html``, alert state) are left alone.

Summaries of the results files are cached in ``.history-cache.json`` (by size and mtime), so a year of
5-minute monitor runs is not re-read after every run.

A report folder that cannot be written (plugins/results.py) is left alone: no index that run, no traceback.
Written by plugins/pipeline.py after the record (:func:`write_history`), from the results files alone.
"""

import dataclasses
import datetime as dt
import html
import json
import math
import os
import re

from plugins.output import COLOURS, write_atomically
from plugins.results import REPORT_ERROR, report_failed
from plugins.settings import SETTINGS


@dataclasses.dataclass(frozen=True)
class Trend:
    title: str
    check: str  # the check's function name; with its [param] where the check is parametrized
    unit: str  # s | % | bytes | "" (a count)
    pick: object  # the check's recorded value -> the number to plot


TRENDS = (
    Trend("/health response time", "test_endpoint_answers_within_time[/health]", "s", lambda v: v["total_s"]),
    Trend("Disk use (fullest filesystem)", "test_filesystems_below_disk_threshold", "%", lambda v: max(v.values())),
    Trend("Host memory", "test_host_memory_below_threshold", "%", lambda v: v),
    Trend("Container memory", "test_container_memory_below_limit", "bytes", lambda v: v),
    Trend("Database size", "test_database_size_below_limit", "bytes", lambda v: v),
    Trend("Recent backups", "test_enough_recent_backups", "", lambda v: v),
)
BY_CHECK = {trend.check: trend for trend in TRENDS}
RUN_FILE = re.compile(r"^(\d{8}T\d{6}Z)-.+\.(json|html)$")
INDEX, CACHE = "index.html", ".history-cache.json"
TREND_DAYS = 30
LINE_GAP = dt.timedelta(hours=36)  # points further apart are not joined: a missed day shows as a gap


# --- the data: one summary per results file --------------------------------------------------------

def trend_of(check_id):
    name = check_id.split("::")[-1]
    return BY_CHECK.get(name) or BY_CHECK.get(name.split("[")[0])


def number(value):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def summarize(name, document):
    """What the index needs of one results file; raises KeyError/TypeError/ValueError on a malformed one."""
    started = dt.datetime.fromisoformat(document["started_at"])
    started = started.astimezone(dt.timezone.utc) if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
    if document["status"] not in COLOURS:
        raise ValueError(f"unknown status {document['status']!r}")
    values = {}
    for check in document["checks"]:
        trend = trend_of(check["id"])
        if trend is not None:
            try:
                value = number(trend.pick(check.get("value")))
            except (TypeError, KeyError, ValueError, AttributeError):
                value = None
            if value is not None:
                values[trend.title] = [value, number(check.get("threshold"))]
    return {"file": name, "started_at": started.isoformat(), "selection": str(document["selection"]),
            "status": document["status"], "counts": {k: int(v) for k, v in document["counts"].items()},
            "html": name[:-len(".json")] + ".html", "values": values}


def load(folder):
    """(summaries newest first, notes on skipped files, the new cache), reading only files not yet cached."""
    try:
        with open(os.path.join(folder, CACHE), encoding="utf-8") as f:
            cache = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        cache = {}
    fresh, summaries, notes = {}, [], []
    for name in sorted(os.listdir(folder)):
        if not (RUN_FILE.match(name) and name.endswith(".json")):
            continue
        try:
            stat = os.stat(os.path.join(folder, name))
            key = [stat.st_mtime_ns, stat.st_size]
            if cache.get(name, {}).get("key") == key:
                summary = cache[name]["summary"]
            else:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    summary = summarize(name, json.load(f))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            notes.append(f"{name}: skipped, not a readable results file ({type(e).__name__}: {e})")
            continue
        fresh[name] = {"key": key, "summary": summary}
        summaries.append(summary)
    summaries.sort(key=lambda s: (s["started_at"], s["file"]), reverse=True)
    return summaries, notes, fresh


def series(summaries, trend, since):
    """[(time, value, threshold)] of one trend since ``since``, oldest first."""
    points = []
    for summary in reversed(summaries):
        when = dt.datetime.fromisoformat(summary["started_at"])
        if when >= since and trend.title in summary["values"]:
            points.append((when, *summary["values"][trend.title]))
    return points


# --- retention ---------------------------------------------------------------------------------------

def time_of(path):
    """When a run file was made: the UTC stamp in its name, or (a stamp that is no date) its mtime."""
    try:
        stamp = RUN_FILE.match(os.path.basename(path)).group(1)
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return dt.datetime.fromtimestamp(os.path.getmtime(path), dt.timezone.utc)


def expired(folder, days, now):
    """Run files older than ``days`` (never today's), and temporary files a killed run left behind a day ago."""
    cutoff, yesterday = now - dt.timedelta(days=days), now - dt.timedelta(days=1)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            if RUN_FILE.match(name):
                when = time_of(path)
                if when < cutoff and when.date() < now.date():
                    yield path
            elif name.startswith(".tmp-") and os.path.getmtime(path) < yesterday.timestamp():
                yield path
        except OSError:
            continue  # removed meanwhile by a concurrent run


# --- rendering ---------------------------------------------------------------------------------------

def shown(value, unit):
    if value is None:
        return "-"
    if unit == "bytes":
        for size, suffix in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
            if abs(value) >= size:
                return f"{value / size:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:.1f}".rstrip("0").rstrip(".")


def chart(trend, points, since, now):
    """One trend as an inline SVG line chart: points joined unless a gap, the threshold dashed."""
    width, height, left, right, top, bottom = 520, 170, 70, 12, 10, 22
    threshold = next((p[2] for p in reversed(points) if p[2] is not None), None)
    high = max([p[1] for p in points] + [threshold or 0]) * 1.1 or 1
    span = (now - since).total_seconds() or 1

    def x(when):
        return left + (when - since).total_seconds() / span * (width - left - right)

    def y(value):
        return height - bottom - value / high * (height - top - bottom)

    parts = [f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0):.1f}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{shown(high, trend.unit)}</text>',
             f'<text x="{left - 4}" y="{y(0):.1f}" text-anchor="end">0</text>',
             f'<text x="{left}" y="{height - 6}">{since:%Y-%m-%d}</text>',
             f'<text x="{width - right}" y="{height - 6}" text-anchor="end">{now:%Y-%m-%d}</text>']
    if threshold is not None:
        parts.append(f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
                     f'stroke="#cf222e" stroke-dasharray="6 4"/><text x="{width - right}" y="{y(threshold) - 3:.1f}" '
                     f'text-anchor="end" fill="#cf222e">threshold {shown(threshold, trend.unit)}</text>')
    parts += plotted(points, trend.unit, x, y)
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no values in the last '
                     f"{TREND_DAYS} days</text>")
    latest = (f"latest {shown(points[-1][1], trend.unit)}" if points else "no data") + (
        f", threshold {shown(threshold, trend.unit)}" if threshold is not None else "")
    return (f'<figure class="trend"><figcaption><b>{html.escape(trend.title)}</b> <small>{latest}</small>'
            f'</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-size="11" font-family="sans-serif" role="img" aria-label="{html.escape(trend.title)}">'
            + "".join(parts) + "</svg></figure>")


def plotted(points, unit, x, y):
    """The points as circles, joined by lines unless further apart than :data:`LINE_GAP` (a missed day)."""
    parts, line = [], []
    for i, (when, value, _) in enumerate(points):
        if line and when - points[i - 1][0] > LINE_GAP:
            parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{" ".join(line)}"/>')
            line = []
        line.append(f"{x(when):.1f},{y(value):.1f}")
        parts.append(f'<circle cx="{x(when):.1f}" cy="{y(value):.1f}" r="2.5" fill="#0969da">'
                     f"<title>{when:%Y-%m-%d %H:%M} UTC: {shown(value, unit)}</title></circle>")
    if line:
        parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{" ".join(line)}"/>')
    return parts


def badge(status):
    return f'<b class="status" style="background:{COLOURS[status]}">{status.upper()}</b>'


def row(summary, present):
    counts = summary["counts"]
    report = summary["html"]
    link = f'<a href="{html.escape(report)}">report</a>' if report in present else "<i>no report</i>"
    return (f"<tr><td>{summary['started_at'][:19].replace('T', ' ')}</td><td>{html.escape(summary['selection'])}"
            f"</td><td>{badge(summary['status'])}</td><td>{counts.get('passed', 0)} passed, "
            f"{counts.get('failed', 0)} failed, {counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped"
            f'</td><td>{link} <a href="{html.escape(summary["file"])}">results</a></td></tr>')


STYLE = """body{font-family:sans-serif;margin:16px 24px;color:#1f2328}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}
.status{color:#fff;padding:1px 8px;border-radius:4px}.note{background:#fff8c5;border:1px solid #d4a72c;padding:6px}
.charts{display:flex;flex-wrap:wrap;gap:8px 24px}figure{margin:0}"""


def render(summaries, notes, present, now):
    """The whole index page."""
    since = now - dt.timedelta(days=TREND_DAYS)
    charts = "".join(chart(t, series(summaries, t, since), since, now) for t in TRENDS)
    latest = (f"Latest run: {badge(summaries[0]['status'])} {html.escape(summaries[0]['selection'])} at "
              f"{summaries[0]['started_at'][:19].replace('T', ' ')} UTC") if summaries else "No runs yet."
    noted = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>DigitalMe health record - history</title>'
            f"<style>{STYLE}</style></head><body><h1>DigitalMe health record - history</h1>"
            f"<p>{latest}</p><p>{len(summaries)} run{'' if len(summaries) == 1 else 's'}, newest first. "
            f"Rebuilt {now:%Y-%m-%d %H:%M:%S} UTC from the results files in this folder.</p>"
            + (f'<div class="note" id="skipped-files"><b>Not shown:</b><ul>{noted}</ul></div>' if notes else "")
            + f'<h2>Trends, last {TREND_DAYS} days</h2><div class="charts">{charts}</div>'
            f'<h2>Runs</h2><table id="runs"><tr><th>Started (UTC)</th><th>Selection</th><th>Status</th>'
            f"<th>Checks</th><th>Files</th></tr>" + "".join(row(s, present) for s in summaries)
            + "</table></body></html>\n")


def update(folder, retention_days, now=None):
    """Apply retention, then rebuild ``index.html`` (and the cache) atomically."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not os.path.isdir(folder):
        return
    for path in list(expired(folder, retention_days, now)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # a concurrent run removed it first
    summaries, notes, cache = load(folder)
    write_atomically(os.path.join(folder, INDEX), render(summaries, notes, set(os.listdir(folder)), now))
    write_atomically(os.path.join(folder, CACHE), json.dumps({"files": cache}))


def write_history(config):
    """Retention, then the index, unless the report folder cannot be written; a folder that fails now (full) is
    noted for the run's one-line error, never raised."""
    if REPORT_ERROR in config.stash:
        return
    settings = config.stash[SETTINGS]
    try:
        update(settings.report_dir, settings.report_retention_days)
    except OSError as e:
        report_failed(config, e)
