"""Plan (step 1 of plugins/alerting): which alerts this run makes, from its checks and the alert state.

Each failed or errored check is a ``firing`` alert at its applied severity; a firing alert already sent within the
repeat interval of its severity is ``suppressed (repeat interval)``; an alert whose severity has no webhook is
``unrouted``. Each check that passed after having alerted is one ``resolved`` alert to every route that received
(or has queued) one of its firing alerts, whatever its severity did in between (routes that share one URL get
one). Beyond ``alerts_max_per_run`` firing alerts, one summary alert goes instead and the others are ``summarised``.
Planning only decides: every alert to send leaves here ``pending``.

**Flap control** (the state counts each fingerprint's consecutive failing and passing runs, whatever the
selection): a check that has not alerted alerts on its ``alert_after`` (per severity) consecutive failing run;
before that each run is a ``waiting`` record ("failing 1 of 3 runs before alerting ...") and nothing is sent. An
alerted check is ``resolved`` on its ``resolve_after`` consecutive passing run, ``resolving`` before; a failure
in between resets the passes and is the same episode (it re-alerts only after the repeat interval). A check that
passes before alerting starts its count again. Outcomes other than failed, error and passed (skipped, waived)
count as neither. Defaults 1 and 1: alert on the first failure, resolve on the first pass.

**Level 3** (the ``emergency`` route, only where a target sets ``webhook_url_emergency``), once per episode: at
once for a finding (outcome failed) of a check marked ``emergency(<kind>)``, beside its own route, payload
``"level": 3, "level3": <kind>`` (such a finding is no flap: it alerts on its first failing run); else for a
critical still firing ``escalate_after`` after the episode's first *critical* alert (a warning before it, /health
Degraded then Unhealthy, does not start the clock: the state keeps ``first_critical``), payload ``"level": 3,
"escalation": true, "first_alerted", "first_critical"``. The emergency route gets its ``resolved`` like every
route told, and its own flood summary.

In a fleet run (a targets file) each alert is its target's: the payload adds ``target_name`` (``target`` stays the
base URL, now that target's own), the fingerprint is made from the check and the target's name, and the target's
own settings give the routes, repeat intervals, flap thresholds, escalation delay and maintenance window
(:class:`TargetPolicy`). The flood guard counts the whole run's alerts and sends one summary per target
concerned, to that target's route. Without a targets file payloads and fingerprints are what they always were,
made from the check's stable id (plugins/configuration/targets.py); an episode opened under a host check's earlier id
(``[local]``) goes on under its fingerprint until it ends (:func:`aliases`).
"""

import dataclasses
import datetime as dt
import hashlib
import json

from plugins.configuration.markers import SEVERITIES
from plugins.configuration.targets import current_id
from plugins.outcomes.run import FAILING, finding_of
from plugins.secrets import scrubbed

SERVICE = "DigitalMe"
FLOOD_TITLES = 5
EMERGENCY = "emergency"  # the manual's Level 3 route
ROUTES = (EMERGENCY, *SEVERITIES)  # every route, worst first


@dataclasses.dataclass(frozen=True)
class TargetPolicy:
    """How one target's alerts go, from its settings."""
    name: object  # the target's name in a fleet run, else None
    url: str  # the payloads' "target": its base URL
    repeat_s: dict  # severity -> repeat interval in seconds
    routes: dict  # route (a severity, or "emergency") -> webhook URL (never recorded), or "" when it has none
    window: object = None  # its maintenance window (settings.Window), or None
    alert_after: dict = dataclasses.field(default_factory=lambda: {s: 1 for s in SEVERITIES})  # failing runs
    resolve_after: int = 1  # passing runs of an alerted check before its resolved
    escalate_s: float = 30 * 60  # a critical still firing this long after its first critical alert: "emergency"

    def window_now(self, now):
        """The maintenance window when ``now`` is inside it, else None."""
        return self.window if self.window is not None and now in self.window else None


