"""Waivers: known findings accepted for a while, each with a reason, an owner and an expiry (InSpec's waivers).

``DIGITALME_WAIVERS`` / ``--digitalme-waivers FILE`` names a TOML file::

    [[waiver]]
    check = "tests_backup/test_backups.py::test_enough_recent_backups"   # a trailing * matches its parameters
    target = "prod"                  # optional, fleet mode: only this target's check
    reason = "backup job moved to the new host on Monday"
    owner = "sysadmin@your-domain.com"
    expires = 2026-12-31             # a TOML date; at most DIGITALME_WAIVER_MAX_DAYS (90) ahead
    message = "^2 recent backups"    # optional: only failures whose message matches (re.search)

A check that FAILED (not "could not be checked": a check that did not run is not the accepted finding) and is
matched by an active waiver gets the outcome ``waived``: it does not raise the status, is not alerted, and its
pytest report becomes an xfail-like skip (``x`` in the terminal, exit 0 when nothing else failed). Each check a
waiver names carries ``waiver`` in the results file with its state: ``applied``; ``expired`` (the waiver's day
has passed: the check failed and alerts as usual, and its message says so); ``not needed`` (the check passed).
The file's top-level ``waivers`` gives each waiver's state this run: the same, or ``unused`` (it named no check
that passed or failed as it describes: not selected, skipped, could not be checked, another message).

A waiver's ``check`` is the check's id as a run without a targets file names it (alert fingerprints and
Prometheus labels name it so too), and applies in a fleet to that check on every target; ``target`` narrows it to
one target. The id as a fleet names it (``...::test_x[prod]``, ``...[prod-/health]``: copied from a fleet's
results file) is the same as that id with ``target = "prod"``; the id with testinfra's host parameter of earlier
versions (``...::test_host_memory_below_threshold[local]``) is the same as the id without it. Either way the waiver
applies in both modes where its check runs.

The file is read at start-up, on the xdist workers too (they build the outcomes); any problem (a missing or invalid
file, an unknown key, a missing reason, owner or expiry, an expiry too far ahead, a bad regex, a target not in the
targets file) stops the run before any check (exit 4), naming the file, the waiver's number and the key. So does a
waiver whose check is no check of the suite, in any selection (a typo, a renamed or removed check), with a
did-you-mean: it is found once the checks are collected and before ``-m``/``-k`` deselect any
(:func:`pytest_collection_modifyitems`), still before any check runs. Where the run names paths or check ids
(``pytest tests_health/``), a waiver of a check outside them is held to its file defining that function.
"""

import dataclasses
import datetime as dt
import os
import re

import pytest

from plugins.configuration.parsers import closest
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import TARGETS, current_id, fleet, target_of, without_target
from plugins.configuration.toml import read_toml

WAIVERS = pytest.StashKey[list]()  # the run's waivers, in the file's order (empty without a file)
JUDGED = pytest.StashKey[tuple]()  # on an item: (the waiver entry of its failure, the failure's message)
KEYS = ("check", "target", "reason", "owner", "expires", "message")
PREFIX = "waived: "  # how a waived report's ``wasxfail`` starts
APPLIED, EXPIRED, NOT_NEEDED, UNUSED = "applied", "expired", "not needed", "unused"


@dataclasses.dataclass(frozen=True)
class Waiver:
    number: int  # its place in the file, from 1
    check: str
    reason: str
    owner: str
    expires: dt.date
    target: str = None
    message: str = None  # a regex the failure's message must match (re.search), or None

    def names(self, check_id, target):
        """True when this waiver is about the check ``check_id`` (its id without the target) on ``target``."""
        if self.target is not None and self.target != target:
            return False
        if not self.check.endswith("*"):
            return check_id == self.check
        base = self.check[:-1]
        if not check_id.startswith(base):
            return False
        rest = check_id[len(base):]
        return rest == "" or rest.startswith("[") or "[" in base  # its parameters, not another check's name

    def accepts(self, message):
        return self.message is None or re.search(self.message, message) is not None

    def expired(self, today):
        return self.expires < today

    def entry(self, state):
        """What a check's (and the results file's) ``waiver`` says."""
        return {"check": self.check, "target": self.target, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat(), "state": state}


def today():
    """The waivers' day: UTC, like every stamp of the run (a waiver expiring today still applies today)."""
    return dt.datetime.now(dt.timezone.utc).date()


