"""What alerting writes down: the payload a receiver gets, the record ``run.alerts`` keeps of each alert (with its
delivery outcome), and an unexpected error as one line without secrets. Used by every step of the cycle.

The payload is the manual's ``{"severity", "service", "message", "timestamp"}`` plus what receivers need:
``status`` (firing or resolved), ``check``, ``title``, ``target`` (the base URL), ``fingerprint`` (the check on the
target: the same alert across runs), ``report``, ``value``, ``threshold``; in a fleet run ``target_name``; on the
emergency route ``"level": 3``; ``schema_version``, the payload's shape (docs/schemas/alert.schema.json, every
field: docs/reference/alert-payload.md). Secrets are masked in it.
"""

import hashlib
import json

from plugins.configuration.markers import SEVERITIES
from plugins.outcomes.run import RUN, finding_of
from plugins.secrets import scrub, scrubbed

SERVICE = "DigitalMe"
EMERGENCY = "emergency"  # the manual's Level 3 route
ROUTES = (EMERGENCY, *SEVERITIES)  # every route, worst first
DELIVERY_KEYS = ("state", "reason", "delivered", "attempts", "last_error")
# The payload's shape: "MAJOR.MINOR", MINOR for fields or values added, MAJOR for anything a receiver of the earlier
# shape could misread (docs/reference/alert-payload.md says which).
SCHEMA_VERSION = "1.0"


def target_of(check):
    """A check's target name (None without a targets file; spooled checks of older runs have none)."""
    return getattr(check, "target", None)


def fingerprint(check_id, url, name=None):
    """Stable across runs: the same check on the same target is the same alert. Without a targets file the
    target is its URL, as it always was; in a fleet its name, so prod's and staging's alerts never merge, even
    on one URL, and a target that moves to a new URL keeps its open alerts."""
    key = f"{check_id}\n{url}" if name is None else f"{check_id}\ntarget={name}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def as_json(value):
    """``value`` as it reads back from JSON (what is not JSON as its text)."""
    return json.loads(json.dumps(value, default=str))


def payload_of(check, status, severity, policy):
    """The manual's ``{"severity", "service", "message", "timestamp"}`` plus what receivers need (in a fleet,
    ``target_name``)."""
    context, name = policy.context, target_of(check)
    url = policy.of(name).url
    title, message = headline(check, status)
    payload = {
        "severity": severity, "service": SERVICE, "message": message, "timestamp": context["timestamp"],
        "status": status, "check": check.id, "title": title, "target": url,
        "fingerprint": fingerprint(check.id, url, name), "report": context["report"],
        "value": as_json(check.value), "threshold": as_json(check.threshold),
    }
    if name is not None:
        payload["target_name"] = name
    return scrubbed(payload, context["secrets"])


def headline(check, status):
    """(title, message) of a check's alert, what was found first: a firing one's title is the finding, its message
    the finding, what was required and the check; a resolved one's both say the check's requirement holds again."""
    if status != "firing":
        return f"resolved: {check.title}", f"resolved: {check.title}"
    if not check.message:
        return check.title, check.title
    return finding_of(check.message), f"{check.message}; check: {check.title}"


def check_in_run(config, payload):
    """The alert's check as this run judged it (its CheckOutcome), or None: an alert of an earlier run (held over
    the window, queued in the outbox) whose check this run's selection does not run."""
    run = config.stash.get(RUN, None)
    return next((check for check in (run.checks if run is not None else ())
                 if check.id == payload.get("check") and check.target == payload.get("target_name")), None)


def route_payload(check, status, route, policy):
    """The payload for one route: the emergency route's is the critical one, marked ``"level": 3``."""
    if route == EMERGENCY:
        return dict(payload_of(check, status, "critical", policy), level=3)
    return payload_of(check, status, route, policy)


def versioned(payload):
    """The payload with its ``schema_version``: this version's, or the one it was made with (an alert kept in the
    outbox or over the maintenance window by an earlier version; one from before the field was version 1.0 already)."""
    return payload if "schema_version" in payload else {"schema_version": SCHEMA_VERSION, **payload}


def record(payload, state, reason="", route=None, **delivery):
    """One entry of ``run.alerts`` (``target``: the target's name in a fleet run, else None); every payload an alert
    carries, made now or kept from an earlier run, passes here, so every one says its ``schema_version``."""
    payload = versioned(payload)
    entry = {"payload": payload, "target": payload.get("target_name"), "state": state, "reason": reason,
             "route": route or payload["severity"],
             "delivered": False, "attempts": 0, "last_error": None, "from_outbox": False, "from_held": False,
             "from_spool": False, "held_at": None}
    entry.update(delivery)
    return entry


def delivery(state, reason, attempts, last_error):
    """How one delivery ended (``DELIVERY_KEYS``), as a channel answers it."""
    return {"state": state, "reason": reason, "delivered": state == "sent", "attempts": attempts,
            "last_error": last_error}


def failure_text(error, settings):
    """An unexpected error as one line, without secrets or the token-bearing paths of the secret URLs."""
    return scrub(f"{type(error).__name__}: {error}".splitlines()[0], settings.secrets_with_url_paths())


def error_record(error, settings):
    """The one record of a run whose alerting itself failed (its checks' outcomes stand)."""
    text = failure_text(error, settings)
    return {"payload": None, "target": None, "state": "error", "reason": f"alerting failed: {text}",
            "delivered": False, "attempts": 0, "last_error": text, "from_outbox": False,
            "from_held": False, "from_spool": False, "held_at": None}
