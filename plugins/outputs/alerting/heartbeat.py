"""The heartbeat, after the alert cycle: ``heartbeat_url`` gets a GET, a dead-man's switch; ``<url>/fail`` when a
check failed, when nothing ran (no check selected), when the report folder could not be written, when any alert was
not delivered (queued, failed, spooled, dropped, or alerting broke), or on pytest's own failure exit. It is tried
even when the alerts used up the budget (sender.py's ``HEARTBEAT_MIN_S``): it proves the run happened."""

import contextlib

from plugins.configuration.settings import SETTINGS
from plugins.outcomes.run import FAILING
from plugins.outputs.alerting.records import failure_text
from plugins.outputs.alerting.sender import Sender
from plugins.outputs.results import REPORT_ERROR

UNDELIVERED = ("queued", "failed", "spooled", "dropped", "error")  # the heartbeat says /fail


def beat(config, run, deadline, exitstatus):
    """``run.heartbeat``: how the ping went (``{"variant", "why", "pinged", "attempts", "last_error"}``), None
    without a heartbeat URL. Never raises."""
    settings = config.stash[SETTINGS]
    if not settings.heartbeat_url:
        return run.heartbeat
    try:
        return ping(config, run, settings.alerts, deadline, exitstatus)
    except Exception as e:
        return {"variant": "?", "pinged": False, "attempts": 0, "last_error": failure_text(e, settings)}


def fails(config, run, exitstatus):
    """Why the heartbeat says /fail, or "" when the run was good: a failed check, nothing run, a broken report
    folder, an alert not delivered, or pytest's own failure exit."""
    if any(c.outcome in FAILING for c in run.checks):
        return "a check failed"
    if not run.checks:
        return "no check ran"
    if run.report_error or REPORT_ERROR in config.stash:
        return "the report folder cannot be written"
    if any(entry["state"] in UNDELIVERED for entry in run.alerts):
        return "an alert was not delivered"
    if exitstatus not in (0,):
        return f"pytest exit {int(exitstatus)}"
    return ""


def ping(config, run, mode, deadline, exitstatus):
    """Ping the dead-man's switch: ``<url>`` when the run was good, ``<url>/fail`` otherwise."""
    why = fails(config, run, exitstatus)
    variant = "fail" if why else "ok"
    if mode == "dry-run":
        return {"variant": variant, "why": why, "pinged": False, "dry_run": True, "attempts": 0, "last_error": None}
    url = config.stash[SETTINGS].heartbeat_url + ("/fail" if why else "")
    with contextlib.closing(Sender(deadline)) as sender:
        return dict(sender.ping(url), variant=variant, why=why)
