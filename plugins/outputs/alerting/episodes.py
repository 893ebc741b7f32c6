"""The alert state's vocabulary: what ``state.json`` knows of each alert (one entry per fingerprint, an episode from
its first alert to its resolved) and of the alerts held over the maintenance window. Read and updated by planning
(plan.py), holding (hold.py) and keeping (store.py); no step of its own.

An entry: ``{"check", "severity", "last_alerted", "first_alerted", "first_critical", "routes", "emergency",
"failing", "passing"}``; a check still counting its failing runs towards its threshold is ``{"check", "severity",
"waiting": true, "failing"}``. A held alert: ``{"payload", "route", "held_at", "seen"}``.
"""

import datetime as dt

from plugins.outputs.alerting.records import ROUTES


def alerted(seen):
    """Whether a state entry is an episode that alerted, not a check still counting its failing runs towards its
    threshold (entries written before flap control are all episodes)."""
    return bool(seen) and not seen.get("waiting")


def told(seen):
    """The routes that received (or have queued) a firing alert of this state entry, worst first. Entries
    written before routes were kept name only the severity they alerted at."""
    routes = seen.get("routes") if isinstance(seen.get("routes"), list) else [seen.get("severity")]
    return [r for r in ROUTES if r in routes]


def told_route(state, entry):
    """A firing alert sent or queued (or delivered by one channel while another refused it): its route is told of
    it, and gets its ``resolved``."""
    seen = state.get(entry["payload"].get("fingerprint"))
    heard = entry["state"] in ("sent", "queued") or entry.get("delivered")
    if seen is not None and entry["payload"]["status"] == "firing" and heard:
        seen["routes"] = told({"routes": told(seen) + [entry["route"]]})


def age_s(seen, now):
    """Seconds since a state entry last alerted (a change of severity or an unreadable entry alerts at once)."""
    try:
        return (now - dt.datetime.fromisoformat(seen["last_alerted"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def since_s(when, now):
    """Seconds since an ISO time of the state (an unreadable one: no time at all)."""
    try:
        return (now - dt.datetime.fromisoformat(when)).total_seconds()
    except (TypeError, ValueError):
        return float("-inf")


def episode(check, seen, now, counts):
    """The state entry of an alerting check: when it alerted (first and last), the routes told, whether the
    emergency route heard of it (once per episode) and its counts."""
    entry = {"check": check.id, "severity": check.severity, "last_alerted": now.isoformat(),
             "first_alerted": (seen or {}).get("first_alerted", now.isoformat()),
             "routes": told(seen) if seen else [], **counts}
    for kept in ("emergency", "first_critical"):
        if seen and seen.get(kept):
            entry[kept] = seen[kept]
    return critical_since(entry, check, now)


def critical_since(entry, check, now):
    """``entry`` with ``first_critical``, when the episode first alerted at critical (the escalation's clock: an
    earlier warning, /health Degraded before Unhealthy, does not start it)."""
    if check.severity == "critical" and not entry.get("first_critical"):
        entry["first_critical"] = now.isoformat()
    return entry


def escalation_clock(seen):
    """When a critical episode's escalation delay started: its first critical alert. An entry written before that
    was kept has only ``first_alerted`` (its first alert, whatever the severity), read as before."""
    return seen.get("first_critical") or seen.get("first_alerted")


def take(held, key, status):
    """Remove and return the held alerts of one fingerprint and status."""
    taken = [item for item in held
             if item["payload"].get("fingerprint") == key and item["payload"].get("status") == status]
    held[:] = [item for item in held if item not in taken]
    return taken
