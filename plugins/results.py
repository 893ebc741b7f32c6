"""The results file: ``<report dir>/<UTC stamp>-<selection>.json`` and ``latest.json``, every run, atomically.

Schema 1 (stable; extended only by adding fields)::

    {"schema": 1, "started_at", "finished_at", "selection", "target": {non-secret settings},
     "status": "ok|warning|critical", "counts": {"passed", "failed", "skipped", "error"},
     "checks": [{"id", "title", "manual", "severity", "declared_severity", "schedules", "outcome",
                 "message", "duration_s", "value", "threshold", "evidence"}],
     "alerts": [{"payload": {"severity", "service", "message", "timestamp", "status", "check", "title", "target",
                             "fingerprint", "report", "value", "threshold"},
                 "state", "reason", "route", "delivered", "attempts", "last_error", "from_outbox"}],
     "heartbeat": {"variant", "pinged", "attempts", "last_error"} or null, "files": {"json", "html"}}

The terminal's last line is one status line in the manual's words, as Nagios plugins print it.
"""

import dataclasses
import datetime as dt
import html
import json
import os
import tempfile

import pytest

from plugins.settings import SETTINGS
from plugins.severity import RUN

SCHEMA = 1
_UMASK = os.umask(0)
os.umask(_UMASK)
RESULTS_FILES = pytest.StashKey[dict]()


def paths_of(config):
    """This run's files: ``{"json": ..., "html": ...}`` under the report directory."""
    if RESULTS_FILES not in config.stash:
        folder = config.stash[SETTINGS].report_dir
        stem = config.stash[RUN].stem
        config.stash[RESULTS_FILES] = {"json": os.path.join(folder, stem + ".json"),
                                       "html": os.path.join(folder, stem + ".html")}
    return config.stash[RESULTS_FILES]


def write_atomically(path, text):
    """Write beside the target, then rename over it: a crash never leaves half a file."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the record is for readers (a web server, auditors)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def scrub(text, secrets):
    """Remove secret values from anything about to be written or sent."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def secret_forms(secrets):
    """Each secret as written plainly, HTML-escaped and JSON-escaped (a JSON or HTML file may hold any of them)."""
    forms = set()
    for secret in secrets:
        as_json = json.dumps(secret)[1:-1]
        forms.update({secret, html.escape(secret), as_json, html.escape(as_json)})
    return sorted(forms, key=len, reverse=True)


def as_document(config):
    run = config.stash[RUN]
    settings = config.stash[SETTINGS]
    return {
        "schema": SCHEMA,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "finished_at": (run.finished_at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "selection": run.selection,
        "target": settings.redacted(),
        "status": run.status,
        "counts": run.counts,
        "checks": [dataclasses.asdict(check) for check in run.checks],
        "alerts": run.alerts,
        "heartbeat": run.heartbeat,
        "files": paths_of(config),
    }


def status_line(config):
    run = config.stash[RUN]
    failed = [c for c in run.checks if c.outcome in ("failed", "error")]
    by_severity = [f"{n} {s}" for s in ("critical", "warning") if (n := sum(c.severity == s for c in failed))]
    counts = run.counts
    detail = (", ".join(by_severity) + f" failed of {len(run.checks)} checks") if failed else \
        f"{counts['passed']} checks passed" + (f", {counts['skipped']} skipped" if counts["skipped"] else "")
    return f"DigitalMe: {run.status.upper()} - {detail} - report {paths_of(config)['html']}"


# --- hooks --------------------------------------------------------------------------------------

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """Written last, so it carries the alerts' delivery outcomes."""
    config = session.config
    if SETTINGS not in config.stash or hasattr(config, "workerinput"):
        return  # settings were invalid (nothing ran), or an xdist worker: the controller writes
    run = config.stash[RUN]
    run.finished_at = dt.datetime.now(dt.timezone.utc)
    text = scrub(json.dumps(as_document(config), indent=1, default=str), secret_forms(config.stash[SETTINGS].secrets()))
    target = paths_of(config)["json"]
    write_atomically(target, text)
    write_atomically(os.path.join(os.path.dirname(target), "latest.json"), text)


def pytest_terminal_summary(terminalreporter, config):
    if SETTINGS in config.stash and config.stash[RUN].checks:
        run = config.stash[RUN]
        colour = {"ok": {"green": True}, "warning": {"yellow": True}, "critical": {"red": True}}[run.status]
        terminalreporter.write_line(status_line(config), bold=True, **colour)
        terminalreporter.write_line(f"DigitalMe: results {paths_of(config)['json']}")