@dataclasses.dataclass
class Policy:
    """What planning needs besides the checks and the state."""
    now: dt.datetime
    context: dict  # "report", "timestamp" of the payloads, and the "secrets" to mask in them
    targets: dict  # target name (None without a targets file) -> TargetPolicy
    fallback: TargetPolicy  # the run's own settings: for alerts of a target the targets file no longer names

    def of(self, name):
        return self.targets.get(name, self.fallback)

    def of_payload(self, payload):
        """The policy of the target an alert (a payload) is about."""
        return self.of(payload.get("target_name"))

    def any_route(self):
        return any(url for p in (*self.targets.values(), self.fallback) for url in p.routes.values())


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


def record(payload, state, reason="", route=None, **delivery):
    """One entry of ``run.alerts`` (``target``: the target's name in a fleet run, else None)."""
    entry = {"payload": payload, "target": payload.get("target_name"), "state": state, "reason": reason,
             "route": route or payload["severity"],
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
    return [r for r in ROUTES if r in routes]


def told_route(state, entry):
    """A firing alert sent or queued: its route is told of it, and gets its ``resolved``."""
    seen = state.get(entry["payload"].get("fingerprint"))
    if seen is not None and entry["payload"]["status"] == "firing" and entry["state"] in ("sent", "queued"):
        seen["routes"] = told({"routes": told(seen) + [entry["route"]]})


def alerted(seen):
    """Whether a state entry is an episode that alerted, not a check still counting its failing runs towards its
    threshold (entries written before flap control are all episodes)."""
    return bool(seen) and not seen.get("waiting")


def count_of(seen, name):
    """A state entry's count of consecutive ``failing`` or ``passing`` runs (0 when it has none)."""
    value = (seen or {}).get(name)
    return value if isinstance(value, int) and value >= 0 else 0


def since_s(when, now):
    """Seconds since an ISO time of the state (an unreadable one: no time at all)."""
    try:
        return (now - dt.datetime.fromisoformat(when)).total_seconds()
    except (TypeError, ValueError):
        return float("-inf")


def level3_of(check):
    """The Level 3 kind of a failing check (its ``emergency`` marker), for a finding only: a check that could
    not run (``error``) has found no data loss or incident."""
    return getattr(check, "level3", None) if check.outcome == "failed" else None


def route_payload(check, status, route, policy):
    """The payload for one route: the emergency route's is the critical one, marked ``"level": 3``."""
    if route == EMERGENCY:
        return dict(payload_of(check, status, "critical", policy), level=3)
    return payload_of(check, status, route, policy)


def take(held, key, status):
    """Remove and return the held alerts of one fingerprint and status."""
    taken = [item for item in held
             if item["payload"].get("fingerprint") == key and item["payload"].get("status") == status]
    held[:] = [item for item in held if item not in taken]
    return taken


def withdrawn(item, reason):
    return record(item["payload"], "withdrawn", reason, item["route"], from_held=True, held_at=item.get("held_at"))


def aliases(state, policy):
    """{fingerprint of a check's id now: the fingerprint its open state is kept under} for state written before
    stable check ids: without a targets file a host check's id carried testinfra's host parameter
    (``test_x[local]``, plugins/configuration/targets.py), and so did its fingerprint. Such an entry (its key is the fingerprint
    of its ``check`` on the run's URL) stays under that key until its episode ends, marked ``alias_of``, and its
    alerts keep the fingerprint receivers know it by: a repeat is suppressed, the escalation clock runs from the
    first alert, the resolved closes what was opened. A fleet's fingerprints were made from stable ids already."""
    url = policy.of(None).url
    found = {}
    for key, entry in state.items():
        natural = entry.get("alias_of")
        old = entry.get("check")
        if natural is None and isinstance(old, str) and current_id(old) != old and key == fingerprint(old, url):
            natural = fingerprint(current_id(old), url)
        if isinstance(natural, str):
            found[natural] = key
    return found


def plan_checks(checks, state, held, policy):
    """(records, new state, new held): one record per alert of this run, ``pending`` where it is to be sent."""
    state, held = dict(state), list(held)
    kept_as = aliases(state, policy)
    records = []
    for check in checks:
        natural = fingerprint(check.id, policy.of(target_of(check)).url, target_of(check))
        key = kept_as.get(natural, natural)
        if check.outcome in FAILING:
            planned = plan_failing(check, key, state, held, policy)
        elif check.outcome == "passed":  # skipped or deselected checks resolve nothing
            planned = plan_passed(check, key, state, held, policy)
        else:
            continue
        if key != natural:  # an episode opened under the check's earlier id: its alerts keep that fingerprint
            for entry in planned:
                entry["payload"]["fingerprint"] = key
            if key in state:
                state[key] = dict(state[key], alias_of=natural)
        records += planned
    return records, state, held


def plan_failing(check, key, state, held, policy):
    """The firing alert of a failed check (pending, suppressed, unrouted, or waiting below its threshold of
    failing runs), and its Level 3 alert, updating ``state`` and ``held``."""
    records, seen = [], state.get(key)
    for item in take(held, key, "resolved"):  # failing again: the held "resolved" would be a lie
        records.append(withdrawn(item, "the check failed again before this held resolved was delivered"))
        before = (seen if alerted(seen) else None) or item.get("seen") or {
            "check": check.id, "severity": item["payload"].get("severity", item["route"])}
        seen = state[key] = dict(before, routes=told({"routes": told(before) + [item["route"]]}))
    entry = record(payload_of(check, "firing", check.severity, policy), "pending")
    now, own = policy.now, policy.of(target_of(check))
    failing = count_of(seen, "failing") + 1
    counting = {"check": check.id, "severity": check.severity, "waiting": True, "failing": failing}
    if not alerted(seen):
        # flap control: a new episode alerts at its threshold; a Level 3 finding is no flap, it alerts at once
        need = 1 if level3_of(check) else own.alert_after.get(check.severity, 1)
        if failing < need:
            entry.update(state="waiting", reason=f"failing {failing} of {need} runs before alerting "
                         f"(DIGITALME_ALERT_AFTER_{check.severity.upper()}={need})")
            state[key] = counting
            return records + [entry]
        seen = None  # the episode starts now
    counts = {"failing": failing, "passing": 0}  # a failure ends a resolving episode's run of passes
    if not own.routes.get(check.severity):
        entry.update(state="unrouted", reason="no webhook configured")
        if seen or not (level3_of(check) and own.routes.get(EMERGENCY)):
            state[key] = critical_since(dict(seen, **counts), check, now) if seen else counting
        else:  # nobody at this severity, but the emergency route hears of the finding: an episode all the same
            state[key] = episode(check, None, now, counts)
    elif seen and seen.get("severity") == check.severity and age_s(seen, now) < own.repeat_s[check.severity]:
        entry.update(state="suppressed", reason="repeat interval")
        state[key] = dict(seen, **counts)
    else:
        state[key] = episode(check, seen, now, counts)
    return records + [entry] + plan_emergency(check, key, state, own, policy)


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


def plan_emergency(check, key, state, own, policy):
    """Level 3, once per episode, when the target has an emergency webhook: at once for a finding of a Level 3
    kind (the check's ``emergency`` marker), else for a critical still firing ``escalate_s`` after its first
    critical alert (an escalation). Updates ``state``."""
    seen = state.get(key)
    if not own.routes.get(EMERGENCY) or not alerted(seen) or seen.get("emergency"):
        return []
    kind = level3_of(check)
    if kind:
        marks = {"level": 3, "level3": kind}
    elif check.severity == "critical" and since_s(escalation_clock(seen), policy.now) >= own.escalate_s:
        first, critical = (dt.datetime.fromisoformat(when).isoformat(timespec="seconds")
                           for when in (seen["first_alerted"], escalation_clock(seen)))
        marks = {"level": 3, "escalation": True, "first_alerted": first, "first_critical": critical}
    else:
        return []
    state[key] = dict(seen, emergency=policy.now.isoformat())
    return [record(dict(payload_of(check, "firing", check.severity, policy), **marks), "pending", route=EMERGENCY)]


def plan_passed(check, key, state, held, policy):
    """The resolved alerts of a check that passed after having alerted (``resolving`` until its threshold of
    passing runs), updating ``state`` and ``held``; a check that passes before alerting starts its count again."""
    records = [withdrawn(item, "the check passed before this held alert was delivered")
               for item in take(held, key, "firing")]
    seen = state.get(key)
    if not seen:
        return records
    if not alerted(seen):
        del state[key]
        return records
    own = policy.of(target_of(check))
    # the emergency route's webhook unset since: nobody there to tell, and no noise about it
    routes_told = [r for r in told(seen) if r != EMERGENCY or own.routes.get(EMERGENCY)]
    passing = count_of(seen, "passing") + 1
    if routes_told and passing < own.resolve_after:
        route = next((r for r in routes_told if r != EMERGENCY), routes_told[0])  # one record: its own route's
        entry = record(route_payload(check, "resolved", route, policy), "resolving",
                       f"passed {passing} of {own.resolve_after} runs before resolved "
                       f"(DIGITALME_RESOLVE_AFTER={own.resolve_after})", route=route)
        state[key] = dict(seen, passing=passing, failing=0)
        return records + [entry]
    left, routes = [], own.routes
    for route in distinct(routes_told, routes):
        entry = record(route_payload(check, "resolved", route, policy), "pending", route=route)
        entry["_seen"] = seen  # what to restore if this resolved is held and the check fails again
        if not routes.get(route):
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


def flood_guard(records, limit, policy):
    """Beyond ``limit`` firing alerts in the run, a summary alert instead: ``records`` plus the summaries, one per
    target concerned (to that target's route: each receiver hears only of the targets routed to it), one in all
    without a targets file. The emergency route's alerts are guarded on their own (its summary goes to it)."""
    return guard(guard(records, limit, policy, False), limit, policy, True)


def guard(records, limit, policy, emergency):
    firing = [r for r in records if r["state"] == "pending" and r["payload"]["status"] == "firing"
              and (r["route"] == EMERGENCY) == emergency]
    if len(firing) <= limit:
        return records
    by_target = {}
    for entry in firing:
        entry.update(state="summarised", reason=f"more than {limit} alerts in this run")
        by_target.setdefault(entry["payload"].get("target_name"), []).append(entry)
    if emergency:
        return records + [record(dict(summary_of(group, name, limit, policy), level=3), "pending", route=EMERGENCY)
                          for name, group in by_target.items()]
    return records + [record(summary_of(group, name, limit, policy), "pending") for name, group in by_target.items()]


def summary_of(firing, name, limit, policy):
    """The summary payload of one target's ``firing`` alerts (``name`` None: the one target of a run without a
    targets file)."""
    worst = next(s for s in SEVERITIES if any(r["payload"]["severity"] == s for r in firing))
    titles = [r["payload"]["title"] for r in firing]
    more = f" and {len(titles) - FLOOD_TITLES} more" if len(titles) > FLOOD_TITLES else ""
    on = f" on {name}" if name is not None else ""
    url, context = policy.of(name).url, policy.context
    summary = {
        "severity": worst, "service": SERVICE, "timestamp": context["timestamp"], "status": "firing",
        "message": f"{len(titles)} checks failed{on}: " + "; ".join(titles[:FLOOD_TITLES]) + more,
        "check": "summary", "title": f"{len(titles)} checks failed{on}", "target": url,
        "fingerprint": fingerprint("summary", url, name), "report": context["report"],
        "value": len(titles), "threshold": limit,
    }
    if name is not None:
        summary["target_name"] = name
    return summary


def spooled_checks(checks, secrets):
    """What the next lock holder needs to plan a blocked run's alerts (secrets masked: it is written to disk)."""
    return [scrubbed({"id": c.id, "target": target_of(c), "title": c.title, "severity": c.severity,
                      "outcome": c.outcome, "message": c.message, "value": as_json(c.value),
                      "threshold": as_json(c.threshold), "level3": getattr(c, "level3", None)}, secrets)
            for c in checks if c.outcome in FAILING or c.outcome == "passed"]
