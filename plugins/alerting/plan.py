"""Plan (step 1 of plugins/alerting): which alerts this run makes, from its checks and the alert state.

Each failed or errored check is a ``firing`` alert at its applied severity; a firing alert already sent within the
repeat interval of its severity is ``suppressed (repeat interval)``; an alert whose severity has no webhook is
``unrouted``. Each check that passed after having alerted is one ``resolved`` alert to every route that received
(or has queued) one of its firing alerts, whatever its severity did in between (routes that share one URL get
one). Beyond ``alerts_max_per_run`` firing alerts, one summary alert goes instead and the others are ``summarised``.
Planning only decides: every alert to send leaves here ``pending``.
"""

import dataclasses
import datetime as dt
import hashlib
import json

from plugins.markers import SEVERITIES
from plugins.outcomes import FAILING
from plugins.output import scrubbed

SERVICE = "DigitalMe"
FLOOD_TITLES = 5


@dataclasses.dataclass
class Policy:
    """What planning needs besides the checks and the state."""
    now: dt.datetime
    context: dict  # "target", "report", "timestamp" of the payloads, and the "secrets" to mask in them
    repeat_s: dict  # severity -> repeat interval in seconds
    routes: dict  # severity -> webhook URL (never recorded), or "" when the severity has none


def fingerprint(check_id, target):
    """Stable across runs: the same check on the same target is the same alert."""
    return hashlib.sha256(f"{check_id}\n{target}".encode()).hexdigest()[:32]


def as_json(value):
    """``value`` as it reads back from JSON (what is not JSON as its text)."""
    return json.loads(json.dumps(value, default=str))


def payload_of(check, status, severity, context):
    """The manual's ``{"severity", "service", "message", "timestamp"}`` plus what receivers need."""
    if status == "firing":
        message = f"{check.title}: {check.message}" if check.message else check.title
    else:
        message = f"resolved: {check.title}"
    payload = {
        "severity": severity, "service": SERVICE, "message": message, "timestamp": context["timestamp"],
        "status": status, "check": check.id, "title": check.title, "target": context["target"],
        "fingerprint": fingerprint(check.id, context["target"]), "report": context["report"],
        "value": as_json(check.value), "threshold": as_json(check.threshold),
    }
    return scrubbed(payload, context["secrets"])


def record(payload, state, reason="", route=None, **delivery):
    """One entry of ``run.alerts``."""
    entry = {"payload": payload, "state": state, "reason": reason, "route": route or payload["severity"],
             "delivered": False, "attempts": 0, "last_error": None, "from_outbox": False, "from_held": False,
             "from_spool": False, "held_at": None}
    entry.update(delivery)
    return entry


