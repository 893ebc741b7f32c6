"""Deliver (step 3 of the alert cycle, cycle.py): first the outbox, in order, then the alerts released after the
maintenance window, then this run's; each alert to any plugin's ``pytest_digitalme_deliver_alert`` first (its answer
wins), else to every one of the suite's channels that takes its route (channels/: the signed webhook POST, Apprise
URLs), their answers joined into one: ``sent`` when all have it, ``queued`` while any still has to try again (the
outbox item then names the channels that had it, ``sent_by``, so the retry reaches only the others).

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
            entry.update(deliver_one(config, channels, item["payload"], item["route"], item.get("sent_by", ())))
            if entry["state"] == "queued":
                kept.append(dict(item, attempts=item.get("attempts", 0) + entry["attempts"],
                                 last_error=entry["last_error"], **sent_by(entry)))
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
            "attempts": entry["attempts"], "last_error": entry["last_error"], **sent_by(entry)}


def sent_by(entry):
    """``{"sent_by": [...]}``: the channels that have a queued alert already (none named: ``{}``)."""
    return {"sent_by": entry["sent_by"]} if entry.get("sent_by") else {}


def deliver_one(config, channels, payload, route, done=()):
    """Deliver one alert (not again to the channels ``done``): its delivery dict (``DELIVERY_KEYS``, and
    ``sent_by`` when several channels took it). Never raises."""
    try:
        answer = answer_of(config, channels, payload, route, done)
    except Exception as e:  # a broken channel costs this alert a retry next run, never the run's alerting
        error = failure_text(e, config.stash[SETTINGS])
        return delivery("queued", "delivery channel failed", 0, f"delivery channel failed: {error}")
    if answer is None:
        return delivery("unrouted", "no delivery channel took it", 0, None)
    if not isinstance(answer, dict):
        return delivery("failed", "delivery channel answered no delivery", 0, f"got {type(answer).__name__}")
    given = {key: answer[key] for key in (*DELIVERY_KEYS, "sent_by") if key in answer}
    return dict(delivery(answer.get("state", "failed"), "", 0, None), **given)


def answer_of(config, channels, payload, route, done=()):
    """The answer to one alert: any plugin's ``pytest_digitalme_deliver_alert``, else every suite channel's that
    takes the route (but those ``done``), in their registered order, joined (None: nobody took it)."""
    answer = config.hook.pytest_digitalme_deliver_alert(config=config, alert=payload, route=route)
    if answer is not None:
        return answer
    answers = {}
    for name, channel in channels.items():
        if name not in done:
            answer = posted(config, channel, route, payload)
            if answer is not None:
                answers[name] = answer
    return joined(answers, list(done))


def posted(config, channel, route, payload):
    """One channel's answer; one that raises has the alert ``queued`` (retried on it next run), the others keep
    what they delivered."""
    try:
        return channel.post(route, payload)
    except Exception as e:
        error = failure_text(e, config.stash[SETTINGS])
        return delivery("queued", "delivery channel failed", 0, f"delivery channel failed: {error}")


def joined(answers, done):
    """One delivery from several channels' (name -> answer), ``done`` having it already: one channel's answer as it
    is; else ``queued`` while any is queued, ``failed`` when any refused it, ``sent`` when every one has it."""
    if len(answers) == 1 and not done:
        return next(iter(answers.values()))
    if not answers:
        return delivery("sent", "", 0, None) if done else None
    states = {name: a.get("state", "failed") if isinstance(a, dict) else "failed" for name, a in answers.items()}
    state = next((s for s in ("queued", "failed") if s in states.values()), "sent")
    reasons = [f"{name}: {answers[name].get('reason') or s}" for name, s in states.items()
               if s != "sent" and isinstance(answers[name], dict)]
    errors = [a.get("last_error") for a in answers.values() if isinstance(a, dict) and a.get("last_error")]
    found = delivery(state, "; ".join(reasons), sum(a.get("attempts", 0) for a in answers.values()
                                                    if isinstance(a, dict)), errors[0] if errors else None)
    return dict(found, sent_by=done + [name for name, s in states.items() if s == "sent"])
