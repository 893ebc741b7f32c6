"""Severity: every check is ``critical`` or ``warning`` and runs on a schedule; each report becomes an outcome.

- Markers are registered here; a check without exactly one severity and at least one schedule marker is a
  usage error at collection (nobody can add an unclassified check).
- The ``check`` fixture lets a check record what it measured (``check.record(value, threshold)``), attach
  evidence, and lower one failure to warning where the finding is partial.
- Each finished check becomes a :class:`CheckOutcome` in ``config.stash[RUN].checks``: the one in-memory list
  that the results file, the HTML record and the alerts all read.
- Failures read as one line for the operator (what was measured against what), not a traceback.
- Secrets the target lets slip (a key in a log line, a token in ``/info``) are masked here, where a message,
  value or evidence becomes an outcome (plugins/redaction.py), so no writer or sender ever sees them.
"""

import dataclasses
import datetime as dt
import re
import urllib.parse

import pytest

from plugins.probes import ProbeError  # noqa: F401 - judged here: a probe that could not look
from plugins.redaction import MASK, redact, redacted, secret_parts
from plugins.settings import SETTINGS

SEVERITIES = ("critical", "warning")  # worst first
SCHEDULES = {
    "monitor": "the manual's 5-minute monitor.sh",
    "daily": "the Morning Health Check (daily 09:00)",
    "resources": "Resource Monitoring (every 4 hours)",
    "weekly": "Weekly Maintenance (Sunday 02:00)",
    "monthly": "Monthly Maintenance (first Sunday 01:00)",
}
RUN = pytest.StashKey["Run"]()
MEASUREMENT = pytest.StashKey["Measurement"]()
COULD_NOT_CHECK = "could not be checked: "
EVIDENCE_MAX_CHARS = 4000




@dataclasses.dataclass
class Measurement:
    """What one check measured, filled by the check through the ``check`` fixture."""
    value: object = None
    threshold: object = None
    severity: str = ""  # set when a check lowers its severity for a partial finding
    evidence: dict = dataclasses.field(default_factory=dict)

    def record(self, value, threshold=None):
        """Keep the measured value (and the threshold it is held to) for the results file and report."""
        self.value, self.threshold = redacted(value), redacted(threshold)

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
    severity: str
    declared_severity: str
    schedules: list
    outcome: str  # passed | failed | skipped | error
    message: str
    duration_s: float
    value: object = None
    threshold: object = None
    evidence: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Run:
    """One run of the suite: what the results file, the HTML record and the alerts are made from."""
    started_at: dt.datetime
    selection: str
    stem: str  # "<UTC stamp>-<selection>", the name of this run's files
    checks: list = dataclasses.field(default_factory=list)
    alerts: list = dataclasses.field(default_factory=list)
    heartbeat: dict = None  # the dead-man's switch ping, when one is configured (plugins/alerts.py)
    finished_at: dt.datetime = None
    report_error: str = None  # why the report folder cannot be written (plugins/results.py); alerts still go out
    alert_state_note: str = None  # where the alert state was kept when not in the report folder (plugins/alerts.py)

    @property
    def counts(self):
        counts = dict.fromkeys(("passed", "failed", "skipped", "error"), 0)
        for check in self.checks:
            counts[check.outcome] += 1
        return counts

    @property
    def status(self):
        """The worst severity among failed or errored checks, or ``ok``."""
        bad = {c.severity for c in self.checks if c.outcome in ("failed", "error")}
        return next((severity for severity in SEVERITIES if severity in bad), "ok")


def selection_of(config):
    return config.option.markexpr or "all"


def severity_of(item):
    return next((m.name for m in item.iter_markers() if m.name in SEVERITIES), "")


def describe(item):
    """(title, manual line) from the check's docstring: first line, and the line starting 'Manual:'."""
    doc = (getattr(item, "obj", None).__doc__ or "").strip()
    lines = [line.strip() for line in doc.splitlines()]
    title = lines[0] if lines and lines[0] else item.name
    manual = " ".join(line[len("Manual:"):].strip() for line in lines if line.startswith("Manual:"))
    return title, manual


