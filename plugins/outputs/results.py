"""The results file: ``<report dir>/<UTC stamp>-<selection>.json`` and ``latest.json``, every run, atomically.

The name is the run's own: a second run of the selection that starts in the same second is
``<UTC stamp>-<selection>_2.json`` (claimed at start-up, :func:`claimed_stem`), so neither overwrites the other.

Schema 1 (stable; extended only by adding fields; every field, and what bumps ``schema_version``:
docs/schemas/results.schema.json, docs/reference/results-file.md)::

    {"schema": 1, "schema_version": "1.0", "started_at", "finished_at", "selection", "target": {non-secret settings},
     "status": "ok|warning|critical",
     "targets": {"<name>": "ok|warning|critical"}, "target_settings": {"<name>": {...}},  (fleet runs only)
     "counts": {"passed", "failed", "skipped", "error", "waived", "not checked"},
     "checks": [{"id", "title", "manual", "severity", "declared_severity", "schedules", "outcome",
                 "message", "duration_s", "value", "threshold", "evidence", "target" (null without a fleet),
                 "failing_since", "failing_runs", "new_finding" (a failing check only, else null: the start of
                 the first run of its current streak of failing runs of this selection, per target; the
                 streak's length with this run; whether the previous run of this selection did not fail it),
                 "waiver": {"check", "target", "reason", "owner", "expires", "state"} or null,
                 "blocked_by": {"check", "finding", "outcome", "message"} or null (a "not checked" check: the
                 headline of its unreachable target, and the failure it would have been: plugins/outcomes/reachability.py),
                 "trend": {"name", "title", "unit", "value" (the number charted, or null)} or null (the trend the
                 check declared where it recorded its value: plugins/outcomes/trends.py; since issue 24)}],
     "waivers": [{"number", "check", "target", "reason", "owner", "expires", "message" (when set), "state",
                  "checks"}],   (every waiver of the waivers file, its state this run: plugins/outcomes/waivers.py)
     "alerts": [{"payload": {"severity", "service", "message", "timestamp", "status", "check", "title", "target",
                             "fingerprint", "report", "value", "threshold", "target_name" (fleet runs only)},
                 "target" (the target's name, null without a fleet), "state", "reason", "route", "delivered", "attempts", "last_error", "from_outbox", "from_held",
                 "from_spool", "held_at"}],   (states and their meaning: plugins/outputs/alerting)
     "heartbeat": {"variant", "why", "pinged", "attempts", "last_error"} or null,
     "alert_state": null or where the alert state was kept instead of <report dir>/alerts, and why,
     "files": {"json", "html"},
     "chain": {"previous": "<the previous kept results file's name>" or null, "previous_sha256": "<its hex
               SHA-256>" or null, "records": {"<HTML record written since>": "<its hex SHA-256>"}},
               (the tamper-evident chain: plugins/outputs/history/, scripts/verify-records; "records" since issue 23;
               "unlinked": why, on a file written without the history lock, outside the chain)
     "thinned": true, "thinned_files": {"json", "html"}}  (latest.json of a thinned run only: "files" then names
                                                         latest.*, "thinned_files" the dated files removed)

The terminal's last line is one status line in the manual's words, as Nagios plugins print it. A thinned run (a
repeat kept as a history line, plugins/outputs/history/) loses its dated files at the end of the run: its status line
names ``latest.html`` and ``latest.json``, which hold it (their ``files`` name the dated files, not kept).

A report folder that cannot be written (missing and not creatable, read-only, full) never stops the run: it is
probed once at start-up (a folder made if missing, a small file written), the record is then not
attempted, the checks, alerts and heartbeat run as usual, and the run ends with one line naming the folder,
``DigitalMe: ERROR - report folder <path> cannot be written (<reason>): ...``, and a non-zero exit (pytest's own
when it is not 0, else 1). A folder that fails later (filled during the run) ends the same way.

This module is the one writer of the results file and ``latest.json``: :func:`write_results` writes both, at step 2
of plugins/pipeline.py's end of a run (after the alerts, so the file carries their delivery outcomes; from
plugins/outputs/history/'s ``add_run``, under the history's lock, as the since-when data and the chain link come
from the history's state), and puts the file's SHA-256 into ``config.stash[RESULTS_SHA256]`` (the record shows it);
:func:`note_thinned` rewrites ``latest.json`` of a thinned run (step 6). It also names the run's files, makes the
document and words the run's last lines.
"""

import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile

import pytest

from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import fleet, targets_of
from plugins.files import write_atomically
from plugins.outcomes import waivers
from plugins.outcomes.reachability import NOT_CHECKED
from plugins.outcomes.run import FAILING, RUN, counted, owns_run
from plugins.secrets import scrub, secret_forms

