"""The history's SVG: one trend as a line chart (:func:`chart`, a line per target in a fleet), a target's status
over the last days as a strip (:func:`strip`), and the values as shown (:func:`shown`). Inline SVG, no script: the
index is one self-contained page.
"""

import datetime as dt
import html

from plugins.outputs.history.bookkeeping import LINE_GAP, TREND_DAYS
from plugins.outputs.results import COLOURS

LINE_COLOURS = ("#0969da", "#8250df", "#bf3989", "#1b7c83", "#953800", "#6e7781", "#0550ae", "#6639ba",
                "#99286e", "#116329")  # a trend's lines, one per target (never a status's red, amber or green)
MAX_POINTS_DRAWN = 400  # a line of more runs than this is drawn as a line alone, no circle per run


def shown(value, unit, gap=False):
    """A trend's value in its unit; None is "-", or with ``gap`` (a run that measured nothing) "no value"."""
    if value is None:
        return "no value" if gap else "-"
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


def trend_lines(state, trend, names):
    """{None or target: points} of one trend from the state: per-day aggregates, then the last days run by run;
    empty lines left out (the runs without targets always kept, so a history without a fleet draws as before)."""
    lines = {}
    for key in ["", *names]:
        days = state["days"].get(trend.name, {}).get(key, {})
        points = [(dt.datetime.fromisoformat(day + "T12:00:00+00:00"), median, threshold, low, high, runs)
                  for day, (low, median, high, threshold, runs) in sorted(days.items())]
        points += sorted(((dt.datetime.fromisoformat(when), value, threshold)
                          for when, value, threshold in state["points"].get(trend.name, {}).get(key, [])),
                         key=lambda p: p[0])  # by time alone: a gap's None is no number to compare
        if points or key == "":
            lines[key or None] = points
    if len(lines) > 1 and not lines[None]:
        del lines[None]
    return lines


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
    measured = [p[4] if len(p) > 3 else p[1] for p in every]
    high = max([v for v in measured if v is not None] + (distinct or [0])) * 1.1 or 1
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
    parts += threshold_lines(thresholds, trend.unit, (left, width - right), y, colours, names)
    for key, points in lines.items():  # many runs: a line without a circle each (the page's size)
        runs = sum(p[5] if len(p) > 3 else 1 for p in points)
        parts += plotted(points, trend.unit, x, y, colours[key], f"{names[key]}: " if named else "",
                         circles=runs <= MAX_POINTS_DRAWN)
    if not every:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no values in the last '
                     f"{TREND_DAYS} days</text>")
    latest = latest_values(lines, trend.unit, thresholds, colours, names) if named else \
        latest_value(lines.get(None, []), trend.unit, threshold)
    return (f'<figure class="trend"><figcaption><b>{html.escape(trend.title)}</b> <small>{latest}</small>'
            f'</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-size="11" font-family="sans-serif" role="img" aria-label="{html.escape(trend.title)}">'
            + "".join(parts) + "</svg></figure>")


def threshold_lines(thresholds, unit, span, y, colours, names):
    """The thresholds, dashed across the chart (``span``: its left and right): one in red with its value, or
    (targets held to different thresholds) each its own, dashed in its line's colour."""
    left, right = span
    distinct = sorted({t for t in thresholds.values() if t is not None})
    if len(distinct) == 1:
        threshold = distinct[-1]
        return [f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{right}" y2="{y(threshold):.1f}" '
                f'stroke="#cf222e" stroke-dasharray="6 4"/><text x="{right}" y="{y(threshold) - 3:.1f}" '
                f'text-anchor="end" fill="#cf222e">threshold {shown(threshold, unit)}</text>']
    return [f'<line x1="{left}" y1="{y(value):.1f}" x2="{right}" y2="{y(value):.1f}" '
            f'stroke="{colours[key]}" stroke-dasharray="6 4"><title>threshold of '
            f'{html.escape(names[key])}: {shown(value, unit)}</title></line>'
            for key, value in thresholds.items() if value is not None]


