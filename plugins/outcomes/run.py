"""The outcomes' model: what one run found, as every output reads it.

- :class:`Measurement`: what a check measured, through the ``check`` fixture (``check.record(value, threshold)``).
- :class:`CheckOutcome`: one finished check, built once where it ran (plugins/outcomes/build.py), carried to the
  process that owns the run in its last report (``report.user_properties`` entry ``("digitalme_outcome", <dict>)``:
  :func:`outcome_in`).
- :class:`Run`: the run, kept in ``config.stash[RUN]``: its checks (the one list the alerts, the results file, the
  record and the history read), its counts and its status. Nothing recomputes a severity.

A failure reads as one line: what was found, then what was required (``disk / at 83 % (required: below 80 %)``),
or ``could not be checked: <what happened>``. No hooks.
"""

import dataclasses
import datetime as dt
import json

import pytest

from plugins.configuration.markers import SEVERITIES, selection_of
from plugins.configuration.settings import SETTINGS
from plugins.files import slug
from plugins.outcomes import reachability, trends
from plugins.secrets import redact, redacted, scrub, scrubbed

RUN = pytest.StashKey["Run"]()
ORDER = pytest.StashKey[dict]()  # check id -> its place in the collection, where the run is owned
PROPERTY = "digitalme_outcome"  # the name of the outcome in report.user_properties
COULD_NOT_CHECK = "could not be checked: "
REQUIRED = " (required: "  # a failure reads "<what was found> (required: <what the check requires>)"
EVIDENCE_MAX_CHARS = 4000
FAILING = ("failed", "error")  # outcomes that alert and make the run's status ("waived": an accepted failure, neither)
OUTCOMES = ("passed", "failed", "skipped", "error", "waived", reachability.NOT_CHECKED)
COULD_NOT_CHECK_MARK = "digitalme_could_not_check"  # on a call report whose failure is "could not be checked" (an
# attribute of the report, so xdist carries it to the controller's terminal too)


@dataclasses.dataclass
class Measurement:
    """What one check measured, filled by the check through the ``check`` fixture."""
    value: object = None
    threshold: object = None
    severity: str = ""  # set when a check lowers its severity for a partial finding
    evidence: dict = dataclasses.field(default_factory=dict)
    unit: str = None  # what the value and threshold count (plugins/units.py), for the record's human units
    trend: dict = None  # the trend this value feeds, as declared in record() (plugins/outcomes/trends.py), or None

    def record(self, value, threshold=None, unit=None, trend=None, trend_title=None, trend_of=None):
        """Keep the measured value (and the threshold it is held to) for the results file and report; ``unit``
        (``bytes``, ``pct``, ``s``, ``h``, ``days``) lets the record show them in human units. ``trend`` (a short
        stable name) charts the value in the history, ``trend_title`` its caption, ``trend_of`` what of the value
        (a dict's key, or a function of its numbers such as ``max``): plugins/outcomes/trends.py."""
        self.value, self.threshold, self.unit = redacted(value), redacted(threshold), unit
        self.trend = trends.declared(trend, trend_title, trend_of, value, unit) if trend is not None else None

    def attach(self, name, content):
        """Keep a piece of evidence (bounded) for the report: a listing, log lines, a timing breakdown."""
        content = redact(content if isinstance(content, str) else repr(content))  # before the cut: whole PEM blocks
        if len(content) > EVIDENCE_MAX_CHARS:
            content = content[:EVIDENCE_MAX_CHARS] + f"\n... ({len(content) - EVIDENCE_MAX_CHARS} more characters)"
        self.evidence[name] = content

    def lower_to_warning(self):
        """This failure is partial (e.g. /health answers Degraded): alert as warning, not the marker's level."""
        self.severity = "warning"


