"""The Alertmanager channel: each alert POSTed to ``<url>/api/v2/alerts`` of every Alertmanager named in
``alertmanager_url`` (an HA pair: each gets every alert, as Prometheus sends them), with libcurl (sender.py:
retries, backoff, the budget). Silences, inhibition, grouping and routing are then Alertmanager's.

An alert is identified by its labels: ``alertname`` (the check), ``severity``, ``target`` (the target's name in a
fleet, else its base URL), ``service="DigitalMe"``, ``selection`` (the schedules the check runs on, e.g.
``monitor`` or ``daily,weekly``: the same on every run of the check, whichever schedule runs it) and, on the Level
3 route, ``level="3"``. Annotations: ``summary`` the finding, ``description`` the finding with what was required,
``record`` the run's HTML record, ``value``, ``threshold``.

``startsAt`` is the first failing run (the check's ``failing_since``). A firing alert's ``endsAt`` keeps it active
until the check's next scheduled run is overdue: its shortest schedule's period plus a grace (:func:`active_s`), so
a weekly check's alert does not expire after Alertmanager's 5 minutes and a monitor check's ends soon after its
monitor stops running. The alert is re-posted on every run while its check fails (refresh.py, ``refreshes``), so
``endsAt`` moves on with each run. A resolved alert has ``endsAt`` now: Alertmanager resolves it at once.
"""

import datetime as dt
import json
import os

from plugins.outputs.alerting.channels.webhook import settings_of
from plugins.outputs.alerting.records import EMERGENCY, ROUTES, SERVICE, check_in_run
from plugins.outputs.alerting.sender import SendingChannel

API = "/api/v2/alerts"
PERIOD_S = {  # how often each schedule runs (markers.SCHEDULES; "change" runs on demand: no period)
    "monitor": 5 * 60, "resources": 4 * 3600, "daily": 24 * 3600, "weekly": 7 * 24 * 3600,
    "monthly": 35 * 24 * 3600,  # the first Sunday of a month: 4 or 5 weeks apart
}
UNKNOWN_PERIOD_S = 24 * 3600  # a check of no periodic schedule, or one this run does not know
GRACE_MIN_S = 5 * 60  # a run may start late and take a while: overdue after its period plus the larger of these
GRACE_SHARE = 0.25


def routes_of(settings):
    """Every route goes to the Alertmanager(s), when set (never recorded); ``emergency`` too, labelled level 3."""
    urls = settings.alertmanager_url
    return {route: urls for route in ROUTES} if urls else {}


def active_s(schedules):
    """How long a firing alert stays active without a re-post: until the next run of the check's most frequent
    schedule is overdue (its period plus a grace)."""
    periods = [PERIOD_S[name] for name in schedules or () if name in PERIOD_S]
    period = min(periods) if periods else UNKNOWN_PERIOD_S
    return period + max(GRACE_MIN_S, GRACE_SHARE * period)


def rfc3339(when):
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_of(config, payload):
    """What the alert's check declares and since when it fails: ``{"schedules", "failing_since"}`` from this run's
    outcome of it, else (an alert held over the maintenance window or queued in the outbox by an earlier run that
    this run's selection does not share: the weekly checks at Sunday 02:00, sent by the next monitor run) from the
    results file of the run that made the alert (its ``report``, as .json); ``{}`` when neither knows it."""
    check = check_in_run(config, payload)
    if check is not None:
        return {"schedules": list(check.schedules), "failing_since": check.failing_since}
    return recorded_check(payload)


def recorded_check(payload):
    """The alert's check as the results file of the run that made the alert has it (``{}``: none readable)."""
    try:
        with open(os.path.splitext(payload["report"])[0] + ".json", encoding="utf-8") as file:
            checks = json.load(file).get("checks", [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return next(({"schedules": c.get("schedules") or [], "failing_since": c.get("failing_since")} for c in checks
                 if c.get("id") == payload.get("check") and c.get("target") == payload.get("target_name")), {})


def alert_of(payload, route, check, now):
    """The API v2 alert of one payload (``check``: :func:`check_of`): labels, annotations, ``startsAt``,
    ``endsAt``."""
    schedules = check.get("schedules") or []
    level3 = route == EMERGENCY or payload.get("level") == 3
    labels = {"alertname": payload["check"], "severity": "critical" if level3 else payload["severity"],
              "target": payload.get("target_name") or payload["target"], "service": SERVICE,
              "selection": ",".join(schedules) or "unknown"}
    if level3:
        labels["level"] = "3"
    annotations = {"summary": payload["title"], "description": payload["message"], "record": payload["report"],
                   "value": str(payload.get("value")), "threshold": str(payload.get("threshold"))}
    since = check.get("failing_since") or payload["timestamp"]
    firing = payload["status"] == "firing"
    ends = now + dt.timedelta(seconds=active_s(schedules)) if firing else now
    return {"labels": labels, "annotations": annotations, "startsAt": rfc3339(dt.datetime.fromisoformat(since)),
            "endsAt": rfc3339(ends)}


def all_of(answers):
    """One delivery for every Alertmanager of the pair: the worst answer (queued, then failed); sent when each
    took it. Re-posting to one that had it is harmless: Alertmanager merges alerts by their labels."""
    for state in ("queued", "failed"):
        worst = [(n, a) for n, a in enumerate(answers, 1) if a["state"] == state]
        if worst:
            number, answer = worst[0]
            where = f"Alertmanager {number} of {len(answers)}: " if len(answers) > 1 else ""
            return dict(answer, reason=where + answer["reason"], attempts=sum(a["attempts"] for a in answers),
                        last_error=where + (answer["last_error"] or ""))
    return dict(answers[0], attempts=sum(a["attempts"] for a in answers))


class Alertmanager(SendingChannel):
    """The Alertmanager channel of one run (its deadline and sender: SendingChannel)."""

    routes_of = staticmethod(routes_of)
    refreshes = True  # an alert not re-posted expires at its endsAt: every failing run re-posts it (refresh.py)

    def post(self, route, payload):
        settings = settings_of(self.config, payload.get("target_name"))
        urls = routes_of(settings).get(route)
        if not urls:
            return None
        alert = alert_of(payload, route, check_of(self.config, payload), dt.datetime.now(dt.timezone.utc))
        return all_of([self.sender.post(url + API, [alert]) for url in urls.split(",")])
