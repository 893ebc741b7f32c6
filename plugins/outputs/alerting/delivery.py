"""Deliver (step 3 of the alert cycle, cycle.py): first the outbox, in order, then the alerts released after the
maintenance window, then this run's; each alert to any plugin's ``pytest_digitalme_deliver_alert`` first, then to
the suite's channels (channels/: the signed webhook POST), the first answer winning.

A plugin may replace the webhook (return a delivery dict first) or add a channel (do its own sending and return
None, so the webhook still goes). What a channel returns becomes the alert's record: ``{"state": "sent" | "queued"
| "failed", "reason", "delivered", "attempts", "last_error"}``; a channel that raises leaves the alert ``queued``.
What could not be delivered in time is ``queued``: it becomes an outbox item, tried first next run.
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
            entry.update(state="unrouted", reason="no webhook configured any more; dropped from the outbox")
        else:
            entry.update(deliver_one(config, channels, item["payload"], item["route"]))
            if entry["state"] == "queued":
                kept.append(dict(item, attempts=item.get("attempts", 0) + entry["attempts"],
                                 last_error=entry["last_error"]))
        records.append(entry)
    return records, kept


def deliver_pending(config, channels, entries, policy):
    """Deliver every pending entry, in order: the outbox items of those that could not be delivered."""
    queued = []
    for entry in entries:
        if entry["state"] != "pending":
            continue
        if not policy.of_payload(entry["payload"]).routes.get(entry["route"]):
            entry.update(state="unrouted", reason="no webhook configured any more")
            continue
        entry.update(deliver_one(config, channels, entry["payload"], entry["route"]))
        if entry["state"] == "queued":
            queued.append(outbox_item(entry, policy.now))
    return queued


def outbox_item(entry, now):
    """The outbox item for a record that could not be delivered: no URL, only its route."""
    return {"payload": entry["payload"], "route": entry["route"], "queued_at": now.isoformat(timespec="seconds"),
            "attempts": entry["attempts"], "last_error": entry["last_error"]}


def deliver_one(config, channels, payload, route):
    """Deliver one alert: its delivery dict (``DELIVERY_KEYS``). Never raises."""
    try:
        answer = first_answer(config, channels, payload, route)
    except Exception as e:  # a broken channel costs this alert a retry next run, never the run's alerting
        error = failure_text(e, config.stash[SETTINGS])
        return delivery("queued", "delivery channel failed", 0, f"delivery channel failed: {error}")
    if answer is None:
        return delivery("unrouted", "no delivery channel took it", 0, None)
    if not isinstance(answer, dict):
        return delivery("failed", "delivery channel answered no delivery", 0, f"got {type(answer).__name__}")
    given = {key: answer[key] for key in DELIVERY_KEYS if key in answer}
    return dict(delivery(answer.get("state", "failed"), "", 0, None), **given)


def first_answer(config, channels, payload, route):
    """The first answer to one alert: any plugin's ``pytest_digitalme_deliver_alert``, then the suite's channels in
    their registered order (None: nobody took it)."""
    answer = config.hook.pytest_digitalme_deliver_alert(config=config, alert=payload, route=route)
    for channel in channels:
        if answer is not None:
            break
        answer = channel.post(route, payload)
    return answer
