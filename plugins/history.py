"""The history: ``<report dir>/index.html``, rebuilt after every run from the results files, and retention.

One row per run, newest first (time, selection, status, counts, links to its report and results), and trend
charts as inline SVG (no script, no network) over the last 30 days of the values in :data:`TRENDS`. A results
file that cannot be read is left out with a visible note, never failing the run. The page is written atomically,
so a run killed while writing it leaves the previous one intact.

Retention: run files (``<UTC stamp>-<selection>.json`` / ``.html``) older than ``report_retention_days``, by the
stamp in their name (their mtime if the stamp is no date), are removed; today's never are. Other files in the
report directory (``latest.*``, ``index.html``, alert state) are left alone.

Summaries of the results files are cached in ``.history-cache.json`` (by size and mtime), so a year of
5-minute monitor runs is not re-read after every run. The cache carries :data:`CACHE_VERSION`: a cache made by
an older version of this module (whose summaries lack what is shown now) is rebuilt once, then used again.

Fleet runs (a targets file: the results file has ``"targets": {name: status}`` and each check its ``"target"``)
add, per target: its status over the last 30 days (one row each, a strip of runs coloured by status), its
status in each run's row, and its own line in each trend chart (a legend names the lines). Results files
without targets are shown exactly as before, and a history of them alone looks as it always has.

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
    Trend("Memory in use, as the container sees it", "test_memory_available_in_container", "%",
          lambda v: v["used_pct"]),
    Trend("Container CPU use (sampled)", "test_load_in_container_below_threshold", "%", lambda v: v["busy_pct_now"]),
    Trend("Time to healthy after a change", "test_app_healthy_after_change", "s", lambda v: v["waited_s"]),
    Trend("Database size", "test_database_size_below_limit", "bytes", lambda v: v),
    Trend("Recent backups", "test_enough_recent_backups", "", lambda v: v),
)
BY_CHECK = {trend.check: trend for trend in TRENDS}
RUN_FILE = re.compile(r"^(\d{8}T\d{6}Z)-.+\.(json|html)$")
INDEX, CACHE = "index.html", ".history-cache.json"
CACHE_VERSION = 2  # 2: summaries carry "targets" and "target_values" (fleet runs)
LINE_COLOURS = ("#0969da", "#8250df", "#bf3989", "#1b7c83", "#953800", "#6e7781", "#0550ae", "#6639ba",
                "#99286e", "#116329")  # a trend's lines, one per target (never a status's red, amber or green)
TREND_DAYS = 30
MAX_POINTS_DRAWN = 400  # a fleet chart's line with more points (5-minute runs) is drawn as a line alone
LINE_GAP = dt.timedelta(hours=36)  # points further apart are not joined: a missed day shows as a gap


# --- the data: one summary per results file --------------------------------------------------------

def trend_of(check_id, target=None):
    """The trend a check feeds, if any; in a fleet run without the target in its parameters (``[prod-/health]``
    is ``[/health]`` of target prod)."""
    name = check_id.split("::")[-1]
    if target is not None and name.endswith("]") and "[" in name:
        function, params = name[:-1].split("[", 1)
        if params == target:
            params = ""
        elif params.startswith(target + "-"):
            params = params[len(target) + 1:]
        elif params.endswith("-" + target):
            params = params[:-len(target) - 1]
        name = f"{function}[{params}]" if params else function
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
    targets = document.get("targets")
    if targets is not None:
        targets = {str(target): status for target, status in targets.items()}
        if any(status not in COLOURS for status in targets.values()):
            raise ValueError(f"unknown status among the targets {targets!r}")
    values, target_values = {}, {}
    for check in document["checks"]:
        trend = trend_of(check["id"], check.get("target"))
        if trend is not None:
            try:
                value = number(trend.pick(check.get("value")))
            except (TypeError, KeyError, ValueError, AttributeError):
                value = None
            if value is not None:
                target = check.get("target")
                into = values if target is None else target_values.setdefault(str(target), {})
                into[trend.title] = [value, number(check.get("threshold"))]
    return {"file": name, "started_at": started.isoformat(), "selection": str(document["selection"]),
            "status": document["status"], "counts": {k: int(v) for k, v in document["counts"].items()},
            "html": name[:-len(".json")] + ".html", "values": values, "targets": targets,
            "target_values": target_values}


def load(folder):
    """(summaries newest first, notes on skipped files, the new cache), reading only files not yet cached."""
    try:
        with open(os.path.join(folder, CACHE), encoding="utf-8") as f:
            cached = json.load(f)
        cache = cached["files"] if cached.get("version") == CACHE_VERSION else {}  # older summaries: read again
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
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


def series(summaries, trend, since, target=None):
    """[(time, value, threshold)] of one trend since ``since``, oldest first: of runs without targets, or of one
    target's checks in fleet runs."""
    points = []
    for summary in reversed(summaries):
        when = dt.datetime.fromisoformat(summary["started_at"])
        values = summary["values"] if target is None else summary.get("target_values", {}).get(target, {})
        if when >= since and trend.title in values:
            points.append((when, *values[trend.title]))
    return points


