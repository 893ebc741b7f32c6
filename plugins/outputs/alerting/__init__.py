"""Alerts: after a run, failed checks become webhook alerts that arrive once, repeat sparingly, say when they are
resolved to everyone who was told, wait out the maintenance window instead of being dropped, and are not lost when
the receiver is down or slow, the report folder is broken, or another run holds the lock.

Flow, once per run, on the process that owns it: :func:`send`, called by the end-of-run pipeline before the
results file is written (so every alert's delivery outcome is in it):

1. **Plan** (plan.py): each failed or errored check is a ``firing`` alert, each check that passed after having
   alerted a ``resolved`` to every route told of it; repeats within the interval are ``suppressed``, alerts of a
   severity without a webhook ``unrouted``, a flood beyond ``alerts_max_per_run`` one summary. Flap control: a
   check below its threshold of consecutive failing runs (``alert_after_critical``/``_warning``) is ``waiting``,
   an alerted one below ``resolve_after`` passing runs ``resolving``; the counts are kept in the state, also in
   the maintenance window (runs there are real observations; only sending waits), not in dry-run or with alerts
   off (the state is not written then). Level 3: the ``emergency`` route (``webhook_url_emergency``) hears once
   per episode of a finding of a check marked ``emergency(<kind>)`` at once, and of a critical still firing
   ``escalate_after`` after its first alert (an escalation).
2. **Hold** (hold.py): inside the maintenance window nothing is sent; every alert that would go is ``held`` and
   delivered by the first run after the window, unless its check passes first (then it is ``withdrawn``).
3. **Deliver** (delivery.py), under an exclusive lock on ``<alerts folder>/lock`` so overlapping runs (cron) neither
   double-send nor lose state: first the outbox, in order, then the alerts held over the window, then this run's.
   Each alert goes through the ``pytest_digitalme_deliver_alert`` hook (plugins/hookspecs.py), whose default
   channel is the signed webhook POST, retried with backoff within the run's alert budget, a wall-clock deadline.
   What runs out of time is ``queued``.
4. **Keep** (store.py) what could not be delivered in ``outbox.jsonl`` (``queued``), and the dedup state, the routes
   told of each alert and the held alerts in ``state.json``; both are rewritten atomically before the lock is
   released. Delivery is at least once: a run killed mid-delivery sends again next time rather than losing
   anything. The alerts folder is ``<report dir>/alerts``; when that cannot be used (missing and not creatable,
   read-only, full) the run says so and keeps everything in a private fallback,
   ``$XDG_STATE_HOME/digitalme-ops/<key>/alerts`` or ``<tmp>/digitalme-ops-<uid>/<key>/alerts`` (key: a hash of
   the report folder's path), which the next run reads back (the newer of the two wins) and empties once the
   report folder works again.
5. **Blocked at the lock**: a run that cannot get the lock within its budget sends nothing and loses nothing: it
   writes its checks' outcomes to ``spool/<run>.json`` beside the state (``spooled``); the next lock holder plans
   them against the state first (so dedup still holds), delivers them, and removes the spool file.
6. **Heartbeat**: ``heartbeat_url`` gets a GET, a dead-man's switch; ``<url>/fail`` when a check failed, when
   nothing ran (no check selected), when the report folder could not be written, or when any alert was not
   delivered (queued, failed, spooled, dropped, or alerting broke).

**Fleet** (a targets file, plugins/configuration/targets.py): each alert is one target's. Its payload adds ``target_name`` (the
target's name; ``target`` stays the base URL, that target's own), its fingerprint is the check's and the target
name's (prod's and staging's failures of one check are two alerts, each with its own repeat and resolve state),
and its target's settings decide its webhooks (``webhook_url``, ``webhook_url_critical``/``_warning``/
``_emergency``), signing secret, repeat intervals, flap thresholds, escalation and maintenance window. The run
decides the rest: the alerts mode, the budget, the flood guard's limit (over it, one summary per target concerned,
to that target's route) and the heartbeat. Without a targets file payloads and fingerprints are as they always
were.

Each alert becomes one record in ``run.alerts`` (the results file's ``"alerts"``): ``{"payload", "target", "state",
"reason", "route", "delivered", "attempts", "last_error", "from_outbox", "from_held", "from_spool", "held_at"}``,
where ``state`` is one of sent, queued, failed, suppressed, summarised, unrouted, dropped, held, withdrawn,
spooled, waiting, resolving, dry-run (or error, when alerting itself broke), ``route`` critical, warning or
emergency, and ``target`` the target's name in a fleet run (else null). Webhook URLs and the secret are never
written anywhere: records, outbox, spool and terminal name the route (the severity, or emergency), and the URL
is looked up in the settings at delivery time. Alerting never raises: a failure is one record and one terminal
line (:func:`terminal_lines`), and the checks' outcomes and pytest's exit code stay as they were.
"""

