"""Deliver (step 3 of the alert cycle, cycle.py): first the outbox, in order, then the alerts released after the
maintenance window, then this run's; each alert to any plugin's ``pytest_digitalme_deliver_alert`` first, then to
the suite's channels (channels/: the signed webhook POST, Alertmanager, PagerDuty).

A plugin may replace the suite's channels (return a delivery dict first) or add a channel (do its own sending and
return None, so the suite's channels still go). Every suite channel that takes the alert's route gets it (webhook,
Alertmanager, PagerDuty: each once). What the channel returns becomes the alert's record: ``{"state": "sent" |
"queued" | "failed", "reason", "delivered", "attempts", "last_error"}``; a channel that raises leaves the alert
``queued``. Where several channels took it, the record is the worst of their answers (queued, then failed, then
sent; ``delivered`` when any sent) with each one's under ``channels``. What could not be delivered in time is
``queued``: it becomes an outbox item, tried first next run, by the channels that could not take it only.
"""

from plugins.configuration.settings import SETTINGS
from plugins.outputs.alerting.records import DELIVERY_KEYS, delivery, failure_text, record


def deliver(config, channels, outbox, entries, policy):
    """Step 3: (the outbox's records, the outbox items still undelivered: the outbox's then ``entries``')."""
    records, outbox = drain(config, channels, outbox, policy)
    return records, outbox + deliver_pending(config, channels, entries, policy)


def drain(config, channels, outbox, policy):
    """Deliver the outbox, oldest first: (records, the items still undelivered)."""
    records, kept = [], []
    for item in outbox:
        entry = record(item["payload"], "pending", route=item["route"], from_outbox=True,
                       queued_at=item.get("queued_at"))
        if not policy.of_payload(item["payload"]).routes.get(item["route"]):
            entry.update(state="unrouted", reason="no alert channel configured any more; dropped from the outbox")
        else:
            entry.update(deliver_one(config, channels, entry["payload"], item["route"], item.get("channels")))
            if entry["state"] == "queued":
                kept.append(dict(item, attempts=item.get("attempts", 0) + entry["attempts"],
                                 last_error=entry["last_error"], **still_owed(entry, item.get("channels"))))
        records.append(entry)
    return records, kept


def deliver_pending(config, channels, entries, policy):
    """Deliver every pending entry, in order: the outbox items of those that could not be delivered."""
    queued = []
    for entry in entries:
        if entry["state"] != "pending":
            continue
        if not policy.of_payload(entry["payload"]).routes.get(entry["route"]):
            entry.update(state="unrouted", reason="no alert channel configured any more")
            continue
        entry.update(deliver_one(config, channels, entry["payload"], entry["route"]))
        if entry["state"] == "queued":
            queued.append(outbox_item(entry, policy.now))
    return queued


def outbox_item(entry, now):
    """The outbox item for a record that could not be delivered: no URL, only its route (and, when other channels
    took it, the channels it is still owed to)."""
    return {"payload": entry["payload"], "route": entry["route"], "queued_at": now.isoformat(timespec="seconds"),
            "attempts": entry["attempts"], "last_error": entry["last_error"], **still_owed(entry)}


def still_owed(entry, before=None):
    """``{"channels": [names]}``: the channels a partly delivered alert is still owed to (nothing when no other
    channel took it: the item goes to every channel, as an outbox item of an earlier version does)."""
    answers = entry.get("channels")
    if not answers:
        return {"channels": before} if before else {}
    return {"channels": [name for name, answer in answers.items() if answer["state"] == "queued"]}


def deliver_one(config, channels, payload, route, names=None):
    """Deliver one alert (to the channels ``names`` only, when given): its delivery dict (``DELIVERY_KEYS``, and
    ``channels`` when several took it). Never raises."""
    try:
        answer = first_answer(config, channels, payload, route, names)
    except Exception as e:  # a broken channel costs this alert a retry next run, never the run's alerting
        error = failure_text(e, config.stash[SETTINGS])
        return delivery("queued", "delivery channel failed", 0, f"delivery channel failed: {error}")
    if answer is None:
        return delivery("unrouted", "no delivery channel took it", 0, None)
    if not isinstance(answer, dict):
        return delivery("failed", "delivery channel answered no delivery", 0, f"got {type(answer).__name__}")
    if "channels" in answer:
        return answer  # several channels' answers, combined
    given = {key: answer[key] for key in DELIVERY_KEYS if key in answer}
    return dict(delivery(answer.get("state", "failed"), "", 0, None), **given)


def first_answer(config, channels, payload, route, names=None):
    """The answer to one alert: any plugin's ``pytest_digitalme_deliver_alert``, else every suite channel's that
    takes it (``names``: only those), combined (None: nobody took it)."""
    answer = config.hook.pytest_digitalme_deliver_alert(config=config, alert=payload, route=route)
    if answer is not None:
        return answer
    answers = {}
    for name, channel in channels.items():
        if names is None or name in names:
            answers[name] = channel_answer(config, channel, route, payload)
    return combined({name: answer for name, answer in answers.items() if answer is not None})


def channel_answer(config, channel, route, payload):
    """One channel's delivery of one alert, None where it takes no such alert; a channel that raises leaves it
    ``queued`` (for that channel: the others' deliveries stand)."""
    try:
        answer = channel.post(route, payload)
    except Exception as e:
        error = failure_text(e, config.stash[SETTINGS])
        return delivery("queued", "delivery channel failed", 0, f"delivery channel failed: {error}")
    if answer is not None and not isinstance(answer, dict):
        return delivery("failed", "delivery channel answered no delivery", 0, f"got {type(answer).__name__}")
    return answer


WORST_FIRST = ("queued", "failed", "sent")  # queued: retried next run; failed: refused; sent


def combined(answers):
    """The channels' answers as one delivery: one channel's as it is; several: the worst state, delivered when
    any channel delivered it (its route is told: the resolved follows), attempts summed, each reason and error
    named by its channel, and each answer under ``channels``."""
    if len(answers) <= 1:
        return next(iter(answers.values()), None)
    states = [answer.get("state", "failed") for answer in answers.values()]
    state = next((s for s in WORST_FIRST if s in states), states[0])
    attempts = sum(answer.get("attempts", 0) for answer in answers.values())
    return {"state": state, "reason": named(answers, "reason") or "", "delivered": "sent" in states,
            "attempts": attempts, "last_error": named(answers, "last_error"),
            "channels": {name: {key: answer.get(key) for key in DELIVERY_KEYS} for name, answer in answers.items()}}


def named(answers, key):
    """Each channel's ``key`` (its reason, its error), named by its channel: ``pagerduty: HTTP 400 ...``."""
    return "; ".join(f"{name}: {answer[key]}" for name, answer in answers.items() if answer.get(key)) or None