def target_names(summaries, since):
    """The targets of the fleet runs since ``since``: the newest run's in its (the targets file's) order, then
    those only older runs had."""
    names = {}
    for summary in summaries:
        if dt.datetime.fromisoformat(summary["started_at"]) >= since:
            names.update(dict.fromkeys(summary.get("targets") or {}))
    return list(names)


def lines_of(summaries, trend, since, names):
    """{None or target: points} of one trend: the runs without targets, then each target; empty ones left out
    (the runs without targets always kept, so a history without a fleet draws as it always did)."""
    lines = {None: series(summaries, trend, since)}
    for name in names:
        points = series(summaries, trend, since, name)
        if points:
            lines[name] = points
    if len(lines) > 1 and not lines[None]:
        del lines[None]
    return lines


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


def chart(trend, lines, since, now):
    """One trend as an inline SVG line chart: points joined unless a gap, the threshold dashed. ``lines``:
    {None or a target's name: points}; with more than one line each has its colour and a legend names it."""
    width, height, left, right, top, bottom = 520, 170, 70, 12, 10, 22
    named = len(lines) > 1 or None not in lines
    colours = {key: LINE_COLOURS[n % len(LINE_COLOURS)] for n, key in enumerate(lines)}
    names = {key: "no target" if key is None else key for key in lines}  # None: the runs without a targets file
    thresholds = {key: next((p[2] for p in reversed(points) if p[2] is not None), None)
                  for key, points in lines.items()}
    distinct = sorted({t for t in thresholds.values() if t is not None})
    threshold = distinct[-1] if distinct else None
    every = [p for points in lines.values() for p in points]
    high = max([p[1] for p in every] + (distinct or [0])) * 1.1 or 1
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
    if len(distinct) == 1:
        parts.append(f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
                     f'stroke="#cf222e" stroke-dasharray="6 4"/><text x="{width - right}" y="{y(threshold) - 3:.1f}" '
                     f'text-anchor="end" fill="#cf222e">threshold {shown(threshold, trend.unit)}</text>')
    else:  # targets held to different thresholds: each its own, dashed in its line's colour
        for key, value in thresholds.items():
            if value is not None:
                parts.append(f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - right}" y2="{y(value):.1f}" '
                             f'stroke="{colours[key]}" stroke-dasharray="6 4"><title>threshold of '
                             f'{html.escape(names[key])}: {shown(value, trend.unit)}</title></line>')
    for key, points in lines.items():  # a fleet's many lines: points only where few enough (the page's size)
        parts += plotted(points, trend.unit, x, y, colours[key], f"{names[key]}: " if named else "",
                         circles=not named or len(points) <= MAX_POINTS_DRAWN)
    if not every:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no values in the last '
                     f"{TREND_DAYS} days</text>")
    if not named:
        points = lines.get(None, [])
        latest = (f"latest {shown(points[-1][1], trend.unit)}" if points else "no data") + (
            f", threshold {shown(threshold, trend.unit)}" if threshold is not None else "")
    else:
        latest = "latest " + ", ".join(
            f'<span style="color:{colours[key]}">&#9632;</span> {html.escape(names[key])} '
            + (shown(points[-1][1], trend.unit) if points else "-")
            + (f" (threshold {shown(thresholds[key], trend.unit)})" if thresholds[key] is not None else "")
            for key, points in lines.items())
    return (f'<figure class="trend"><figcaption><b>{html.escape(trend.title)}</b> <small>{latest}</small>'
            f'</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-size="11" font-family="sans-serif" role="img" aria-label="{html.escape(trend.title)}">'
            + "".join(parts) + "</svg></figure>")