def applied_severity(declared, measurement, failed):
    """The severity a check alerts at: its marker's, or warning where it lowered a partial finding (a failure
    of the check itself, not a "could not be checked", which keeps the marker's)."""
    return measurement.severity if failed and measurement.severity else declared


def one_line(report):
    """The operator's message for a failed or errored report."""
    excinfo = getattr(report, "_digitalme_excinfo", None)
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


# --- hooks --------------------------------------------------------------------------------------

def pytest_configure(config):
    for severity, meaning in (("critical", "immediate response"), ("warning", "response within 1 hour")):
        config.addinivalue_line("markers", f"{severity}: a failure needs {meaning}")
    for schedule, meaning in SCHEDULES.items():
        config.addinivalue_line("markers", f"{schedule}: runs with {meaning}")
    started = dt.datetime.now(dt.timezone.utc)
    selection = selection_of(config)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", selection).strip("-") or "all"
    config.stash[RUN] = Run(started_at=started, selection=selection, stem=f"{started:%Y%m%dT%H%M%SZ}-{slug}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Refuse unclassified checks before -m deselects them, so none is silently never run."""
    wrong = []
    for item in items:
        names = [m.name for m in item.iter_markers()]
        severities = [n for n in names if n in SEVERITIES]
        if len(set(severities)) != 1 or not any(n in SCHEDULES for n in names):
            wrong.append(f"{item.nodeid} (severity markers: {sorted(set(severities)) or 'none'}, "
                         f"schedule markers: {sorted(set(n for n in names if n in SCHEDULES)) or 'none'})")
    if wrong:
        raise pytest.UsageError("every check needs exactly one severity marker (critical or warning) and at "
                                "least one schedule marker (" + ", ".join(SCHEDULES) + "):\n  " + "\n  ".join(wrong))


@pytest.fixture
def check(request):
    """What this check measured: ``check.record(value, threshold)``, ``check.attach(name, text)``."""
    return request.node.stash.setdefault(MEASUREMENT, Measurement())


_REPORTS = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report._digitalme_excinfo = call.excinfo
    if report.failed:
        message = redact(one_line(report))
        if item.config.option.tbstyle == "auto":
            report.longrepr = message  # the operator reads a sentence; --tb=long brings the traceback back
        else:
            report.longrepr = without_secrets(report.longrepr, item.config, call.excinfo)
        report._digitalme_message = message
    item.stash.setdefault(_REPORTS, []).append(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Turn this check's reports (setup, call, teardown) into one outcome."""
    result = yield
    item.config.stash[RUN].checks.append(outcome_of(item, item.stash.get(_REPORTS, [])))
    return result


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
    secrets = config.stash[SETTINGS].secrets() if SETTINGS in config.stash else []
    for secret in secrets + [urllib.parse.urlsplit(s).path for s in secrets if "://" in s]:
        if len(secret) >= 4:
            cleaned = cleaned.replace(secret, "***")
    return longrepr if cleaned == text else cleaned


def outcome_of(item, reports):
    declared = severity_of(item)
    measurement = item.stash.get(MEASUREMENT, Measurement())
    title, manual = describe(item)
    failed = next((r for r in reports if r.failed), None)
    skipped = next((r for r in reports if r.skipped), None)
    if failed is not None:
        outcome = "failed" if failed.when == "call" else "error"
        message = failed._digitalme_message
    elif skipped is not None:
        outcome = "skipped"
        message = skipped.longrepr[2].removeprefix("Skipped: ") if isinstance(skipped.longrepr, tuple) else str(skipped.longrepr)
    else:
        outcome, message = "passed", ""
    if outcome == "failed" and message.startswith(COULD_NOT_CHECK):
        outcome = "error"  # a check that could not run is an error, whatever phase it broke in
    severity = applied_severity(declared, measurement, outcome == "failed")
    return CheckOutcome(
        id=item.nodeid, title=title, manual=manual, severity=severity, declared_severity=declared,
        schedules=sorted({m.name for m in item.iter_markers() if m.name in SCHEDULES}),
        outcome=outcome, message=redact(message), duration_s=round(sum(r.duration for r in reports), 4),
        value=measurement.value, threshold=measurement.threshold, evidence=measurement.evidence,
    )
