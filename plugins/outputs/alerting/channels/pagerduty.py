"""The PagerDuty channel: each alert an Events API v2 event POSTed to ``pagerduty_url`` (the public US endpoint by
default; the EU one or a proxy) with libcurl (sender.py: 429 and 5xx retried with backoff within the budget).

A firing alert is a ``trigger`` with ``dedup_key`` the alert's fingerprint (the check on its target: PagerDuty
folds every trigger of one episode into one alert), ``severity`` critical or warning, ``source`` the target (its
name in a fleet, else its base URL), ``summary`` the finding, ``custom_details`` value, threshold, what was
required, the manual's check and the record. A resolved alert is a ``resolve`` with the same ``dedup_key``.
Critical and warning go by ``pagerduty_routing_key``, Level 3 by ``pagerduty_routing_key_emergency`` (unset: no
Level 3 to PagerDuty). A 400 is a failed delivery with PagerDuty's own message, never retried: the event is refused
and would be refused again. The routing keys are secrets: never recorded, masked wherever a message could show one.
"""

import json

from plugins.outputs.alerting.channels.webhook import settings_of
from plugins.outputs.alerting.records import EMERGENCY
from plugins.outputs.alerting.sender import SendingChannel
from plugins.secrets import scrub

CLIENT = "DigitalMe Ops Checks"
SUMMARY_MAX = 1024  # PagerDuty's limit on payload.summary


def routes_of(settings):
    """Route -> routing key (never recorded): critical and warning the common key, ``emergency`` its own."""
    key = settings.pagerduty_routing_key
    routes = {"critical": key, "warning": key} if key else {}
    if settings.pagerduty_routing_key_emergency:
        routes[EMERGENCY] = settings.pagerduty_routing_key_emergency
    return routes


def event_of(payload, routing_key):
    """The Events API v2 event of one alert: a trigger while firing, a resolve when resolved."""
    if payload["status"] != "firing":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": payload["fingerprint"]}
    source = payload.get("target_name") or payload["target"]
    details = {"value": payload.get("value"), "threshold": payload.get("threshold"), "finding": payload["message"],
               "check": payload["check"], "record": payload["report"]}
    details.update({key: payload[key] for key in ("level", "level3", "escalation", "first_critical")
                    if key in payload})
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": payload["fingerprint"],
            "client": CLIENT,
            "payload": {"summary": f"{payload['service']} {source}: {payload['title']}"[:SUMMARY_MAX],
                        "source": source, "severity": severity_of(payload), "timestamp": payload["timestamp"],
                        "component": payload["check"], "group": payload["service"], "custom_details": details}}


def severity_of(payload):
    """PagerDuty's severity: the alert's (critical, warning); Level 3 is critical whatever the check's."""
    return "critical" if payload.get("level") == 3 else payload["severity"]


def refusal_of(secrets):
    """``body -> PagerDuty's own words`` for a refused event (its ``message`` and ``errors``), secrets masked."""
    def explain(body):
        try:
            answer = json.loads(body)
            words = [str(answer.get("message", ""))] + [str(e) for e in answer.get("errors") or []]
        except (ValueError, AttributeError):
            words = [body.decode("utf-8", "replace")[:200]]
        return scrub(": ".join(word for word in words if word), secrets) or "no message"
    return explain


class PagerDuty(SendingChannel):
    """The PagerDuty channel of one run (its deadline and sender: SendingChannel)."""

    routes_of = staticmethod(routes_of)

    def post(self, route, payload):
        settings = settings_of(self.config, payload.get("target_name"))
        key = routes_of(settings).get(route)
        if not key:
            return None
        answer = self.sender.post(settings.pagerduty_url, event_of(payload, key),
                                  explain=refusal_of(settings.secrets()))
        return {name: scrub(value, settings.secrets()) if isinstance(value, str) else value
                for name, value in answer.items()}