import dataclasses
import datetime as dt
import json
import os
import time
import types

from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import current_id, fleet, targets_of
from plugins.outcomes.run import FAILING
from plugins.outputs.alerting import delivery, hold, plan
from plugins.outputs.alerting.delivery import pytest_digitalme_deliver_alert  # noqa: F401 - the default channel
from plugins.outputs.alerting.store import OUTBOX_MAX, bounded, outbox_item, StateLocked, Store
from plugins.outputs.results import REPORT_ERROR, paths_of
from plugins.secrets import scrub

UNDELIVERED = ("queued", "failed", "spooled", "dropped", "error")  # the heartbeat says /fail


def send(config, run, exitstatus=0):
    """Alert on this finished run, then ping the heartbeat: fills ``run.alerts`` and ``run.heartbeat``. Never
    raises: alerting must not cost the run its results or change its exit code."""
    if SETTINGS not in config.stash or config.option.collectonly:
        return  # settings invalid (nothing ran), or nothing was run
    settings = config.stash[SETTINGS]
    mode = settings.alerts
    if mode == "off":
        return
    deadline = time.monotonic() + settings.alert_budget_s
    try:
        run.alerts.extend(alert(config, run, mode, deadline))
    except Exception as e:
        error = delivery.failure_text(e, settings)
        run.alerts.append({"payload": None, "target": None, "state": "error", "reason": f"alerting failed: {error}",
                           "delivered": False, "attempts": 0, "last_error": error, "from_outbox": False,
                           "from_held": False, "from_spool": False, "held_at": None})
    if settings.heartbeat_url:
        try:
            run.heartbeat = heartbeat(config, run, mode, deadline, exitstatus)
        except Exception as e:
            run.heartbeat = {"variant": "?", "pinged": False, "attempts": 0,
                             "last_error": delivery.failure_text(e, settings)}


def alert(config, run, mode, deadline):
    """Plan this run's alerts and, unless dry-run, deliver them with the outbox; return the records."""
    records = alert_records(config, run, mode, deadline)
    for entry in records:
        entry.pop("_seen", None)  # plan's note for held resolved alerts, not part of the record
    return records


def target_policy(name, settings):
    """How the alerts of one target go, from its settings (``name`` None: the run's own)."""
    return plan.TargetPolicy(
        name=name, url=settings.redacted()["base_url"], routes=delivery.routes_of(settings),
        repeat_s={"critical": settings.alert_repeat_critical, "warning": settings.alert_repeat_warning},
        window=settings.maintenance_window,
        alert_after={"critical": settings.alert_after_critical, "warning": settings.alert_after_warning},
        resolve_after=settings.resolve_after, escalate_s=settings.escalate_after)


def policy_of(config, now):
    settings = config.stash[SETTINGS]
    context = {"report": paths_of(config)["html"], "timestamp": now.isoformat(timespec="seconds"),
               "secrets": settings.secrets()}
    targets = {name: target_policy(name, t.settings) for name, t in targets_of(config).items()}
    return plan.Policy(now=now, context=context, targets=targets, fallback=target_policy(None, settings))


def window_of(policy):
    """``payload -> the maintenance window its target is inside now, or None``."""
    return lambda payload: policy.of_payload(payload).window_now(policy.now)


def alert_records(config, run, mode, deadline):
    settings = config.stash[SETTINGS]
    policy = policy_of(config, dt.datetime.now(dt.timezone.utc))
    store = Store(settings.report_dir)
    if mode == "dry-run" or not policy.any_route():
        # nothing to send: decide from the state as it is, and leave state and outbox untouched
        state, held = store.read_state()
        records, _, _ = plan.plan_checks(run.checks, state, held, policy)
        records = plan.flood_guard(records, settings.alerts_max_per_run, policy)
        in_window = window_of(policy)
        return [unsent(r, "dry-run", f"inside the maintenance window ({in_window(r['payload'])}): would be held"
                       if in_window(r["payload"]) else "") for r in records]
    try:
        with delivery.delivering(config, deadline):
            try:
                with store.locked(deadline):
                    return cycle(config, store, run, policy)
            except StateLocked:
                return spool(store, run, policy)
    finally:
        note_where_kept(run, store)