def plotted(points, unit, x, y, colour="#0969da", label="", circles=True):
    """The points as circles (each with its value; or, ``circles`` false, only the lines, named by ``label``),
    joined by lines unless further apart than :data:`LINE_GAP` (a missed day)."""
    parts, line = [], []
    label = html.escape(label)
    named = "" if circles else f"<title>{label.rstrip(': ')}</title>"
    for i, (when, value, _) in enumerate(points):
        if line and when - points[i - 1][0] > LINE_GAP:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(line)}"'
                         + (f">{named}</polyline>" if named else "/>"))
            line = []
        line.append(f"{x(when):.1f},{y(value):.1f}")
        if circles:
            parts.append(f'<circle cx="{x(when):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}">'
                         f"<title>{label}{when:%Y-%m-%d %H:%M} UTC: {shown(value, unit)}</title></circle>")
    if line:
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(line)}"'
                     + (f">{named}</polyline>" if named else "/>"))
    return parts


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


def row(summary, present, fleet=False):
    counts = summary["counts"]
    report = summary["html"]
    link = f'<a href="{html.escape(report)}">report</a>' if report in present else "<i>no report</i>"
    return (f"<tr><td>{summary['started_at'][:19].replace('T', ' ')}</td><td>{html.escape(summary['selection'])}"
            f"</td><td>{badge(summary['status'])}</td>"
            + (f'<td class="targets">{target_badges(summary.get("targets"))}</td>' if fleet else "")
            + f"<td>{counts.get('passed', 0)} passed, "
            f"{counts.get('failed', 0)} failed, {counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped"
            f'</td><td>{link} <a href="{html.escape(summary["file"])}">results</a></td></tr>')


def statuses(summaries, name, since):
    """[(time, status)] of one target since ``since``, oldest first."""
    found = []
    for summary in reversed(summaries):
        when = dt.datetime.fromisoformat(summary["started_at"])
        if when >= since and name in (summary.get("targets") or {}):
            found.append((when, summary["targets"][name]))
    return found


def strip(name, points, since, now):
    """One target's status over the window as an SVG strip: one bar per stretch of runs with the same status
    (runs further apart than :data:`LINE_GAP` start a new one), so its size follows the changes, not the runs."""
    width, height, pad = 520, 20, 2
    span = (now - since).total_seconds() or 1

    def x(when):
        return pad + (when - since).total_seconds() / span * (width - 2 * pad)

    stretches = []  # [status, first, last, runs]
    for i, (when, status) in enumerate(points):
        if stretches and stretches[-1][0] == status and when - points[i - 1][0] <= LINE_GAP:
            stretches[-1][2:] = [when, stretches[-1][3] + 1]
        else:
            stretches.append([status, when, when, 1])
    bars = "".join(
        f'<rect x="{min(x(first), width - pad - 3):.1f}" y="2" width="{max(x(last) - x(first), 3):.1f}" '
        f'height="{height - 4}" '
        f'fill="{COLOURS[status]}"><title>{html.escape(name)}: {status.upper()}, {first:%Y-%m-%d %H:%M}'
        + (f" to {last:%Y-%m-%d %H:%M}" if last != first else "") + f" UTC ({runs} run{'' if runs == 1 else 's'})"
        f"</title></rect>" for status, first, last, runs in stretches)
    label = f"{name}: " + (", ".join(f"{sum(s == status for _, s in points)} {status}" for status in COLOURS)
                           + f" of {len(points)} runs" if points else "no runs")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(label)}"><rect x="0" y="0" width="{width}" height="{height}" fill="#f6f8fa"/>'
            f"{bars}</svg>")