def required_text(waiver, key, where, problems, what):
    value = waiver.get(key)
    if value is None:
        problems.append(f"{where} {key}: missing ({what})")
    elif not isinstance(value, str) or not value.strip():
        problems.append(f"{where} {key} = {value!r}: expected a non-empty string ({what})")
    else:
        return value.strip()
    return None


def as_named(check, target_names, where, target, problems):
    """(the check's id as a run without a targets file names it, the target its id named or None): a fleet's id
    (``test_x[prod-/health]``) names the check ``test_x[/health]`` on target prod; an id of earlier versions with
    testinfra's host parameter (``test_x[local]``) is ``test_x``."""
    if check is None:
        return None, None
    in_id = next((n for n in target_names or () if re.search(rf"\[{re.escape(n)}(\]|-)", check)), None)
    if in_id is None:
        return current_id(check), None
    if check.endswith("*"):
        problems.append(f"{where} check = {check!r}: write the check's id without the target's parameter "
                        f"({in_id}) before the *, and target = {in_id!r} to narrow the waiver to it")
    elif target is not None and target != in_id:
        problems.append(f"{where} check = {check!r} is target {in_id}'s id, but target = {target!r}: name the "
                        f"check without the target's parameter ({without_target(check, in_id)})")
    return without_target(check, in_id), in_id


def one(waiver, number, where, problems, day, max_days, target_names):
    """The waiver of one ``[[waiver]]`` table, or None; its problems appended naming ``where`` and the key."""
    before = len(problems)
    for key in waiver:
        if key not in KEYS:
            close = closest(key, KEYS)
            problems.append(f"{where} {key}: not a key of a waiver" + (f" (did you mean {close}?)" if close else "")
                            + f"; expected {', '.join(KEYS)}")
    check = required_text(waiver, "check", where, problems, "a check id, e.g. tests_backup/test_backups.py::"
                                                          "test_enough_recent_backups")
    if check is not None and ("::" not in check or "*" in check[:-1]):
        problems.append(f"{where} check = {check!r}: expected a check id such as tests_backup/test_backups.py::"
                        "test_enough_recent_backups (a * only at the end, for its parameters)")
    check, in_id = as_named(check, target_names, where, waiver.get("target"), problems)
    reason = required_text(waiver, "reason", where, problems, "why the finding is accepted")
    owner = required_text(waiver, "owner", where, problems, "who answers for it, e.g. an e-mail address")
    expires = waiver.get("expires")
    if expires is None:
        problems.append(f"{where} expires: missing (a TOML date such as {day + dt.timedelta(days=30)}, "
                        f"at most {max_days} days ahead)")
    elif not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
        problems.append(f"{where} expires = {expires!r}: expected a TOML date such as "
                        f"{day + dt.timedelta(days=30)} (no quotes, no time)")
    elif (expires - day).days > max_days:
        problems.append(f"{where} expires = {expires}: {(expires - day).days} days ahead, more than "
                        f"DIGITALME_WAIVER_MAX_DAYS = {max_days}: a waiver is reviewed, not forgotten")
    target = waiver.get("target", in_id)
    if target is not None:
        if not isinstance(target, str) or not target.strip():
            problems.append(f"{where} target = {target!r}: expected a target's name")
        elif target_names is None:
            problems.append(f"{where} target = {target!r}: this run has no targets file, so no check has a "
                            f"target (remove the key, or run with DIGITALME_TARGETS)")
        elif target not in target_names:
            close = closest(target, target_names)
            problems.append(f"{where} target = {target!r}: not a target of the targets file"
                            + (f" (did you mean {close}?)" if close else f" ({', '.join(target_names)})"))
    message = waiver.get("message")
    if message is not None:
        if not isinstance(message, str) or not message:
            problems.append(f"{where} message = {message!r}: expected a regular expression (a string)")
        else:
            try:
                re.compile(message)
            except re.error as e:
                problems.append(f"{where} message = {message!r}: not a valid regular expression ({e})")
    if len(problems) > before:
        return None
    return Waiver(number, check, reason, owner, expires, target, message)