def note_where_kept(run, store):
    """Where the alert state went when the report folder could not take it (one terminal line)."""
    if store.problem:
        where = (f"kept in {store.kept_in}" if store.kept_in else
                 f"not saved (nor in {store.fallback}): the next run may send these alerts again")
        run.alert_state_note = f"alert state {where}; {store.primary} cannot be written ({store.problem})"


def cycle(config, store, run, policy):
    """Under the lock: plan the spooled runs and this one, hold (targets in their window) or deliver, keep the
    rest."""
    state, held = store.read_state()
    # 1. plan: the blocked runs' first, then this run's
    records, state, held = plan_spooled(store.read_spool(), state, held, policy)
    planned, state, held = plan.plan_checks(run.checks, state, held, policy)
    records = plan.flood_guard(records + planned, config.stash[SETTINGS].alerts_max_per_run, policy)
    outbox = store.read_outbox()
    # 2. hold: nothing of a target inside its window is sent; its outbox items too wait for after the window
    in_window = window_of(policy)
    records = hold.hold_in_window(records, held, policy.now, in_window)
    still_held, over = split(held, in_window)
    waiting, outbox = split(outbox, in_window)
    # 3. deliver: the outbox, then what was held over the window, then this run's
    released = hold.released(over, records)
    outbox_records, outbox = delivery.drain(config, outbox, policy)
    outbox += deliver_pending(config, released + records, state, policy)
    # 4. keep: what is still undelivered, the state, what is still held
    outbox, dropped = bounded(waiting + outbox)
    outbox_records += [plan.record(item["payload"], "dropped", f"outbox over {OUTBOX_MAX} alerts",
                                   item["route"], from_outbox=True) for item in dropped]
    store.write(state, still_held, outbox, policy.now)
    return outbox_records + released + records


def split(items, in_window):
    """(the items whose target is inside its maintenance window, the others), each in order."""
    inside = [bool(in_window(item["payload"])) for item in items]
    return ([item for item, i in zip(items, inside) if i], [item for item, i in zip(items, inside) if not i])


def current(check):
    """A spooled check with its id as it is now (spooled before stable ids, a host check's id without a targets
    file carried testinfra's ``[local]``, plugins/configuration/targets.py)."""
    if check.get("target") is None and isinstance(check.get("id"), str):
        return dict(check, id=current_id(check["id"]))
    return check


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
        planned, state, held = plan.plan_checks(checks, state, held, spooled)
        records += [dict(entry, from_spool=True) for entry in planned]
    return records, state, held


def deliver_pending(config, entries, state, policy):
    """Deliver every pending entry, in order: the outbox items of those that could not be delivered."""
    queued = []
    for entry in entries:
        if entry["state"] != "pending":
            continue
        if not policy.of_payload(entry["payload"]).routes.get(entry["route"]):
            entry.update(state="unrouted", reason="no webhook configured any more")
            continue
        entry.update(delivery.deliver(config, entry["payload"], entry["route"]))
        if entry["state"] == "queued":
            queued.append(outbox_item(entry, policy.now))
        plan.told_route(state, entry)
    return queued


def spool(store, run, policy):
    """Blocked at the lock for the whole budget: keep this run's checks for the next lock holder."""
    state, held = store.read_state()  # unlocked, only to show what is waiting; the holder plans again
    records, planned, _ = plan.plan_checks(run.checks, state, held, policy)
    waiting = [entry for entry in records if entry["state"] == "pending"]
    # flap control: a run that only moves a count (failing or passing runs, a count started again) is kept too
    counting = [entry for entry in records if entry["state"] in ("waiting", "resolving")]
    reset = any(entry.get("waiting") and key not in planned for key, entry in state.items())
    if not waiting and not counting and not reset:
        return records
    context = policy.context
    document = {"now": policy.now.isoformat(), "target": policy.fallback.url, "report": context["report"],
                "timestamp": context["timestamp"], "checks": plan.spooled_checks(run.checks, context["secrets"])}
    folder = store.write_spool(f"{run.stem}-{os.getpid()}.json", document)
    for entry in waiting:
        entry.update(state="spooled", reason="alert state locked by another run for the whole alert budget; "
                     "kept for the next run", last_error=f"spooled in {folder}")
    for entry in counting:
        entry["reason"] += "; counted by the next run (the alert state was locked by another run)"
    return records


