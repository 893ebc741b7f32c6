"""Outcomes: each finished check becomes one :class:`CheckOutcome`, built once, where the check ran.

- The ``check`` fixture lets a check record what it measured (``check.record(value, threshold)``), attach
  evidence, and lower one failure to warning where the finding is partial.
- Failures read as one line for the operator, not a traceback: what was found, then what was required
  (``disk / at 83 % (required: below 80 %)``), or ``could not be checked: <what happened>``. A check's title is its
  docstring's first line with the target's values in its ``{setting}`` fields (plugins/configuration/markers.py).
- A failure an active waiver accepts (plugins/outcomes/waivers.py) is judged where it happened, at its call phase: its
  outcome is ``waived`` (neither failing nor passed) and its report an xfail-like skip, so pytest's exit code and
  terminal see it too.
- Secrets the target lets slip (a key in a log line, a token in ``/info``) are masked where a message, value or
  evidence becomes an outcome (plugins/secrets.py), and the suite's own secrets (webhook URLs) are removed, so
  no writer or sender ever sees them.
- "Could not be checked" (a ProbeError, a timeout) is an error in whichever phase it happened: in the results file
  and, through ``pytest_report_teststatus``, in pytest's own counts (``1 failed, 2 errors``), so the terminal, the
  status line, the results file and the record count alike (pytest alone would call a probe failing inside the
  check's body "failed" and one failing in its fixture an "error").
- The outcome travels with the check's last report (teardown) as ``report.user_properties`` entry
  ``("digitalme_outcome", <dict>)``: from an xdist worker to the controller as from pytest to itself. The process
  that owns the run (the controller, or the one process) collects them in ``config.stash[RUN].checks``, the one
  list the alerts, the results file, the record and the history read. Nothing recomputes a severity.
"""

import dataclasses
import datetime as dt
import json
import re

import pytest

from plugins.configuration.markers import SEVERITIES, describe, level3_of, schedules_of, selection_of, severity_of
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import TARGETS, target_of
from plugins.files import slug
from plugins.outcomes import reachability, trends, waivers
from plugins.probes import ProbeError
from plugins.secrets import MASK, redact, redacted, scrub, scrubbed, secret_parts

RUN = pytest.StashKey["Run"]()
MEASUREMENT = pytest.StashKey["Measurement"]()
PHASES = pytest.StashKey[list]()  # (report, one-line message or None) of each phase run so far, on the item
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
    failing_since: str = None  # a failing check: when its run of failures began (plugins/outputs/history.py)
    failing_runs: int = None  # ... and how many runs of its selection it has failed in a row, this one included
    new_finding: bool = None  # a failing check that passed (or did not fail) in the previous run of its selection
    blocked_by: dict = None  # a "not checked" check: the headline's id, its finding, and the failure it would be
    trend: dict = None  # the trend it feeds: {"name", "title", "unit", "value" (charted)} (plugins/outcomes/trends.py)

    def to_dict(self, secrets=()):
        """The outcome as plain JSON values (what travels in the report), without the suite's secrets."""
        return json.loads(json.dumps(scrubbed(dataclasses.asdict(self), secrets), default=str))

    @classmethod
    def from_dict(cls, data):
        return cls(**{field.name: data[field.name] for field in dataclasses.fields(cls) if field.name in data})


@dataclasses.dataclass
class Run:
    """One run of the suite: what the results file, the HTML record and the alerts are made from."""
    started_at: dt.datetime
    selection: str
    stem: str  # "<UTC stamp>-<selection>", the name of this run's files ("_2", "_3" ... after it when another run
    # of the selection started in the same second: plugins/outputs/results.py claims the name)
    checks: list = dataclasses.field(default_factory=list)
    alerts: list = dataclasses.field(default_factory=list)
    heartbeat: dict = None  # the dead-man's switch ping, when one is configured (plugins/alerting)
    finished_at: dt.datetime = None
    report_error: str = None  # why the report folder cannot be written (plugins/outputs/results.py); alerts still go out
    alert_state_note: str = None  # where the alert state was kept when not in the report folder (plugins/alerting)

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


def applied_severity(declared, measurement, failed):
    """The severity a check alerts at: its marker's, or warning where it lowered a partial finding (a failure
    of the check itself, not a "could not be checked", which keeps the marker's)."""
    return measurement.severity if failed and measurement.severity else declared


def one_line(report, excinfo=None):
    """The operator's message for a failed or errored report (``excinfo``: the exception of its phase)."""
    if excinfo is not None and excinfo.errisinstance(ProbeError):
        return COULD_NOT_CHECK + str(excinfo.value)
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    timeout = re.match(r"Failed: Timeout \(?>?([\d.]+)s", text)
    if timeout:
        return COULD_NOT_CHECK + f"timed out after {float(timeout.group(1)):g} s"
    if text.startswith("AssertionError: "):
        return text[len("AssertionError: "):].split("\nassert ")[0].strip()
    if text.startswith("Failed: "):
        return text[len("Failed: "):].strip()
    return COULD_NOT_CHECK + text.strip().splitlines()[0]


def without_secrets(longrepr, config, excinfo=None):
    """A traceback (--tb=long|short|native, --showlocals, -vv) as text without secrets, where it held any: it is
    printed, and written to junit.xml and the record. The target's secrets are looked for in the failing frames'
    locals in full (a printed repr is cut and split across lines), and the settings' secrets are masked too."""
    text = str(longrepr)
    cleaned = redact(text)
    found = set()
    for entry in (excinfo.traceback if excinfo is not None else []):
        for value in entry.frame.f_locals.values():
            try:
                found.update(secret_parts(value if isinstance(value, str) else repr(value)))
            except Exception:  # noqa: BLE001 - a repr that fails shows nothing, so it hides nothing either
                continue
    for part in sorted(found, key=len, reverse=True):
        cleaned = cleaned.replace(part, MASK)
    if SETTINGS in config.stash:
        cleaned = scrub(cleaned, config.stash[SETTINGS].secrets_with_url_paths())
    return longrepr if cleaned == text else cleaned