def latest_value(points, unit, threshold):
    """The caption of a chart of one line: its latest value and the threshold."""
    return (f"latest {shown(points[-1][1], unit, gap=True)}" if points else "no data") + (
        f", threshold {shown(threshold, unit)}" if threshold is not None else "")


def latest_values(lines, unit, thresholds, colours, names):
    """The caption of a chart of a line per target: each one's latest value (and threshold), in its colour."""
    return "latest " + ", ".join(
        f'<span style="color:{colours[key]}">&#9632;</span> {html.escape(names[key])} '
        + (shown(points[-1][1], unit, gap=True) if points else "-")
        + (f" (threshold {shown(thresholds[key], unit)})" if thresholds[key] is not None else "")
        for key, points in lines.items())


def plotted(points, unit, x, y, colour="#0969da", label="", circles=True):
    """The points as circles (each with its value; or, ``circles`` false, only the lines, named by ``label``),
    joined by lines unless further apart than :data:`LINE_GAP` (a missed day) or parted by a run that measured
    nothing (its value None: no answer has no response time), which is drawn as a gap. A day's aggregate (a point
    ``(noon, median, threshold, min, max, runs)``) is a bar from its min to its max, the line through its median."""
    parts, line = [], []
    label = html.escape(label)
    named = "" if circles else f"<title>{label.rstrip(': ') or 'each run'}</title>"
    for i, (when, value, *more) in enumerate(points):
        if len(more) == 4:
            _, low, high, runs = more
            parts.append(f'<rect x="{x(when) - 1.5:.1f}" y="{y(high):.1f}" width="3" '
                         f'height="{max(y(low) - y(high), 1):.1f}" fill="{colour}" opacity="0.6"><title>{label}'
                         f"{when:%Y-%m-%d}: min {shown(low, unit)}, median {shown(value, unit)}, max "
                         f"{shown(high, unit)} ({runs} runs)</title></rect>")
        if line and (value is None or when - points[i - 1][0] > LINE_GAP):
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(line)}"'
                         + (f">{named}</polyline>" if named else "/>"))
            line = []
        if value is None:  # a run that measured nothing (no answer): a gap in the line, never a value
            continue
        line.append(f"{x(when):.1f},{y(value):.1f}")
        if circles and len(more) < 4:
            parts.append(f'<circle cx="{x(when):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}">'
                         f"<title>{label}{when:%Y-%m-%d %H:%M} UTC: {shown(value, unit)}</title></circle>")
    if line:
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(line)}"'
                     + (f">{named}</polyline>" if named else "/>"))
    return parts


def strip(name, stretches, since, now):
    """One target's status over the window as an SVG strip: one bar per stretch of runs with the same status
    (runs further apart than :data:`LINE_GAP` start a new one), so its size follows the changes, not the runs."""
    width, height, pad = 520, 20, 2
    span = (now - since).total_seconds() or 1

    def x(when):
        return pad + (when - since).total_seconds() / span * (width - 2 * pad)

    stretches = [(status, max(dt.datetime.fromisoformat(first), since), dt.datetime.fromisoformat(last), runs)
                 for status, first, last, runs in stretches]
    bars = "".join(
        f'<rect x="{min(x(first), width - pad - 3):.1f}" y="2" width="{max(x(last) - x(first), 3):.1f}" '
        f'height="{height - 4}" '
        f'fill="{COLOURS[status]}"><title>{html.escape(name)}: {status.upper()}, {first:%Y-%m-%d %H:%M}'
        + (f" to {last:%Y-%m-%d %H:%M}" if last != first else "") + f" UTC ({runs} run{'' if runs == 1 else 's'})"
        f"</title></rect>" for status, first, last, runs in stretches)
    total = sum(s[3] for s in stretches)
    label = f"{name}: " + (", ".join(f"{sum(s[3] for s in stretches if s[0] == status)} {status}"
                                     for status in COLOURS) + f" of {total} runs" if stretches else "no runs")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(label)}"><rect x="0" y="0" width="{width}" height="{height}" fill="#f6f8fa"/>'
            f"{bars}</svg>")
