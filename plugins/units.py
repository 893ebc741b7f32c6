"""Quantities in human units: sizes as the checks' messages print them (:func:`mib`), and a check's measured value
and threshold as the record shows them (:func:`human`). The units and how each is shown: docs/design.md, "Units".
"""

import math

UNITS = ("bytes", "pct", "s", "ms", "h", "days", "number")
KEY_UNITS = {"bytes": "bytes", "pct": "pct", "s": "s", "ms": "ms", "h": "h", "days": "days"}  # a key's word -> unit
SIZES = (("EiB", 1024**6), ("PiB", 1024**5), ("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def mib(size, decimals=0):
    """Bytes in MiB: ``mib(3 * 1024**2)`` -> ``"3 MiB"``; ``mib(size, 1)`` -> ``"0.0 MiB"`` for a tiny one."""
    return f"{size / 1024**2:.{decimals}f} MiB"


def units_of(unit):
    """(the value's unit, the threshold's unit) of a check's ``unit``: ``"bytes|pct"`` -> ``("bytes", "pct")``,
    ``"pct"`` -> ``("pct", "pct")``, None -> ``(None, None)``."""
    if not unit:
        return None, None
    if "|" not in unit:
        return unit, unit
    value_unit, _, threshold_unit = unit.partition("|")
    return value_unit or None, threshold_unit or None


def human(value, unit=None):
    """``value`` as the record shows it, in ``unit`` (one of :data:`UNITS`): ``human(1073741824, "bytes")`` ->
    ``"1.0 GiB"``, ``human(0.0213, "s")`` -> ``"21 ms"``, ``human({"/": 41.5}, "pct")`` -> ``"/: 41.5 %"``;
    ``""`` for None. Without a unit (or with one it does not know) numbers as recorded (floats to 4 decimals).
    Never a Python repr, and never raises: what it cannot format is shown as ``str()`` does."""
    if value is None:
        return ""
    return shown_entry(value, unit if unit in FORMATTERS else None)


def shown_entry(value, unit):
    """A value inside the record's cell: a container item by item, None as ``none``, a bool as yes/no."""
    if value is None:
        return "none"
    if isinstance(value, dict):
        return entries(value, unit)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(shown_entry(item, unit) for item in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit is not None and isinstance(value, (int, float)) and math.isfinite(value):
        return FORMATTERS[unit](value)
    return plain(value) if isinstance(value, float) else str(value)


def entries(mapping, unit):
    """A dict's ``key: value`` entries, each in its key's unit (else the dict's), the key without that unit's
    word; ``; `` between them where one holds several items (its own items are separated by commas)."""
    if not mapping:
        return "none"
    parts = []
    for key, entry in mapping.items():
        own = unit_of_key(key) if unit is not None else None
        parts.append(f"{label_of(key, own)}: {shown_entry(entry, own or unit)}")
    several = any(isinstance(e, (dict, list, tuple, set, frozenset)) and len(e) > 1 for e in mapping.values())
    return ("; " if several else ", ").join(parts)


def label_of(key, unit):
    """A dict key as the cell's label: without the word naming ``unit``, which the value shows (``dns_s`` ->
    ``dns``, ``busy_pct_now`` -> ``busy now``); any other key as it is (paths, container names)."""
    if unit is None or not isinstance(key, str):
        return str(key)
    words = key.replace("_", " ").split()
    for n in range(len(words) - 1, -1, -1):
        if KEY_UNITS.get(words[n]) == unit:
            del words[n]
            break
    return " ".join(words) or key


def unit_of_key(key):
    """The unit a dict key names by one of its words (``waited_s`` -> ``s``, ``busy_pct_now`` -> ``pct``), or
    None; the last such word wins (``pct_of_s`` is unlikely; ``up_s_when_healthy`` is seconds)."""
    if not isinstance(key, str):
        return None
    words = key.replace("_", " ").split()
    return next((KEY_UNITS[word] for word in reversed(words) if word in KEY_UNITS), None)


def plain(number):
    """A number without a unit, as the record always showed it: a float rounded to 4 decimals."""
    return str(round(number, 4) if isinstance(number, float) else number)


def whole_or_tenths(number):
    """``85`` -> ``"85"``, ``41.25`` -> ``"41.2"``, ``85.0`` -> ``"85"``: one decimal, none when it is 0 (the
    settings' thresholds are floats: ``85 %``, not ``85.0 %``)."""
    text = str(number) if isinstance(number, int) else f"{number:.1f}"
    return text[:-2] if text.endswith(".0") else text


def size(number):
    for suffix, factor in SIZES:
        if abs(number) >= factor:
            return f"{number / factor:.1f} {suffix}"
    return f"{number:.0f} B" if isinstance(number, float) else f"{number} B"


def percent(number):
    return f"{whole_or_tenths(number)} %"


def milliseconds(number):
    if abs(number) >= 999.5:  # "1 s", not "1000 ms"
        return seconds(number / 1000)
    if number == 0:
        return "0 ms"
    shown = f"{number:.0f}" if abs(number) >= 9.95 else f"{number:.1f}" if abs(number) >= 0.05 else f"{number:.2g}"
    return f"{shown} ms"


def seconds(number):
    if abs(number) < 0.9995:
        return milliseconds(number * 1000)
    if abs(number) < 120:
        return f"{whole_or_tenths(number)} s"
    if abs(number) < 7200:
        return f"{number / 60:.1f} min"
    return hours(number / 3600)


def hours(number):
    if number == 0:
        return "0 h"
    if abs(number) < 1:
        return f"{number * 60:.0f} min" if abs(number * 60) >= 0.5 else seconds(number * 3600)
    return f"{whole_or_tenths(number)} h"


def days(number):
    if abs(number) < 1:
        return hours(float(number) * 24) if number else "0 days"
    if abs(number) == 1:
        return f"{number:g} day"
    return f"{whole_or_tenths(number)} days"


FORMATTERS = {"bytes": size, "pct": percent, "s": seconds, "ms": milliseconds, "h": hours, "days": days,
              "number": plain}
