"""The terminal lines of alerting, before the run's status line (plugins/pipeline.py): in dry-run each payload, then
one summary line (``DigitalMe alerts: 2 sent, 1 suppressed (repeat interval), ...``, by target in a fleet run, and
the heartbeat), then where the alert state was kept when the report folder could not take it. Secrets masked."""

import json

from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import fleet
from plugins.outputs.alerting.records import EMERGENCY
from plugins.secrets import scrub


def counted(records):
    """``2 sent, 1 suppressed (repeat interval)``: how many records ended in each state (and why)."""
    counts = {}
    for entry in records:
        to = " to emergency" if entry.get("route") == EMERGENCY else ""  # Level 3: say so, not only the count
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