COLOURS = {"ok": "#1a7f37", "warning": "#9a6700", "critical": "#cf222e"}  # a run's status, in the record and history
# The results file's shape, docs/schemas/results.schema.json: "MAJOR.MINOR", MINOR for fields or values added,
# MAJOR for anything a reader of the earlier shape could misread (docs/reference/results-file.md says which).
SCHEMA_VERSION = "1.0"
SCHEMA = int(SCHEMA_VERSION.split(".")[0])  # "schema", the MAJOR as written before schema_version: kept for readers
RESULTS_FILES = pytest.StashKey[dict]()
REPORT_ERROR = pytest.StashKey[str]()  # why the report folder cannot be written; set at start-up or when it fails
RESULTS_OK = pytest.StashKey[bool]()  # the results file was written
RESULTS_SHA256 = pytest.StashKey[str]()  # the SHA-256 of this run's results file as written (the record shows it)
CLAIMED = pytest.StashKey[str]()  # the claim on the run's name (claimed_stem), removed at the end of the run
THINNED = pytest.StashKey[bool]()  # a repeat kept as a summary line: its dated files go at the end (history.py)
PROBE_BYTES = 64 * 1024  # a nearly full disk fails the probe rather than the results file at the end
CLAIM = ".claim-"  # + a run's stem: the name is this run's (created exclusively at start-up, removed at the end)
CLAIMS_TRIED = 100


def paths_of(config):
    """This run's files: ``{"json": ..., "html": ...}`` under the report directory."""
    if RESULTS_FILES not in config.stash:
        folder = config.stash[SETTINGS].report_dir
        stem = config.stash[RUN].stem
        config.stash[RESULTS_FILES] = {"json": os.path.join(folder, stem + ".json"),
                                       "html": os.path.join(folder, stem + ".html")}
    return config.stash[RESULTS_FILES]


def kept_paths(config):
    """Where this run can be read after it: its dated files, or ``latest.*`` for a thinned run (its dated files
    are removed at the end of the run; plugins/outputs/history/)."""
    if not config.stash.get(THINNED, False):
        return paths_of(config)
    folder = config.stash[SETTINGS].report_dir
    return {"json": os.path.join(folder, "latest.json"), "html": os.path.join(folder, "latest.html")}


def unwritable(folder):
    """Why ``folder`` cannot take this run's files, in a few words, or None: made if missing, then a small file
    written and removed (a full disk fails at the write, not at create; ext4, xfs and tmpfs reserve the space
    there, so no fsync is needed, and a run pays microseconds)."""
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
    except OSError as e:
        return e.strerror or type(e).__name__
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return None


