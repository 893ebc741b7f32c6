"""The flood guard (the end of step 1, planning): beyond ``alerts_max_per_run`` firing alerts in one run, one summary
alert per target concerned goes instead, to that target's route, and the others are ``summarised``. The emergency
route's alerts are guarded on their own (its summary goes to it)."""

from plugins.configuration.markers import SEVERITIES
from plugins.outputs.alerting.records import EMERGENCY, SERVICE, fingerprint, record

FLOOD_TITLES = 5


def flood_guard(records, limit, policy):
    """Beyond ``limit`` firing alerts in the run, a summary alert instead: ``records`` plus the summaries, one per
    target concerned (to that target's route: each receiver hears only of the targets routed to it), one in all
    without a targets file. The emergency route's alerts are guarded on their own (its summary goes to it)."""
    return guard(guard(records, limit, policy, False), limit, policy, True)


def guard(records, limit, policy, emergency):
    firing = [r for r in records if r["state"] == "pending" and r["payload"]["status"] == "firing"
              and (r["route"] == EMERGENCY) == emergency]
    if len(firing) <= limit:
        return records
    by_target = {}
    for entry in firing:
        entry.update(state="summarised", reason=f"more than {limit} alerts in this run")
        by_target.setdefault(entry["payload"].get("target_name"), []).append(entry)
    if emergency:
        return records + [record(dict(summary_of(group, name, limit, policy), level=3), "pending", route=EMERGENCY)
                          for name, group in by_target.items()]
    return records + [record(summary_of(group, name, limit, policy), "pending") for name, group in by_target.items()]


def summary_of(firing, name, limit, policy):
    """The summary payload of one target's ``firing`` alerts (``name`` None: the one target of a run without a
    targets file)."""
    worst = next(s for s in SEVERITIES if any(r["payload"]["severity"] == s for r in firing))
    titles = [r["payload"]["title"] for r in firing]
    more = f" and {len(titles) - FLOOD_TITLES} more" if len(titles) > FLOOD_TITLES else ""
    on = f" on {name}" if name is not None else ""
    url, context = policy.of(name).url, policy.context
    summary = {
        "severity": worst, "service": SERVICE, "timestamp": context["timestamp"], "status": "firing",
        "message": f"{len(titles)} checks failed{on}: " + "; ".join(titles[:FLOOD_TITLES]) + more,
        "check": "summary", "title": f"{len(titles)} checks failed{on}", "target": url,
        "fingerprint": fingerprint("summary", url, name), "report": context["report"],
        "value": len(titles), "threshold": limit,
    }
    if name is not None:
        summary["target_name"] = name
    return summary