def result_of(phases):
    """(outcome, message) of a check from its phases' (report, message)."""
    failed = next(((r, m) for r, m in phases if r.failed), None)
    skipped = next((r for r, _ in phases if r.skipped), None)
    if failed is not None:
        report, message = failed
        outcome = "failed" if report.when == "call" else "error"
    elif skipped is not None:
        outcome = "skipped"
        longrepr = skipped.longrepr
        message = longrepr[2].removeprefix("Skipped: ") if isinstance(longrepr, tuple) else str(longrepr)
    else:
        outcome, message = "passed", ""
    if outcome == "failed" and message.startswith(COULD_NOT_CHECK):
        outcome = "error"  # a check that could not run is an error, whatever phase it broke in
    return outcome, message


def finding_of(message):
    """What was found, the head of a failure's message (its "(required: ...)" left off): an alert's title."""
    return message.split(REQUIRED, 1)[0]


def settings_of(item):
    """The settings of the check's target (its title states their values), or None where none were resolved."""
    target = item.config.stash.get(TARGETS, {}).get(target_of(item))
    return target.settings if target is not None else None


def outcome_of(item, phases):
    """The check's one outcome, from its phases so far (all three, when called at teardown)."""
    declared = severity_of(item)
    measurement = item.stash.get(MEASUREMENT, Measurement())
    title, manual = describe(item, settings_of(item))
    outcome, message, blocked = reachability.blocked_of(item, *result_of(phases))
    outcome, message, waiver = waivers.waiver_of(item, outcome, message)
    return CheckOutcome(
        id=item.nodeid, target=target_of(item), title=title, manual=manual, declared_severity=declared,
        severity=applied_severity(declared, measurement, outcome in ("failed", "waived")),
        schedules=schedules_of(item), outcome=outcome, message=redact(message),
        duration_s=round(sum(r.duration for r, _ in phases), 4),
        value=measurement.value, threshold=measurement.threshold, evidence=measurement.evidence,
        unit=measurement.unit, level3=level3_of(item), waiver=waiver, blocked_by=blocked, trend=measurement.trend,
    )


def outcome_in(report):
    """The outcome dict a check's last report carries, or None (its other reports, a collection report)."""
    return next((value for name, value in getattr(report, "user_properties", ()) if name == PROPERTY), None)


class RunCollector:
    """Where the run is owned: each check's outcome, from its last report, into ``Run.checks``."""

    def __init__(self, config):
        self.config = config

    def pytest_runtest_logreport(self, report):
        found = outcome_in(report)
        if found is not None:
            self.config.stash[RUN].checks.append(CheckOutcome.from_dict(found))

    def pytest_collection_finish(self, session):
        self.config.stash[ORDER] = {item.nodeid: n for n, item in enumerate(session.items)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        """The controller collects nothing itself: the order is the workers' (each collects the same)."""
        self.config.stash.setdefault(ORDER, {check_id: n for n, check_id in enumerate(ids)})


def in_collection_order(config):
    """Sort the run's checks as they were collected (xdist workers report them in any order)."""
    order = config.stash.get(ORDER, {})
    config.stash[RUN].checks.sort(key=lambda c: order.get(c.id, len(order)))


# --- hooks --------------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Name the run before the other plugins configure (results.py probes the folder for it)."""
    config.stash[RUN] = new_run(config)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(RunCollector(config), "digitalme-run-collector")


@pytest.fixture
def check(request):
    """What this check measured: ``check.record(value, threshold)``, ``check.attach(name, text)``."""
    return request.node.stash.setdefault(MEASUREMENT, Measurement())


def failed_here(item, report, call, message):
    """A failed phase's report as the operator reads it: a waived finding judged, the sentence (or the
    traceback without secrets)."""
    if report.when == "call" and not message.startswith(COULD_NOT_CHECK):
        message = waivers.judge_failure(item, report, message)  # an accepted finding: an xfail-like skip
    elif report.when == "call":
        setattr(report, COULD_NOT_CHECK_MARK, True)  # an error, as its outcome says (pytest_report_teststatus)
    if item.config.option.tbstyle == "auto":
        report.longrepr = message  # the operator reads a sentence; --tb=long brings the traceback back
    else:
        report.longrepr = without_secrets(report.longrepr, item.config, call.excinfo)
    return message


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's one-line message; at the last phase (teardown), the check's outcome, onto its report."""
    report = yield
    message = None
    if report.failed:
        message = redact(one_line(report, call.excinfo))
        # a check of an unreachable target is judged "not checked" (a skip naming why), else as a failure
        if not reachability.judge(item, report, message):
            message = failed_here(item, report, call, message)
    phases = item.stash.setdefault(PHASES, [])
    phases.append((report, message))
    if report.when == "teardown":
        secrets = item.config.stash[SETTINGS].secrets() if SETTINGS in item.config.stash else []
        report.user_properties.append((PROPERTY, outcome_of(item, phases).to_dict(secrets)))
    return report


def pytest_report_teststatus(report, config):
    """A check that could not be checked counts as an error in pytest's terminal as in the results file, in
    whichever phase it broke (pytest would count one in the check's body as failed)."""
    if report.when == "call" and report.failed and getattr(report, COULD_NOT_CHECK_MARK, False):
        return "error", "E", "ERROR"
    return None