def unsent(entry, state, reason=""):
    """A pending record that is not sent (dry-run); the others keep their state."""
    if entry["state"] == "pending":
        entry.update(state=state, reason=reason)
    return entry


# --- the heartbeat ----------------------------------------------------------------------------------

def heartbeat_fails(config, run, exitstatus):
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


def heartbeat(config, run, mode, deadline, exitstatus):
    """Ping the dead-man's switch: ``<url>`` when the run was good, ``<url>/fail`` otherwise."""
    why = heartbeat_fails(config, run, exitstatus)
    variant = "fail" if why else "ok"
    if mode == "dry-run":
        return {"variant": variant, "why": why, "pinged": False, "dry_run": True, "attempts": 0, "last_error": None}
    url = config.stash[SETTINGS].heartbeat_url + ("/fail" if why else "")
    return dict(delivery.ping_heartbeat(url, deadline), variant=variant, why=why)


# --- the terminal -----------------------------------------------------------------------------------

def counted(records):
    """``2 sent, 1 suppressed (repeat interval)``: how many records ended in each state (and why)."""
    counts = {}
    for entry in records:
        to = " to emergency" if entry.get("route") == plan.EMERGENCY else ""  # Level 3: say so, not only the count
        label = entry["state"] + to + (f" ({entry['reason'].split(';')[0]})" if entry["reason"] else "")
        counts[label] = counts.get(label, 0) + 1
    return [f"{n} {label}" for label, n in counts.items()]


def per_target(records):
    """`` [prod: 1 sent; staging: 2 sent, 1 suppressed (repeat interval)]``: a fleet run's alerts by target
    (those of no target, from before the targets file or alerting's own error, as "(no target)")."""
    names = list(dict.fromkeys(entry.get("target") for entry in records))
    if not names or names == [None]:
        return ""
    parts = [f"{name or '(no target)'}: " + ", ".join(counted([e for e in records if e.get("target") == name]))
             for name in names]
    return " [" + "; ".join(parts) + "]"


def summary_line(records, beat, fleet_run=False):
    """``DigitalMe alerts: 2 sent, 1 suppressed (repeat interval), 1 queued (receiver unreachable)``; in a fleet
    run followed by the same by target, `` [prod: 1 sent; staging: ...]``."""
    parts = counted(records)
    if beat:
        if beat.get("dry_run"):
            parts.append(f"heartbeat ({beat['variant']}) not pinged in dry-run")
        else:
            done = "pinged" if beat["pinged"] else f"failed: {beat['last_error']}"
            why = f", {beat['why']}" if beat.get("why") else ""
            parts.append(f"heartbeat ({beat.get('variant', '?')}{why}) {done}")
    by_target = per_target(records) if fleet_run else ""
    return "DigitalMe alerts: " + ", ".join(parts) + by_target if parts else ""


def route_name(entry):
    """``critical`` or, in a fleet run, ``prod's critical``: which webhook an alert is for (never its URL)."""
    return f"{entry['target']}'s {entry['route']}" if entry.get("target") else entry["route"]


def terminal_lines(config, run):
    """What alerting did, for the terminal before the status line: in dry-run each payload, then one summary line,
    then where the alert state was kept when the report folder could not take it. Secrets masked."""
    if SETTINGS not in config.stash:
        return []
    lines = [f"DigitalMe alert (dry-run, {route_name(entry)} webhook): "
             f"{json.dumps(entry['payload'], sort_keys=True)}" for entry in run.alerts if entry["state"] == "dry-run"]
    lines.append(summary_line(run.alerts, run.heartbeat, fleet(config)))
    if run.alert_state_note:
        lines.append(f"DigitalMe alerts: {run.alert_state_note}")
    secrets = config.stash[SETTINGS].secrets()
    return [scrub(line, secrets) for line in lines if line]

