"""The alert cycle of a finished run, top-down: :func:`send` (called by the end-of-run pipeline, plugins/pipeline.py,
before the results file is written, so every alert's delivery outcome is in it) plans, holds, delivers and keeps
(:func:`cycle`, under the alert state's lock), then pings the heartbeat. Each step is its own module and calls only
down; this one calls them in order. The package's docstring (__init__.py) tells the whole flow in one screen.
"""

import os
import time

from plugins.configuration.settings import SETTINGS
from plugins.outputs.alerting import channels, delivery, heartbeat, hold, plan, refresh, store
from plugins.outputs.alerting.policy import policy_of
from plugins.outputs.alerting.records import error_record


def send(config, run, exitstatus=0):
    """Alert on this finished run, then ping the heartbeat: fills ``run.alerts`` and ``run.heartbeat``. Never
    raises: alerting must not cost the run its results or change its exit code."""
    if SETTINGS not in config.stash or config.option.collectonly:
        return  # settings invalid (nothing ran), or nothing was run
    settings = config.stash[SETTINGS]
    if settings.alerts == "off":
        return
    deadline = time.monotonic() + settings.alert_budget_s
    try:
        run.alerts.extend(alerts_of(config, run, deadline))
    except Exception as e:
        run.alerts.append(error_record(e, settings))
    run.heartbeat = heartbeat.beat(config, run, deadline, exitstatus)


def alerts_of(config, run, deadline):
    """This run's alert records: the cycle, under the lock; spooled for the next run when blocked at the lock; in
    dry-run (or with no route at all) only what would happen."""
    settings = config.stash[SETTINGS]
    policy = policy_of(config)
    folder = store.Store(settings.report_dir)
    if settings.alerts == "dry-run" or not policy.any_route():
        return finished(preview(folder, run, policy, settings.alerts_max_per_run))
    try:
        with channels.opened(config, deadline) as opened:
            try:
                with folder.locked(deadline):
                    return finished(cycle(config, opened, folder, run, policy))
            except store.StateLocked:
                return finished(spool(folder, run, policy))
    finally:
        note_where_kept(run, folder)


def cycle(config, opened, folder, run, policy):
    """Under the lock, the four steps in order; the records of all they did, the outbox's first."""
    state, held = folder.read_state()
    # 1. plan: the alerts of the runs blocked at the lock, then this run's; the flood guard over all of them
    limit = config.stash[SETTINGS].alerts_max_per_run
    records, state, held = plan.plan_run(run.checks, folder.read_spool(), state, held, policy, limit)
    # 2. hold: nothing of a target inside its maintenance window goes, its outbox items wait; after it, release
    holding = hold.hold(records, held, folder.read_outbox(), policy)
    # 3. deliver: the outbox, then what was held over the window, then this run's
    pending = holding.released + records
    outbox_records, outbox = delivery.deliver(config, opened, holding.outbox, pending, policy)
    refresh.refresh(config, opened, pending, state, policy)  # Alertmanager: every run's firing alert, repeats included
    # 4. keep: the routes told, the state, what is still held, what is still undelivered (the outbox)
    dropped = store.keep(folder, state, pending, holding.held, holding.waiting + outbox, policy.now)
    return outbox_records + dropped + pending


def preview(folder, run, policy, limit):
    """Dry-run (or no route at all): decide from the state as it is; send nothing, leave state and outbox
    untouched. What would go is a ``dry-run`` record (the terminal shows its payload)."""
    state, held = folder.read_state()
    records, _, _ = plan.plan_run(run.checks, [], state, held, policy, limit)
    in_window = hold.window_of(policy)
    return [unsent(r, "dry-run", f"inside the maintenance window ({in_window(r['payload'])}): would be held"
                   if in_window(r["payload"]) else "") for r in records]


def unsent(entry, state, reason=""):
    """A pending record that is not sent (dry-run); the others keep their state."""
    if entry["state"] == "pending":
        entry.update(state=state, reason=reason)
    return entry


def spool(folder, run, policy):
    """Blocked at the lock for the whole budget: keep this run's checks for the next lock holder (it plans them
    first, plan.plan_run), so nothing is lost and dedup still holds."""
    state, held = folder.read_state()  # unlocked, only to show what is waiting; the holder plans again
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
    spooled_in = folder.write_spool(f"{run.stem}-{os.getpid()}.json", document)
    for entry in waiting:
        entry.update(state="spooled", reason="alert state locked by another run for the whole alert budget; "
                     "kept for the next run", last_error=f"spooled in {spooled_in}")
    for entry in counting:
        entry["reason"] += "; counted by the next run (the alert state was locked by another run)"
    return records


def finished(entries):
    """The records as ``run.alerts`` keeps them (without plan's note for held resolved alerts)."""
    for entry in entries:
        entry.pop("_seen", None)
    return entries


def note_where_kept(run, folder):
    """Where the alert state went when the report folder could not take it (one terminal line)."""
    if folder.problem:
        where = (f"kept in {folder.kept_in}" if folder.kept_in else
                 f"not saved (nor in {folder.fallback}): the next run may send these alerts again")
        run.alert_state_note = f"alert state {where}; {folder.primary} cannot be written ({folder.problem})"
