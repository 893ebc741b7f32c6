"""Refresh (the end of step 3 of the alert cycle, cycle.py): a channel whose alerts expire unless re-posted
(``refreshes``: Alertmanager, each alert active until its ``endsAt``) gets every run's firing alert while its check
fails, also when the repeat interval keeps the others (the webhook, PagerDuty) quiet.

The suite's once-per-episode logic stays as it is (plan.py decides what is ``pending``; those go to every channel,
delivery.py). On top of it, each firing alert of this run that plan ``suppressed`` by the repeat interval is
re-posted on its own route, and the Level 3 alert of an episode whose emergency route was told (once per episode:
later runs make no record of it) is re-posted beside it. Not inside the target's maintenance window (nothing is
sent there), not in dry-run, not for a check still counting its failing runs (it has not alerted) nor for one
``resolving`` (its alert stays active until the ``endsAt`` of its last failing run, or its resolved ends it).

A refresh is noted on its record (``refreshed``: channel, route, state, reason), never queued: the next failing run
re-posts it, and the alert stays active until then; nor does a failed refresh turn the heartbeat to ``/fail``.
"""

from plugins.outputs.alerting.delivery import channel_answer
from plugins.outputs.alerting.episodes import alerted, told
from plugins.outputs.alerting.records import EMERGENCY

STILL_FIRING = ("suppressed", "sent", "queued", "failed", "unrouted")  # a firing check's records once it alerted


def refresh(config, channels, records, state, policy):
    """Re-post this run's still-firing alerts to the channels that want every run's (``records`` updated). Never
    raises: a channel that does is a ``queued`` refresh (delivery.channel_answer)."""
    refreshing = {name: channel for name, channel in channels.items() if getattr(channel, "refreshes", False)}
    if not refreshing:
        return
    alerted_now = {(entry["payload"].get("fingerprint"), entry["route"]) for entry in records
                   if entry.get("payload") and entry["state"] not in ("suppressed", "waiting", "resolving")}
    for entry in records:
        for route, payload in owed(entry, state, alerted_now, policy):
            for name, channel in refreshing.items():
                answer = channel_answer(config, channel, route, payload)
                if answer is not None:
                    entry.setdefault("refreshed", []).append(
                        {"channel": name, "route": route, "state": answer.get("state"),
                         "reason": answer.get("reason") or ""})


def owed(entry, state, alerted_now, policy):
    """The (route, payload) re-posts a record of this run owes: none, its own route's, the Level 3 one's."""
    payload = entry.get("payload")
    if (not payload or payload.get("status") != "firing" or entry["state"] not in STILL_FIRING
            or entry.get("from_outbox") or policy.of_payload(payload).window_now(policy.now)):
        return []
    owes = [(entry["route"], payload)] if entry["state"] == "suppressed" else []
    seen = state.get(payload.get("fingerprint"))
    if (alerted(seen) and EMERGENCY in told(seen) and entry["route"] != EMERGENCY
            and (payload.get("fingerprint"), EMERGENCY) not in alerted_now):
        owes.append((EMERGENCY, dict(payload, level=3)))
    return owes