def load(path, max_days, day=None, target_names=None):
    """The waivers of the file at ``path`` (``target_names``: the targets file's targets, None without one);
    raises pytest.UsageError naming the file and every problem."""
    day = day or today()

    def stop(problems):
        raise pytest.UsageError(f"invalid DigitalMe waivers file {path}:\n  " + "\n  ".join(problems))
    document = read_toml(path, stop)
    problems = [f"{key}: not a part of a waivers file (expected [[waiver]] tables)" for key in document
                if key != "waiver"]
    tables = document.get("waiver", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        stop(problems + ["waiver: expected [[waiver]] tables (an array of tables)"])
    found = [one(table, n, f"waiver {n}:", problems, day, max_days, target_names)
             for n, table in enumerate(tables, 1)]
    if problems:
        stop(problems)
    return found


# --- applying them, where each check's outcome is built (plugins/outcomes/run.py) ---------------------------

def waivers_of(config):
    return config.stash.get(WAIVERS, [])


def naming(item):
    """The waivers about this check (its id without the target, and its target), in the file's order."""
    waivers = waivers_of(item.config)
    if not waivers:
        return []
    target = target_of(item)
    check_id = without_target(item.nodeid, target)
    return [w for w in waivers if w.names(check_id, target)]


def judge_failure(item, report, message):
    """A check's call phase failed with ``message`` (not "could not be checked"): returns the message to show.

    An active waiver that accepts it makes the report an xfail-like skip (``waived: ...``) and the outcome
    ``waived``; an expired one only says so in the message (the check fails and alerts as usual)."""
    day = today()
    matching = [w for w in naming(item) if w.accepts(message)]
    active = next((w for w in matching if not w.expired(day)), None)
    if active is not None:
        item.stash[JUDGED] = (active.entry(APPLIED), message)
        report.outcome = "skipped"
        report.wasxfail = f"{PREFIX}{active.reason} ({active.owner}, until {active.expires})"
        return message
    lapsed = next(iter(matching), None)
    if lapsed is None:
        return message
    message = f"{message} (waiver {lapsed.number} of {lapsed.owner} expired on {lapsed.expires}: {lapsed.reason})"
    item.stash[JUDGED] = (lapsed.entry(EXPIRED), message)
    return message


def waiver_of(item, outcome, message):
    """(outcome, message, waiver entry) of a check at teardown, from what its call phase judged."""
    judged = item.stash.get(JUDGED, None)
    if judged is not None:
        entry, failure = judged
        if entry["state"] == APPLIED:
            return ("waived", failure, entry) if outcome == "skipped" else (outcome, message, None)
        return outcome, message, entry if outcome == "failed" else None
    if outcome == "passed":
        day, named = today(), naming(item)
        found = next((w for w in named if not w.expired(day)), next(iter(named), None))
        if found is not None:
            return outcome, message, found.entry(EXPIRED if found.expired(day) else NOT_NEEDED)
    return outcome, message, None


def states(config, checks):
    """Every waiver of the file with its state this run (applied, expired, not needed or unused), and the checks
    whose entries name it."""
    day = today()
    found = []
    for waiver in waivers_of(config):
        mine = [c for c in checks if c.waiver and c.waiver == waiver.entry(c.waiver["state"])]
        named = {c.waiver["state"] for c in mine}
        state = EXPIRED if waiver.expired(day) else next(
            (s for s in (APPLIED, NOT_NEEDED) if s in named), UNUSED)
        entry = {"number": waiver.number, **waiver.entry(state)}
        if waiver.message is not None:
            entry["message"] = waiver.message
        entry["checks"] = sorted({c.id for c in mine})
        found.append(entry)
    return found


def cleanup_line(config, checks):
    """The terminal's one line of waivers to clean up (expired, no longer needed), or None."""
    listed = states(config, checks)
    expired = [w for w in listed if w["state"] == EXPIRED]
    unneeded = [w for w in listed if w["state"] == NOT_NEEDED]
    if not expired and not unneeded:
        return None

    def named(w):
        return f"{w['number']} ({w['check']}" + (f" on {w['target']}" if w["target"] else "") + f", {w['owner']})"
    parts = (["expired: " + "; ".join(f"{named(w)} on {w['expires']}" for w in expired)] if expired else []) + (
        ["no longer needed (the check passed): " + "; ".join(map(named, unneeded))] if unneeded else [])
    return f"DigitalMe waivers to clean up in {config.stash[SETTINGS].waivers}: " + " - ".join(parts)


# --- every waiver names a check of the suite --------------------------------------------------------------

def functions_in(path):
    """The check functions (``test_*``) a module defines, by reading it (not importing it); empty when it cannot
    be read."""
    import ast  # here: only a run naming paths, with a waiver of a check outside them, needs it
    if path.suffix != ".py":
        return set()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def whole_suite_collected(config):
    """Whether collection saw every check of the suite (its test paths, nothing ignored, no ``--lf`` skipping
    modules), so that a check's parameters can be told too."""
    option = config.option
    return config.args_source is pytest.Config.ArgsSource.TESTPATHS and not option.ignore \
        and not option.ignore_glob and not getattr(option, "lf", False)


def unknown_checks(config, items):
    """The problems of the waivers that name no check of the suite, each with a did-you-mean."""
    known = {without_target(item.nodeid, target_of(item)) for item in items}
    whole = whole_suite_collected(config)
    problems = []
    for waiver in waivers_of(config):
        if any(waiver.names(check_id, waiver.target) for check_id in known):
            continue
        module, _, function = waiver.check.partition("::")
        defined = set() if whole else {f"{module}::{name}" for name in functions_in(config.rootpath / module)}
        if f"{module}::{function.rstrip('*').split('[')[0]}" in defined:
            continue  # outside the checks named on the command line: its module defines it (parameters unknown)
        close = closest(waiver.check.rstrip("*"), sorted(known | defined))
        hint = (f" (did you mean {close}?)" if close else
                f" (no close match among the {len(known)} checks collected)")
        problems.append(f"waiver {waiver.number}: check = {waiver.check!r}: names no check of the suite{hint}")
    return problems


def suite_modules(config):
    """The suite's check modules (``tests_health/test_endpoints.py`` ...), under its test paths."""
    paths = config.getini("testpaths") or ["."]
    return sorted(str(found.relative_to(config.rootpath)) for folder in paths
                  for found in (config.rootpath / folder).rglob("test_*.py"))


def undefined_checks(config):
    """Where the checks are collected by pytest-xdist's workers, not here: the problems of the waivers whose
    module does not define their check's function (read, not imported), each with a did-you-mean. The workers
    cannot stop the run with a usage error (pytest-xdist reports it as a crash), so a check's parameters are not
    told apart under ``-n``."""
    modules = suite_modules(config)
    problems = []
    for waiver in waivers_of(config):
        module, _, function = waiver.check.partition("::")
        name = function.rstrip("*").split("[")[0]
        defined = functions_in(config.rootpath / module)
        if name in defined:
            continue
        close = closest(name, sorted(defined))
        close = f"{module}::{close}" if close else closest(module, modules)
        hint = f" (did you mean {close}?)" if close else ""
        problems.append(f"waiver {waiver.number}: check = {waiver.check!r}: names no check of the suite{hint}")
    return problems


def stop_for(config, problems):
    raise pytest.UsageError(f"invalid DigitalMe waivers file {config.stash[SETTINGS].waivers}:\n  "
                            + "\n  ".join(problems))


def under_xdist_controller(config):
    return getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")


# --- hooks --------------------------------------------------------------------------------------

def pytest_configure(config):
    """Read the waivers once settings and targets are known (settled by the run's one tryfirst configure:
    plugins/outcomes/build.py), on the controller and on each xdist worker alike."""
    if SETTINGS not in config.stash:
        return
    settings = config.stash[SETTINGS]
    if not settings.waivers:
        config.stash[WAIVERS] = []
        return
    names = [n for n in config.stash.get(TARGETS, {})] if fleet(config) else None
    config.stash[WAIVERS] = load(os.path.expanduser(settings.waivers), settings.waiver_max_days,
                                 target_names=names)
    if under_xdist_controller(config) and (problems := undefined_checks(config)):
        stop_for(config, problems)


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter, config):
    """One line naming the waivers an operator should remove or renew (before the status line)."""
    from plugins.outcomes.run import RUN, owns_run
    if owns_run(config) and waivers_of(config):
        line = cleanup_line(config, config.stash[RUN].checks)
        if line:
            terminalreporter.write_line(line, yellow=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """A waiver naming no check of the suite stops the run (exit 4): judged on every collected check, before
    ``-m``, ``-k`` or ``--deselect`` remove any, so a waiver of another schedule's check is not refused."""
    if not waivers_of(config) or session.testsfailed or hasattr(config, "workerinput"):
        return  # a module that failed to import is reported as such; xdist's controller judged the names already
    problems = unknown_checks(config, items)
    if problems:
        stop_for(config, problems)