def age_s(seen, now):
    """Seconds since a state entry last alerted (a change of severity or an unreadable entry alerts at once)."""
    try:
        return (now - dt.datetime.fromisoformat(seen["last_alerted"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def told(seen):
    """The routes that received (or have queued) a firing alert of this state entry, worst first. Entries
    written before routes were kept name only the severity they alerted at."""
    routes = seen.get("routes") if isinstance(seen.get("routes"), list) else [seen.get("severity")]
    return [s for s in SEVERITIES if s in routes]


def told_route(state, entry):
    """A firing alert sent or queued: its route is told of it, and gets its ``resolved``."""
    seen = state.get(entry["payload"].get("fingerprint"))
    if seen is not None and entry["payload"]["status"] == "firing" and entry["state"] in ("sent", "queued"):
        seen["routes"] = sorted(set(told(seen)) | {entry["route"]}, key=SEVERITIES.index)


def take(held, key, status):
    """Remove and return the held alerts of one fingerprint and status."""
    taken = [item for item in held
             if item["payload"].get("fingerprint") == key and item["payload"].get("status") == status]
    held[:] = [item for item in held if item not in taken]
    return taken


def withdrawn(item, reason):
    return record(item["payload"], "withdrawn", reason, item["route"], from_held=True, held_at=item.get("held_at"))


def plan_checks(checks, state, held, policy):
    """(records, new state, new held): one record per alert of this run, ``pending`` where it is to be sent."""
    state, held = dict(state), list(held)
    records = []
    for check in checks:
        key = fingerprint(check.id, policy.context["target"])
        if check.outcome in FAILING:
            records += plan_failing(check, key, state, held, policy)
        elif check.outcome == "passed":  # skipped or deselected checks resolve nothing
            records += plan_passed(check, key, state, held, policy)
    return records, state, held


def plan_failing(check, key, state, held, policy):
    """The firing alert of a failed check (pending, suppressed or unrouted), updating ``state`` and ``held``."""
    records, seen = [], state.get(key)
    for item in take(held, key, "resolved"):  # failing again: the held "resolved" would be a lie
        records.append(withdrawn(item, "the check failed again before this held resolved was delivered"))
        before = seen or item.get("seen") or {"check": check.id, "severity": item["route"]}
        seen = state[key] = dict(before, routes=told({"routes": told(before) + [item["route"]]}))
    entry = record(payload_of(check, "firing", check.severity, policy.context), "pending")
    now = policy.now
    if not policy.routes.get(check.severity):
        entry.update(state="unrouted", reason="no webhook configured")
    elif seen and seen.get("severity") == check.severity and age_s(seen, now) < policy.repeat_s[check.severity]:
        entry.update(state="suppressed", reason="repeat interval")
    else:
        state[key] = {"check": check.id, "severity": check.severity, "last_alerted": now.isoformat(),
                      "first_alerted": (seen or {}).get("first_alerted", now.isoformat()),
                      "routes": told(seen) if seen else []}
    return records + [entry]


def plan_passed(check, key, state, held, policy):
    """The resolved alerts of a check that passed after having alerted, updating ``state`` and ``held``."""
    records = [withdrawn(item, "the check passed before this held alert was delivered")
               for item in take(held, key, "firing")]
    seen = state.get(key)
    if not seen:
        return records
    left = []
    for route in distinct(told(seen), policy.routes):
        entry = record(payload_of(check, "resolved", route, policy.context), "pending", route=route)
        entry["_seen"] = seen  # what to restore if this resolved is held and the check fails again
        if not policy.routes.get(route):
            entry.update(state="unrouted", reason="no webhook configured")
            left.append(route)
        records.append(entry)
    if left:
        state[key] = dict(seen, routes=left)  # resolved once that route has a webhook again
    else:
        del state[key]
    return records


def distinct(names, routes):
    """The routes, one per webhook URL (the worst severity's name): a receiver behind two routes hears once."""
    seen_urls, kept = set(), []
    for name in names:
        url = routes.get(name)
        if url and url in seen_urls:
            continue
        seen_urls.add(url)
        kept.append(name)
    return kept


def flood_guard(records, limit, context):
    """Beyond ``limit`` firing alerts, one summary alert instead: ``records`` plus the summary, if any."""
    firing = [r for r in records if r["state"] == "pending" and r["payload"]["status"] == "firing"]
    if len(firing) <= limit:
        return records
    for entry in firing:
        entry.update(state="summarised", reason=f"more than {limit} alerts in this run")
    worst = next(s for s in SEVERITIES if any(r["payload"]["severity"] == s for r in firing))
    titles = [r["payload"]["title"] for r in firing]
    more = f" and {len(titles) - FLOOD_TITLES} more" if len(titles) > FLOOD_TITLES else ""
    summary = {
        "severity": worst, "service": SERVICE, "timestamp": context["timestamp"], "status": "firing",
        "message": f"{len(titles)} checks failed: " + "; ".join(titles[:FLOOD_TITLES]) + more,
        "check": "summary", "title": f"{len(titles)} checks failed", "target": context["target"],
        "fingerprint": fingerprint("summary", context["target"]), "report": context["report"],
        "value": len(titles), "threshold": limit,
    }
    return records + [record(summary, "pending")]


def spooled_checks(checks, secrets):
    """What the next lock holder needs to plan a blocked run's alerts (secrets masked: it is written to disk)."""
    return [scrubbed({"id": c.id, "title": c.title, "severity": c.severity, "outcome": c.outcome,
                      "message": c.message, "value": as_json(c.value), "threshold": as_json(c.threshold)}, secrets)
            for c in checks if c.outcome in FAILING or c.outcome == "passed"]