@dataclasses.dataclass
class CheckOutcome:
    id: str
    title: str
    manual: str
    severity: str  # as applied: the marker's, or warning where the check lowered a partial failure
    declared_severity: str
    schedules: list
    outcome: str  # passed | failed | skipped | error | waived (a failure an active waiver accepts: plugins/outcomes/waivers.py)
    # | not checked (its target is unreachable: plugins/outcomes/reachability.py)
    message: str
    duration_s: float
    value: object = None
    threshold: object = None
    evidence: dict = dataclasses.field(default_factory=dict)
    target: str = None  # the target's name in a fleet run (plugins/configuration/targets.py), else None
    unit: str = None  # what value and threshold count (Measurement.unit), or None
    level3: str = None  # the Level 3 kind of a failure of this check ("data loss", "security incident"), or None
    waiver: dict = None  # the waiver that matched this check (plugins/outcomes/waivers.py), with its state, or None
    failing_since: str = None  # a failing check: when its run of failures began (plugins/outcomes/streaks.py)
    failing_runs: int = None  # ... and how many runs of its selection it has failed in a row, this one included
    new_finding: bool = None  # a failing check that passed (or did not fail) in the previous run of its selection
    blocked_by: dict = None  # a "not checked" check: the headline's id, its finding, and the failure it would be
    trend: dict = None  # the trend it feeds: {"name", "title", "unit", "value" (charted)} (plugins/outcomes/trends.py)

    def to_dict(self, secrets=()):
        """The outcome as plain JSON values (what travels in the report), without the suite's secrets."""
        try:
            return {name: plain(getattr(self, name), secrets) for name in _FIELDS}
        except _NotPlain:  # anything but JSON's own types inside: the long way, which says what JSON makes of it
            return json.loads(json.dumps(scrubbed(dataclasses.asdict(self), secrets), default=str))

    def fields(self):
        """The outcome's fields as a dict, as they are (not copied): what the results file writes of it."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data):
        return cls(**{field.name: data[field.name] for field in dataclasses.fields(cls) if field.name in data})


_FIELDS = [field.name for field in dataclasses.fields(CheckOutcome)]


class _NotPlain(Exception):
    """A value that JSON would turn into something else (a tuple, a non-text key, an object): see :func:`plain`."""


def plain(value, secrets):
    """``value`` scrubbed of ``secrets``, copied, where it is made of JSON's own types (text, numbers, true, false,
    null, lists and tuples, dicts with text or integer keys): what ``json.loads(json.dumps(scrubbed(value)))``
    gives (a tuple becomes a list, a key 80 "80"), ~10x faster, once per check. Raises _NotPlain for anything else
    (an object, a float key), which the caller sends the long way."""
    kind = type(value)
    if kind is str:
        return scrub(value, secrets) if secrets else value
    if kind is dict:
        return {_plain_key(key, secrets): plain(item, secrets) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [plain(item, secrets) for item in value]
    if value is None or kind in (int, float, bool):
        return value
    raise _NotPlain


def _plain_key(key, secrets):
    """A dict key as JSON writes it: text scrubbed; a number as its digits (after the scrub, as JSON does)."""
    if type(key) is str:
        return scrub(key, secrets) if secrets else key
    if type(key) is int:
        return str(key)
    raise _NotPlain


@dataclasses.dataclass
class Run:
    """One run of the suite: what the results file, the HTML record and the alerts are made from."""
    started_at: dt.datetime
    selection: str
    stem: str  # "<UTC stamp>-<selection>", the name of this run's files ("_2", "_3" ... after it when another run
    # of the selection started in the same second: plugins/outputs/results.py claims the name)
    checks: list = dataclasses.field(default_factory=list)
    alerts: list = dataclasses.field(default_factory=list)
    heartbeat: dict = None  # the dead-man's switch ping, when one is configured (plugins/outputs/alerting)
    finished_at: dt.datetime = None
    report_error: str = None  # why the report folder cannot be written (plugins/outputs/results.py); alerts still go out
    alert_state_note: str = None  # where the alert state was kept when not in the report folder (plugins/outputs/alerting)

    @property
    def slug(self):
        """The selection as the run's files name it (``daily``, ``daily-or-weekly``, ``all``)."""
        return slug_of(self.selection)

    @property
    def counts(self):
        counts = dict.fromkeys(OUTCOMES, 0)
        for check in self.checks:
            counts[check.outcome] += 1
        return counts

    @property
    def status(self):
        """The worst severity among failed or errored checks, or ``ok``."""
        return status_of(self.checks)

    @property
    def targets(self):
        """In a fleet run, each target's status, in the targets file's order; else empty."""
        names = list(dict.fromkeys(c.target for c in self.checks if c.target is not None))
        return {name: status_of([c for c in self.checks if c.target == name]) for name in names}


def counted(counts):
    """A run's counts in pytest's words and order: ``1 failed, 21 passed, 2 skipped, 2 errors`` (waived checks as
    ``waived``: pytest shows them as xfailed); outcomes with none are left out."""
    words = (("failed", "failed"), ("passed", "passed"), ("skipped", "skipped"), ("waived", "waived"))
    parts = [f"{counts[key]} {word}" for key, word in words if counts.get(key)]
    if counts.get("error"):
        parts.append(f"{counts['error']} error{'' if counts['error'] == 1 else 's'}")
    return ", ".join(parts) or "no checks"


def status_of(checks):
    """The worst severity among the failed or errored of ``checks``, or ``ok``."""
    bad = {c.severity for c in checks if c.outcome in FAILING}
    return next((severity for severity in SEVERITIES if severity in bad), "ok")


def slug_of(selection):
    """A selection as it appears in run files' names: letters, digits and ``-`` only (so ``_`` can number runs of
    one second)."""
    return slug(selection, empty="all")


def new_run(config):
    started = dt.datetime.now(dt.timezone.utc)
    selection = selection_of(config)
    return Run(started_at=started, selection=selection, stem=f"{started:%Y%m%dT%H%M%SZ}-{slug_of(selection)}")


def owns_run(config):
    """True where the run's outputs are made: not in an xdist worker, only with valid settings, and not for
    ``--collect-only`` (nothing was checked: an empty record would stand in the audit trail as latest)."""
    return SETTINGS in config.stash and not hasattr(config, "workerinput") and not config.option.collectonly




def finding_of(message):
    """What was found, the head of a failure's message (its "(required: ...)" left off): an alert's title."""
    return message.split(REQUIRED, 1)[0]



def outcome_in(report):
    """The outcome dict a check's last report carries, or None (its other reports, a collection report)."""
    return next((value for name, value in getattr(report, "user_properties", ()) if name == PROPERTY), None)



def in_collection_order(config):
    """Sort the run's checks as they were collected (xdist workers report them in any order)."""
    order = config.stash.get(ORDER, {})
    config.stash[RUN].checks.sort(key=lambda c: order.get(c.id, len(order)))

