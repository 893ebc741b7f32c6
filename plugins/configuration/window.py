"""The weekly window of a setting (the manual's maintenance window ``Sun 02:00-04:00``, UTC): its value and its
parser. No hooks.
"""

import dataclasses
import datetime as dt
import re

from plugins.configuration.parsers import Invalid

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIDNIGHT = dt.time.max  # an end of 24:00: the window runs to the end of its day


@dataclasses.dataclass(frozen=True)
class Window:
    """A weekly window in UTC, e.g. the manual's maintenance window ``Sun 02:00-04:00``."""
    weekday: int  # Monday is 0, as datetime.weekday()
    start: dt.time
    end: dt.time

    def __contains__(self, moment):
        moment = moment.astimezone(dt.timezone.utc)
        return moment.weekday() == self.weekday and self.start <= moment.time().replace(tzinfo=None) < self.end

    def __str__(self):
        end = "24:00" if self.end == MIDNIGHT else f"{self.end:%H:%M}"
        return f"{_DAYS[self.weekday].title()} {self.start:%H:%M}-{end} UTC"


def clock(hours, minutes, end=False):
    """``HH:MM`` as a time; 24:00 only as an end (the end of the day)."""
    if end and (hours, minutes) == ("24", "00"):
        return MIDNIGHT
    return dt.time(int(hours), int(minutes))


def window(value):
    """``off`` (or empty), or ``<Day> HH:MM-HH:MM`` in UTC: the day as ``Sun`` or ``Sunday``, an end of 24:00
    allowed, a trailing ``UTC`` too (the window prints so). Any other zone is refused, not ignored: the window
    would silently be hours off."""
    if value.strip().lower() in ("", "off", "none"):
        return None
    expected = "expected 'off' or a weekly window such as 'Sun 02:00-04:00' (UTC)"
    match = re.fullmatch(r"\s*([A-Za-z]+)\s+(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*([\w+\-:/]*)\s*", value)
    if match and match.group(6) and match.group(6).upper() not in ("UTC", "Z"):
        raise Invalid(f"the window is in UTC: write its times in UTC, without {match.group(6)!r}")
    day = match.group(1).lower() if match else ""
    try:
        weekday = _DAYS.index(day) if day in _DAYS else _DAY_NAMES.index(day)
        start = clock(match.group(2), match.group(3))
        end = clock(match.group(4), match.group(5), end=True)
    except ValueError:
        raise Invalid(expected) from None
    if end <= start:
        raise Invalid("the window must end after it starts (within one day, UTC)")
    return Window(weekday, start, end)