def claimed_stem(folder, stem):
    """A stem no other run in ``folder`` has: ``stem`` itself, else ``stem_2``, ``stem_3`` ... (two runs of one
    selection that start in the same second, or a clock set back). Claimed by creating ``.claim-<stem>``
    exclusively (atomic on one filesystem, so two runs never take the same one) where no results file or record
    of that name exists; ``None`` when none could be claimed (the folder's error then shows at the write)."""
    for n in range(1, CLAIMS_TRIED + 1):
        candidate = stem if n == 1 else f"{stem}_{n}"
        if any(os.path.lexists(os.path.join(folder, candidate + ext)) for ext in (".json", ".html")):
            continue
        try:
            os.close(os.open(os.path.join(folder, CLAIM + candidate), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        except OSError:
            return None
        return candidate
    return None


def release_claim(config):
    """The run's claim on its name goes at the end: its files (when kept) hold the name from then on (a killed
    run's claim is removed by the day's upkeep a day later, plugins/outputs/history/)."""
    if CLAIMED in config.stash:
        with contextlib.suppress(OSError):
            os.unlink(config.stash[CLAIMED])
        del config.stash[CLAIMED]


def report_failed(config, error):
    """Note (once) that the report folder cannot be written: the run ends with one line and a non-zero exit."""
    if REPORT_ERROR not in config.stash:
        config.stash[REPORT_ERROR] = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    if RUN in config.stash:
        config.stash[RUN].report_error = config.stash[REPORT_ERROR]


def report_error_line(config):
    folder = os.path.abspath(config.stash[SETTINGS].report_dir)
    lost = ("the record or history of this run is incomplete" if config.stash.get(RESULTS_OK, False)
            else "no results file or record from this run")
    return (f"DigitalMe: ERROR - report folder {folder} cannot be written ({config.stash[REPORT_ERROR]}): "
            f"{lost}; checks, alerts and heartbeat ran")


def as_document(config):
    run = config.stash[RUN]
    settings = config.stash[SETTINGS]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "finished_at": (run.finished_at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "selection": run.selection,
        "target": settings.redacted(),
        "status": run.status,
        **fleet_fields(config, run),
        "counts": run.counts,
        "checks": [check.fields() for check in run.checks],
        "waivers": waivers.states(config, run.checks),
        "alerts": run.alerts,
        "heartbeat": run.heartbeat,
        "alert_state": run.alert_state_note,
        "files": paths_of(config),
    }


def fleet_fields(config, run):
    """In a fleet run: each target's status (the run's is the worst) and its settings; else nothing."""
    if not fleet(config):
        return {}
    return {"targets": run.targets,
            "target_settings": {name: t.settings.redacted() for name, t in targets_of(config).items()}}


def failed_by_severity(checks):
    """``2 critical, 1 warning`` of the failed or errored ``checks``."""
    failed = [c for c in checks if c.outcome in FAILING]
    return ", ".join(f"{n} {s}" for s in ("critical", "warning") if (n := sum(c.severity == s for c in failed)))


def status_line(config):
    """``DigitalMe: CRITICAL - 1 failed, 1 error of 28 checks (2 critical) [prod CRITICAL: 2 critical] - report
    ...``: the failed and errored checks in pytest's words and counts (pytest's own line, ``1 failed, 1 error``,
    agrees), then their severities; in a fleet, each target that is not OK is named with what failed there."""
    run = config.stash[RUN]
    counts = run.counts
    failed = failed_by_severity(run.checks)
    not_ok = counted({"failed": counts["failed"], "error": counts["error"]})
    detail = f"{not_ok} of {len(run.checks)} checks ({failed})" if failed else \
        f"{counts['passed']} checks passed" + (f", {counts['skipped']} skipped" if counts["skipped"] else "")
    detail += f", {counts['waived']} waived" if counts["waived"] else ""  # accepted findings (plugins/outcomes/waivers.py)
    unchecked = counts[NOT_CHECKED]  # the checks an unreachable target's headline stands for (plugins/outcomes/reachability.py)
    detail += f", {unchecked} not checked (target unreachable)" if unchecked else ""
    if run.targets:
        bad = [f"{name} {status.upper()}: {failed_by_severity([c for c in run.checks if c.target == name])}"
               for name, status in run.targets.items() if status != "ok"]
        detail += f" on {len(run.targets)} targets" + (f" [{'; '.join(bad)}]" if bad else "")
    report = "not written" if REPORT_ERROR in config.stash else kept_paths(config)["html"]
    return f"DigitalMe: {run.status.upper()} - {detail} - report {report}"


def write_results(config, chain=None):
    """The results file and ``latest.json``, the run as it is now (``chain``: the file's link to the previous one,
    plugins/outputs/history/); returns the text written, or None: a folder that cannot take them is noted, never
    raised. Its SHA-256 goes into ``config.stash[RESULTS_SHA256]``. The only place either file is written whole."""
    if REPORT_ERROR in config.stash:
        return None
    run = config.stash[RUN]
    run.finished_at = dt.datetime.now(dt.timezone.utc)
    document = as_document(config)
    if chain is not None:
        document["chain"] = chain
    text = scrub(json.dumps(document, indent=1, default=str), secret_forms(config.stash[SETTINGS].secrets()))
    target = paths_of(config)["json"]
    try:
        write_atomically(target, text)
    except OSError as e:
        report_failed(config, e)
        return None
    config.stash[RESULTS_SHA256] = hashlib.sha256(text.encode("utf-8")).hexdigest()  # of the bytes written
    config.stash[RESULTS_OK] = True  # the dated file is there (and in the chain) even if latest.json fails now
    try:
        write_atomically(os.path.join(os.path.dirname(target), "latest.json"), text)
    except OSError as e:
        report_failed(config, e)
    return text


def note_thinned(config):
    """``latest.json`` of a thinned run, whose dated files were just removed (plugins/outputs/history/): its
    ``"files"`` name where the run can still be read, ``"thinned_files"`` the files removed; only while it still
    holds this run (a later run may have written it). The caller holds the history's lock; raises OSError, or
    ValueError on a ``latest.json`` that is no JSON. This module is the one writer of the results file and
    ``latest.json``."""
    latest = os.path.join(config.stash[SETTINGS].report_dir, "latest.json")
    with open(latest, encoding="utf-8") as f:
        document = json.load(f)
    if document.get("files") == paths_of(config):
        document["thinned_files"], document["files"] = document["files"], kept_paths(config)
        document["thinned"] = True
        write_atomically(latest, json.dumps(document, indent=1))


def fail_on_report_error(session):
    """A report folder that failed makes the run fail: pytest's own exit when it is not 0, else 1."""
    if REPORT_ERROR in session.config.stash and session.exitstatus == 0:
        session.exitstatus = 1


# --- hooks --------------------------------------------------------------------------------------

def pytest_configure(config):
    """Probe the report folder before anything writes there (pytest-html makes its folder at configure), and
    claim the run's name in it before anything names the run's files (the record's configure,
    plugins/outputs/record/, is trylast)."""
    if owns_run(config):
        folder = config.stash[SETTINGS].report_dir
        error = unwritable(folder)
        if error:
            report_failed(config, error)
            return
        run = config.stash[RUN]
        stem = claimed_stem(folder, run.stem)
        if stem is not None:
            run.stem, config.stash[CLAIMED] = stem, os.path.join(folder, CLAIM + stem)


def pytest_unconfigure(config):
    release_claim(config)

