"""What the record shows of each check, as text: the title, the extra columns' values (severity, manual, measured
value, threshold in human units), since when a check fails, a skip's reason as a sentence. No HTML but the
escaping pytest-html expects of the values; no hooks.
"""

import datetime as dt

from plugins.outcomes.run import FAILING
from plugins.units import human, units_of

TITLE = "DigitalMe health record - {date} - {selection}"
CELL_MAX_CHARS = 300


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
    history fills these at the end of the run (plugins/outputs/history/)."""
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


def row_of(outcome):
    """The extra cells' values for a check's rows, from its outcome (empty for a collection error's row)."""
    if outcome is None:
        return dict.fromkeys(("severity", "manual", "value", "threshold"), "")
    value_unit, threshold_unit = units_of(outcome.get("unit"))
    return {"severity": outcome["severity"], "manual": outcome["manual"],
            "value": shown(outcome["value"], value_unit), "threshold": shown(outcome["threshold"], threshold_unit)}


def sentence(text):
    """A skip reason as a sentence: ``HTTPS not applicable: DIGITALME_HTTPS_URL is empty.``"""
    text = text.strip()
    if not text:
        return "Skipped."
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")
