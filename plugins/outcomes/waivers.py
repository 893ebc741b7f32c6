"""Waivers: known findings accepted for a while, each with a reason, an owner and an expiry (InSpec's waivers).
What a waiver does, its states, which ids it names and when its file is read: docs/design.md, "Waivers";
the file's format for operators: docs/waivers.md.
"""

import os

import pytest

from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import TARGETS, fleet, target_of, without_target
from plugins.outcomes.run import RUN, owns_run
from plugins.outcomes.waivers_checks import undefined_checks, unknown_checks
from plugins.outcomes.waivers_file import load, today

WAIVERS = pytest.StashKey[list]()  # the run's waivers, in the file's order (empty without a file)
JUDGED = pytest.StashKey[tuple]()  # on an item: (the waiver entry of its failure, the failure's message)
PREFIX = "waived: "  # how a waived report's ``wasxfail`` starts
APPLIED, EXPIRED, NOT_NEEDED, UNUSED = "applied", "expired", "not needed", "unused"


# --- applying them, where each check's outcome is built (plugins/outcomes/build.py) -------------------------

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
    if under_xdist_controller(config) and (problems := undefined_checks(config, waivers_of(config))):
        stop_for(config, problems)


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter, config):
    """One line naming the waivers an operator should remove or renew (before the status line)."""
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
    problems = unknown_checks(config, items, waivers_of(config))
    if problems:
        stop_for(config, problems)
