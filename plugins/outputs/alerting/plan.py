"""Plan (step 1 of the alert cycle, cycle.py): which alerts this run makes, from its checks and the alert state.
The rules (repeats, resolved, flood summary, flap control, Level 3, fleets): docs/design.md, "Alerts: planning,
flap control and Level 3".
"""

import dataclasses
import datetime as dt
import types

from plugins.configuration.targets import current_id
from plugins.outcomes.run import FAILING
from plugins.outcomes.streaks import alert_counts
from plugins.outputs.alerting import flood
from plugins.outputs.alerting.episodes import (alerted, age_s, critical_since, episode, escalation_clock,
                                               since_s, take, told)
from plugins.outputs.alerting.records import (EMERGENCY, as_json, fingerprint, payload_of, record, route_payload,
                                              target_of)
from plugins.secrets import scrubbed


def plan_run(checks, spooled, state, held, policy, limit):
    """(records, new state, new held): the alerts of the runs blocked at the lock (their ``spooled`` documents,
    oldest first), then this run's, planned against the state in that order; beyond ``limit`` firing alerts, the
    flood guard's summaries (flood.py)."""
    records, state, held = plan_spooled(spooled, state, held, policy)
    planned, state, held = plan_checks(checks, state, held, policy)
    return flood.flood_guard(records + planned, limit, policy), state, held


def plan_spooled(documents, state, held, policy):
    """The alerts of runs that were blocked at the lock, oldest first, planned against the state before this run's."""
    records = []
    for document in documents:
        context = dict(policy.context)
        context.update({k: document.get(k, context[k]) for k in ("report", "timestamp")})
        # the URL the blocked run named its target by (a run without a targets file, or an alert of no target)
        own = dataclasses.replace(policy.fallback, url=document.get("target", policy.fallback.url))
        targets = {name: own if name is None else p for name, p in policy.targets.items()}
        spooled = dataclasses.replace(policy, context=context, targets=targets, fallback=own)
        checks = [types.SimpleNamespace(**current(check)) for check in document["checks"]]
        planned, state, held = plan_checks(checks, state, held, spooled)
        records += [dict(entry, from_spool=True) for entry in planned]
    return records, state, held


def current(check):
    """A spooled check with its id as it is now (spooled before stable ids, a host check's id without a targets
    file carried testinfra's ``[local]``, plugins/configuration/targets.py)."""
    if check.get("target") is None and isinstance(check.get("id"), str):
        return dict(check, id=current_id(check["id"]))
    return check


def level3_of(check):
    """The Level 3 kind of a failing check (its ``emergency`` marker), for a finding only: a check that could
    not run (``error``) has found no data loss or incident."""
    return getattr(check, "level3", None) if check.outcome == "failed" else None


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
    counts = alert_counts(seen, failed=True)
    failing = counts["failing"]
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
    if not own.routes.get(check.severity):
        entry.update(state="unrouted", reason="no alert channel configured")
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
    counts = alert_counts(seen, failed=False)
    passing = counts["passing"]
    if routes_told and passing < own.resolve_after:
        route = next((r for r in routes_told if r != EMERGENCY), routes_told[0])  # one record: its own route's
        entry = record(route_payload(check, "resolved", route, policy), "resolving",
                       f"passed {passing} of {own.resolve_after} runs before resolved "
                       f"(DIGITALME_RESOLVE_AFTER={own.resolve_after})", route=route)
        state[key] = dict(seen, **counts)
        return records + [entry]
    left, routes = [], own.routes
    for route in distinct(routes_told, routes):
        entry = record(route_payload(check, "resolved", route, policy), "pending", route=route)
        entry["_seen"] = seen  # what to restore if this resolved is held and the check fails again
        if not routes.get(route):
            entry.update(state="unrouted", reason="no alert channel configured")
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


def spooled_checks(checks, secrets):
    """What the next lock holder needs to plan a blocked run's alerts (secrets masked: it is written to disk)."""
    return [scrubbed({"id": c.id, "target": target_of(c), "title": c.title, "severity": c.severity,
                      "outcome": c.outcome, "message": c.message, "value": as_json(c.value),
                      "threshold": as_json(c.threshold), "level3": getattr(c, "level3", None)}, secrets)
            for c in checks if c.outcome in FAILING or c.outcome == "passed"]
