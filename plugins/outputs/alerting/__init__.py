"""Alerts: after a run, failed checks become webhook alerts that arrive once, repeat sparingly, say when they are
resolved to everyone who was told, wait out the maintenance window instead of being dropped, and are not lost when
the receiver is down or slow, the report folder is broken, or another run holds the lock.

The cycle, once per run on the process that owns it, ``send(config, run, exitstatus)`` (cycle.py), called by the
end-of-run pipeline before the results file is written; each step calls down into its own module, never back:

    if alerts are off, or nothing ran: nothing
    policy = policy_of(config)                          policy.py: each target's routes, intervals, window
    dry-run, or no route at all: plan only              every alert that would go is a "dry-run" record
    with channels.opened(...), the lock on the state:   channels/: webhook, Apprise, Alertmanager, PagerDuty
      1. plan     plan.plan_run(checks, spool, state)   plan.py, episodes.py (the state), flood.py, records.py
      2. hold     hold.hold(records, held, outbox)      hold.py: the maintenance window
      3. deliver  delivery.deliver(outbox, pending)     delivery.py: plugins' hook first, then channels/
                  refresh.refresh(...)                  refresh.py: repeats re-posted to Alertmanager
      4. keep     store.keep(state, held, outbox)       store.py: <report dir>/state/alerts/
    blocked at the lock for the whole budget: spool     store.py: spool/<run>.json, planned by the next holder
    heartbeat.beat(...)                                 heartbeat.py: <url> or <url>/fail
    terminal_lines(config, run)                         terminal.py: before the status line

1. **Plan**: each failed or errored check is a ``firing`` alert, each check that passed after having alerted a
   ``resolved`` to every route told of it; repeats within the interval are ``suppressed``, alerts of a route no
   channel takes ``unrouted``, a flood beyond ``alerts_max_per_run`` one summary. Flap control: a check below its
   threshold of consecutive failing runs (``alert_after_critical``/``_warning``) is ``waiting``, an alerted one
   below ``resolve_after`` passing runs ``resolving``; the counts are kept in the state, also in the maintenance
   window, not in dry-run. Level 3: the ``emergency`` route (``webhook_url_emergency``) hears once per episode of a
   finding of a check marked ``emergency(<kind>)`` at once, and of a critical still firing ``escalate_after``
   after its first critical alert (an escalation).
2. **Hold**: inside the maintenance window nothing is sent; every alert that would go is ``held`` and delivered by
   the first run after the window, unless its check passes first (then it is ``withdrawn``).
3. **Deliver**, under an exclusive lock so overlapping runs (cron) neither double-send nor lose state: the outbox,
   in order, then the alerts held over the window, then this run's, each through any plugin's
   ``pytest_digitalme_deliver_alert`` (plugins/hookspecs.py) first, then every channel registered in channels/
   that takes its route (the signed webhook POST, Alertmanager, PagerDuty; retried with backoff) within the run's
   alert budget, a wall-clock deadline. What runs out of time is ``queued`` (for the channels that did not take
   it). Then a channel whose alerts expire (Alertmanager) gets the firing alerts the repeat interval suppressed.
4. **Keep** what could not be delivered in ``outbox.jsonl``, the dedup state, the routes told and the held alerts
   in ``state.json``, atomically before the lock is released, in ``<report dir>/state/alerts/`` (an earlier
   version's ``<report dir>/alerts/`` is read once and emptied). When the report folder cannot take them they go
   to a private fallback, ``$XDG_STATE_HOME/digitalme-ops/<key>/alerts`` or ``<tmp>/digitalme-ops-<uid>/<key>/
   alerts``, read back by the next run. A run blocked at the lock sends nothing and loses nothing: its checks go
   to ``spool/`` (``spooled``), planned by the next lock holder before its own.

**Fleet** (a targets file): each alert is one target's; its payload adds ``target_name``, its fingerprint is the
check's and the target name's, and its target's settings decide its webhooks, secret, intervals, thresholds,
escalation and window. Each alert becomes one record in ``run.alerts`` (records.py). Webhook URLs and the secret
are never written anywhere: records, outbox, spool and terminal name the route. Alerting never raises: a failure
is one record and one terminal line, and the checks' outcomes and pytest's exit code stay as they were.
"""

from plugins.outputs.alerting.cycle import send
from plugins.outputs.alerting.terminal import terminal_lines

__all__ = ["send", "terminal_lines"]  # what the end-of-run pipeline calls (plugins/pipeline.py)
