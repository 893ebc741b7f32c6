"""Log probe: the app's log read as entries, the way ASP.NET Core's console logger writes them.

Every entry is a line ``<level>: <Category>[<EventId>]`` followed by indented lines: the message (six spaces),
then an exception and its stack trace. Counting lines would count one failed request two or more times, and a
pattern found in a stack trace would be shown without the entry it belongs to; so lines are grouped into
entries and a pattern is matched against the whole entry (level, category, message, continuation lines).
A line outside that format (the .NET runtime's own ``Unhandled exception.`` on a crash, a script's output)
is an entry of its own, with the indented lines that follow it. An entry cut at the start of the window
counts with what is visible of it.

Critical entries are judged in the manual's last 100 lines, which a 5-minute schedule reads again and again:
:class:`ReportedEntries` remembers, per schedule, which entries a run already reported, so an entry is a
finding once per schedule, not on every run while it stays among the last 100 lines.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import re
import time

from plugins.files import locked, slug, state_path, write_atomically

HEADER = re.compile(r"^(?P<level>trce|dbug|info|warn|fail|crit): (?P<category>[^\s\[\]]+)\[(?P<event_id>-?\d+)\]")
# Docker's own timestamp before each line (logs(timestamps=True)): RFC 3339 with nanoseconds.
DOCKER_TIMESTAMP = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the console logger colours its level when writing to a terminal
ERROR_LEVELS = ("fail", "crit")
# The manual's error pattern, for entries outside the logger's format (it has no level to go by).
UNFORMATTED_ERROR = re.compile(r"ERROR|Exception|fail:")
SHOWN_LINES = 12  # of one entry in the evidence: enough for the message and the top of a stack trace


@dataclasses.dataclass(frozen=True)
class Line:
    timestamp: str  # Docker's timestamp of the line ("" when the logs were read without)
    text: str

    @property
    def key(self):
        """The line's identity: when Docker received it, and a hash of its text (never the text itself)."""
        return f"{self.timestamp} {hashlib.sha256(self.text.encode()).hexdigest()[:16]}"


@dataclasses.dataclass(frozen=True)
class Entry:
    lines: tuple  # of Line: the first line, then its continuation lines
    level: str = ""  # trce dbug info warn fail crit; "" outside the logger's format, or cut at the window's start
    category: str = ""
    event_id: str = ""

    @property
    def text(self):
        return "\n".join(line.text for line in self.lines)

    @property
    def timestamp(self):
        return self.lines[0].timestamp

    @property
    def one_line(self):
        """The entry on one line (for messages): ``fail: Category[1] An unhandled exception ...``."""
        return " ".join(line.text.strip() for line in self.lines)

    def matches(self, pattern):
        """The pattern is found in the entry: its level and category, its message or a continuation line."""
        return bool(pattern.search(self.text))

    @property
    def is_error(self):
        """Logged at fail or crit; outside the logger's format, the manual's ``ERROR|Exception|fail:``.

        A logged entry is judged by its level, not by words in it: the app logs handled exceptions at warn
        (a retried call) and SQL naming its ``ErrorPatterns`` table at info; neither is an error.
        """
        return self.level in ERROR_LEVELS if self.level else self.matches(UNFORMATTED_ERROR)

    def keys(self, pattern=None):
        """Identities by which a later run recognises the entry: its first line, and each line matching the
        pattern (a later window may cut the entry's start, the matching line stays the same)."""
        return [self.lines[0].key] + [line.key for line in self.lines[1:] if pattern and pattern.search(line.text)]

    def shown(self):
        """The entry for the evidence: Docker's timestamp, then its lines (a long stack trace shortened)."""
        lines = [line.text for line in self.lines[:SHOWN_LINES]]
        if len(self.lines) > SHOWN_LINES:
            lines.append(f"      ... {len(self.lines) - SHOWN_LINES} more line(s)")
        return (f"{self.timestamp} " if self.timestamp else "") + "\n".join(lines)


def split_line(raw):
    """(Docker's timestamp or "", the line as the app wrote it)."""
    match = DOCKER_TIMESTAMP.match(raw)
    timestamp, text = (match.group("ts"), raw[match.end():]) if match else ("", raw)
    return timestamp, COLOUR.sub("", text).rstrip("\r")


def entries(raw_lines):
    """Group log lines (with or without Docker's timestamps) into entries, oldest first."""
    found, current = [], None
    for raw in raw_lines:
        line = Line(*split_line(raw))
        if not line.text.strip():
            continue
        header = HEADER.match(line.text)
        if current is not None and not header and line.text[0].isspace():
            current.append(line)  # the message, an exception, a stack frame
            continue
        if current is not None:
            found.append(_entry(current))
        current = [line]
    if current is not None:
        found.append(_entry(current))
    return found


def _entry(lines):
    header = HEADER.match(lines[0].text)
    if header is None:
        return Entry(tuple(lines))
    return Entry(tuple(lines), header.group("level"), header.group("category"), header.group("event_id"))


class ReportedEntries:
    """``<report dir>/state/log-entries-<schedule>[-<target>].json``: the entries a run of this schedule already
    reported (of the target, in a fleet); ``log-credentials-...`` for entries holding credentials.

    The schedule is the run's marker selection (``monitor``, ``daily``, ``daily or weekly``): each schedule's
    record reports an entry once, so the daily record still shows a FATAL that the 5-minute monitor reported
    at night. Only hashes and Docker's timestamps are kept, never log text (it may hold secrets); the newest
    KEEP identities are kept, which is many windows of 100 lines.
    """

    KEEP = 2000
    LOCK_WAIT_S = 20  # an overlapping run's turn: past it, every entry is reported as new (never lost)

    def __init__(self, report_dir, schedule, target=None, finding="entries"):
        """``finding``: what kind of finding these entries are (``entries``: critical ones; ``credentials``), each
        kind remembered apart, so that an entry that is both is reported by each check once."""
        self.path = state_path(report_dir, f"log-{finding}-{slug(schedule, empty='all')}", target)

    def sort_out(self, found, pattern=None):
        """(new entries, [(entry, when first reported) for entries reported before]); the new ones are kept
        as reported. Overlapping runs of one schedule take turns (a file lock), so each entry is new once.
        Where the state cannot be kept (``self.problem`` says why), every entry is new: reported, never lost."""
        self.problem = ""
        try:
            return self._sort_out(found, pattern)
        except OSError as e:
            self.problem = f"{self.path}: {e.strerror or e}"
            return list(found), []

    def _sort_out(self, found, pattern):
        with locked(self.path + ".lock", time.monotonic() + self.LOCK_WAIT_S,
                    TimeoutError(f"another run of this schedule held the lock for {self.LOCK_WAIT_S} s")):
            reported = self._read()
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            new, earlier = [], []
            for entry in found:
                keys = entry.keys(pattern)
                when = next((reported[key] for key in keys if key in reported), None)
                if when is None:
                    new.append(entry)
                else:
                    earlier.append((entry, when))
                for key in keys:
                    reported.setdefault(key, now)
            if new:
                self._write(reported)
            return new, earlier

    def _read(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                reported = json.load(f).get("reported", {})
            return {k: v for k, v in reported.items() if isinstance(k, str) and isinstance(v, str)}
        except (OSError, ValueError, AttributeError):
            return {}  # worst case an entry is reported once more, never one missed

    def _write(self, reported):
        newest = dict(sorted(reported.items(), key=lambda item: item[1])[-self.KEEP:])
        write_atomically(self.path, json.dumps({"schema": 1, "reported": newest}, indent=0, sort_keys=True))
