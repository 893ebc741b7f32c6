"""Hold (step 2 of the alert cycle, cycle.py): inside the maintenance window nothing is sent; after it, the held
alerts go first.

Every alert that would go inside the window is ``held``: kept in the alert state and delivered by the first run after
the window, of any schedule (it need not select the check), unless its check passes first: then the held firing
alert is ``withdrawn`` and no ``resolved`` follows it (receivers never heard of it; a firing + resolved pair both
held collapses to nothing, and both show as withdrawn). A held ``resolved`` is withdrawn likewise if the check fails
again (both withdrawals are planned in plan.py). One held alert per check, status and route: a later one replaces
the payload, keeping when it was first held.

In a fleet run each target has its own window (its ``maintenance_window`` setting): only the alerts of targets
inside theirs are held, and only their outbox items wait; the other targets' alerts go as usual.
"""

import dataclasses

from plugins.outputs.alerting.episodes import take
from plugins.outputs.alerting.records import record


@dataclasses.dataclass
class Holding:
    """What holding leaves to deliver and to keep."""
    released: list  # the alerts held over a window now ended, as pending records: they go before this run's
    held: list  # what stays held: the alerts of targets still inside their window
    waiting: list  # the outbox items of targets inside their window: kept, not tried
    outbox: list  # the outbox items to try now


def hold(records, held, outbox, policy):
    """Step 2: this run's pending alerts of a target inside its maintenance window are held (``records`` and
    ``held`` updated); its outbox items wait too; what was held over a window now ended is released."""
    in_window = window_of(policy)
    hold_in_window(records, held, policy.now, in_window)
    still_held, over = split(held, in_window)
    waiting, outbox = split(outbox, in_window)
    return Holding(released=released(over, records), held=still_held, waiting=waiting, outbox=outbox)


def window_of(policy):
    """``payload -> the maintenance window its target is inside now, or None``."""
    return lambda payload: policy.of_payload(payload).window_now(policy.now)


def split(items, in_window):
    """(the items whose target is inside its maintenance window, the others), each in order."""
    inside = [bool(in_window(item["payload"])) for item in items]
    return ([item for item, i in zip(items, inside) if i], [item for item, i in zip(items, inside) if not i])


def hold_in_window(records, held, now, window_of):
    """Every pending alert whose target is inside its maintenance window (``window_of(payload)``, None when not)
    is held: kept for the first run after the window."""
    for entry in records:
        window = window_of(entry["payload"]) if entry["state"] == "pending" else None
        if window is None:
            continue
        payload = entry["payload"]
        same = take(held, payload["fingerprint"], payload["status"])
        held.extend(item for item in same if item["route"] != entry["route"])  # other routes' stay as they are
        first = next((item.get("held_at") for item in same if item["route"] == entry["route"]), None)
        held_at = first or now.isoformat(timespec="seconds")
        held.append({"payload": payload, "route": entry["route"], "held_at": held_at, "seen": entry.get("_seen")})
        entry.update(state="held", held_at=held_at, reason=f"maintenance window ({window}); sent by the first run "
                     "after it, unless the check passes first")
    return records


def released(held, records):
    """After the window: the held alerts as pending records, to go before this run's; one that this run alerts
    again itself (its repeat interval passed) is withdrawn, and this run's goes instead."""
    entries = [record(item["payload"], "pending", route=item["route"], from_held=True, held_at=item.get("held_at"))
               for item in held]
    def key(entry):
        return entry["payload"]["fingerprint"], entry["payload"]["status"], entry["route"]

    newer = {key(r) for r in records if r["state"] == "pending"}
    for entry in entries:
        if key(entry) in newer:
            entry.update(state="withdrawn", reason="superseded by this run's alert for the same check")
    return entries