def targets_section(summaries, names, since, now):
    """Each target's status over the last days: its latest status, a strip of its runs and how many were not OK."""
    rows = []
    for name in names:
        points = statuses(summaries, name, since)
        when, status = points[-1]
        counts = ", ".join(f"{sum(s == each for _, s in points)} {each}" for each in COLOURS)
        rows.append(f'<tr id="target-{html.escape(name)}"><th scope="row">{html.escape(name)}</th>'
                    f"<td>{badge(status)} <small>{when:%Y-%m-%d %H:%M}</small></td>"
                    f"<td>{strip(name, points, since, now)}</td><td>{counts}</td></tr>")
    return (f'<h2>Targets, last {TREND_DAYS} days</h2><table id="targets"><tr><th scope="col">Target</th>'
            f'<th scope="col">Latest (UTC)</th><th scope="col">Status per run, {since:%Y-%m-%d} to {now:%Y-%m-%d}'
            f'</th><th scope="col">Runs</th></tr>{"".join(rows)}</table>')


STYLE = """body{font-family:sans-serif;margin:16px 24px;color:#1f2328}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}
.status{color:#fff;padding:1px 8px;border-radius:4px}.note{background:#fff8c5;border:1px solid #d4a72c;padding:6px}
.charts{display:flex;flex-wrap:wrap;gap:8px 24px}figure{margin:0}"""


def render(summaries, notes, present, now):
    """The whole index page."""
    since = now - dt.timedelta(days=TREND_DAYS)
    names = target_names(summaries, since)
    fleet = any(s.get("targets") for s in summaries)
    charts = "".join(chart(t, lines_of(summaries, t, since, names), since, now) for t in TRENDS)
    latest = (f"Latest run: {badge(summaries[0]['status'])} {html.escape(summaries[0]['selection'])} at "
              f"{summaries[0]['started_at'][:19].replace('T', ' ')} UTC"
              + (f" ({target_badges(summaries[0]['targets'])})" if summaries[0].get("targets") else "")
              ) if summaries else "No runs yet."
    noted = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>DigitalMe health record - history</title>'
            f"<style>{STYLE}</style></head><body><h1>DigitalMe health record - history</h1>"
            f"<p>{latest}</p><p>{len(summaries)} run{'' if len(summaries) == 1 else 's'}, newest first. "
            f"Rebuilt {now:%Y-%m-%d %H:%M:%S} UTC from the results files in this folder.</p>"
            + (f'<div class="note" id="skipped-files"><b>Not shown:</b><ul>{noted}</ul></div>' if notes else "")
            + (targets_section(summaries, names, since, now) if names else "")
            + f'<h2>Trends, last {TREND_DAYS} days</h2><div class="charts">{charts}</div>'
            f'<h2>Runs</h2><table id="runs"><tr><th>Started (UTC)</th><th>Selection</th><th>Status</th>'
            + ("<th>Targets</th>" if fleet else "")
            + "<th>Checks</th><th>Files</th></tr>" + "".join(row(s, present, fleet) for s in summaries)
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
    write_atomically(os.path.join(folder, CACHE), json.dumps({"version": CACHE_VERSION, "files": cache}))


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
