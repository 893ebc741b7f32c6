"""Building the run from pytest's reports: each finished check becomes one :class:`CheckOutcome` (plugins/outcomes/
run.py), built once, where the check ran; and the start of the run, in order (:func:`pytest_configure`).

- The ``check`` fixture lets a check record what it measured (``check.record(value, threshold)``), attach
  evidence, and lower one failure to warning where the finding is partial.
- Failures read as one line for the operator, not a traceback: what was found, then what was required
  (``disk / at 83 % (required: below 80 %)``), or ``could not be checked: <what happened>``. A check's title is its
  docstring's first line with the target's values in its ``{setting}`` fields (plugins/configuration/markers.py).
  pytest's report of such a failure is built without a traceback at all
  (:func:`pytest_runtest_makereport_without_traceback`): pytest would parse every traceback entry's source only for
  the sentence to replace it (24 ms a failure, most of a fleet-wide outage's run). A defect of the suite itself
  (any other exception: a TypeError in a check) keeps pytest's traceback, as every failure does under an explicit
  ``--tb``.
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

import re

import pytest

from plugins.configuration.markers import describe, level3_of, schedules_of, severity_of
from plugins.configuration.settings import SETTINGS
from plugins.configuration.stage import settle
from plugins.configuration.targets import TARGETS, target_of
from plugins.outcomes import reachability, waivers
from plugins.outcomes.run import (COULD_NOT_CHECK, COULD_NOT_CHECK_MARK, ORDER, PROPERTY, RUN, CheckOutcome,
                                  Measurement, new_run, outcome_in)
from plugins.probes import ProbeError
from plugins.secrets import MASK, redact, scrub, secret_parts

MEASUREMENT = pytest.StashKey["Measurement"]()
# What a check reports in its own words: a finding (an assert, pytest.fail, pytest-timeout's), a probe that could
# not look, or what the environment answered instead (OSError: a refused connection, a missing file). Any other
# exception is a defect of the suite and keeps its traceback.
SUITE_FAILURES = (AssertionError, pytest.fail.Exception, ProbeError, OSError)
PHASES = pytest.StashKey[list]()  # (report, one-line message or None) of each phase run so far, on the item


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


def a_defect(excinfo):
    """Whether a phase's exception is a defect of the suite (not one of SUITE_FAILURES): it keeps its traceback."""
    return excinfo is not None and not isinstance(excinfo.value, SUITE_FAILURES)


def in_a_sentence(config, excinfo):
    """Whether a failed phase reads as the suite's sentence alone: under the default ``--tb`` (an operator's
    explicit ``--tb=long|short|native|...`` gets pytest's report), and not a defect of the suite."""
    return config.option.tbstyle == "auto" and not a_defect(excinfo)


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



# --- hooks --------------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The start of the run, in this order, before any other plugin configures (the suite's one ``tryfirst``
    configure): the configuration (the settings, then the targets: a bad one stops the run here, exit 4), then the
    run's name (results.py claims it in the report folder at its configure)."""
    settle(config)
    config.stash[RUN] = new_run(config)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(RunCollector(config), "digitalme-run-collector")


@pytest.fixture
def check(request):
    """What this check measured: ``check.record(value, threshold)``, ``check.attach(name, text)``."""
    return request.node.stash.setdefault(MEASUREMENT, Measurement())


def secrets_of(config):
    """The settings' secrets (webhook URLs, tokens), which no message may show."""
    return config.stash[SETTINGS].secrets() if SETTINGS in config.stash else []


def failed_here(item, report, call, message):
    """A failed phase's report as the operator reads it: a waived finding judged, the sentence (or the
    traceback without secrets)."""
    if report.when == "call" and not message.startswith(COULD_NOT_CHECK):
        message = waivers.judge_failure(item, report, message)  # an accepted finding: an xfail-like skip
    elif report.when == "call":
        setattr(report, COULD_NOT_CHECK_MARK, True)  # an error, as its outcome says (pytest_report_teststatus)
    if in_a_sentence(item.config, call.excinfo):
        report.longrepr = message  # the operator reads a sentence; --tb=long brings the traceback back
    else:
        report.longrepr = without_secrets(report.longrepr, item.config, call.excinfo)
    return message


@pytest.hookimpl(specname="pytest_runtest_makereport")
def pytest_runtest_makereport_without_traceback(item, call):
    """pytest's report of a phase that failed with one of the suite's own failures, built as pytest builds a passed
    phase's, then failed, its ``longrepr`` the exception's line (what :func:`one_line` reads, as it would pytest's
    crash line), the sentence once the wrapper below has it. ``None`` (pytest builds its report, traceback and
    all) for a pass, a skip, a defect of the suite, an explicit ``--tb``, or a check marked ``xfail`` (an xfailed
    report keeps pytest's traceback)."""
    excinfo = call.excinfo
    if (excinfo is None or not in_a_sentence(item.config, excinfo) or excinfo.errisinstance(pytest.xfail.Exception)
            or item.get_closest_marker("xfail") is not None):
        return None
    report = pytest.TestReport.from_item_and_call(item, pytest.CallInfo.from_call(lambda: None, call.when))
    report.outcome, report.longrepr = "failed", excinfo.exconly(tryshort=True)
    report.duration, report.start, report.stop = call.duration, call.start, call.stop
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's one-line message; at the last phase (teardown), the check's outcome, onto its report."""
    report = yield
    message = None
    if report.failed:  # masked before anything shows it: the terminal's summary prints this sentence too
        message = scrub(redact(one_line(report, call.excinfo)), secrets_of(item.config))
        # a check of an unreachable target is judged "not checked" (a skip naming why), else as a failure
        if not reachability.judge(item, report, message):
            message = failed_here(item, report, call, message)
    phases = item.stash.setdefault(PHASES, [])
    phases.append((report, message))
    if report.when == "teardown":
        report.user_properties.append((PROPERTY, outcome_of(item, phases).to_dict(secrets_of(item.config))))
    return report


def pytest_report_teststatus(report, config):
    """A check that could not be checked counts as an error in pytest's terminal as in the results file, in
    whichever phase it broke (pytest would count one in the check's body as failed)."""
    if report.when == "call" and report.failed and getattr(report, COULD_NOT_CHECK_MARK, False):
        return "error", "E", "ERROR"
    return None
