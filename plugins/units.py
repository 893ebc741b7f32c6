"""Quantities in human units: sizes as the checks' messages print them (:func:`mib`), and a check's measured value
and threshold as the record shows them (:func:`human`).

A check names the unit of what it records: ``check.record(value, threshold, unit="bytes")``. The results file
keeps the raw numbers and the unit (machines read it); only the HTML record turns them into words. Units:

============  ================================  ==================================================================
unit          what the number counts            shown as
============  ================================  ==================================================================
``bytes``     bytes                             ``512 B``, ``1.5 KiB``, ``300.0 MiB``, ``1.0 GiB`` (1024-based)
``pct``       a percentage (0-100)              ``85 %``, ``41.2 %`` (one decimal, none when it is 0)
``s``         seconds                           ``21 ms``, ``2.5 ms`` below 1 s; ``2.5 s``; ``3.2 min`` from 2 min;
                                                ``2.5 h`` from 2 h
``h``         hours                             ``3 min`` below 1 h (seconds below 30 s); ``26.5 h``, ``24 h``
``ms``        milliseconds                      ``21 ms``; ``1.5 s`` from 1 s
``days``      days                              ``30 days``, ``1 day``, ``12.5 days``; ``6 h`` below 1 day
``number``    a plain number (a count, a load)  as it is (a float to 4 decimals)
============  ================================  ==================================================================

Where the value and the threshold count different things, the unit is ``"<value's>|<threshold's>"``:
``"bytes|pct"`` for a memory check recording bytes and held to a percentage. A dict's entries are each shown in
the value's unit, except an entry whose key names its own unit by one of its words (split at ``_`` and spaces):
``used_pct``, ``busy_pct_now``, ``waited_s``, ``since start s``, ``age_h``, ``age_days``, ``size_bytes`` (also
``ms``). Lists are shown item by item. What is not a number (a string, ``True``) is shown as it is, a None entry
as ``none``, a None value as nothing. A check that names no unit (``unit=None``), or a unit not listed here, has
its values shown as the record always showed them: floats to 4 decimals, a dict as ``key: value, ...``.
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
    ``""`` for None. Without a unit (or with one it does not know) as the record always showed values: floats
    to 4 decimals, a dict as ``key: value, ...``. Never raises: what it cannot format is shown as it is."""
    if value is None:
        return ""
    if unit not in FORMATTERS:
        if isinstance(value, dict):
            return ", ".join(f"{key}: {human(entry)}" for key, entry in value.items())
        return plain(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {human(entry, unit_of_key(key) or unit) if entry is not None else 'none'}"
                         for key, entry in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(human(item, unit) if item is not None else "none" for item in value) + "]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    return FORMATTERS[unit](value)


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
