"""The alert channels: where step 3 of the alert cycle (delivery.py) takes each alert, in the order registered
below, after any plugin's ``pytest_digitalme_deliver_alert`` (plugins/hookspecs.py: the first answer wins).

A channel is one module with one class, registered by name in :data:`CHANNELS`:

- ``routes_of(settings)`` (static): route (``critical``, ``warning``, ``emergency``) -> where that route's alerts
  go for one target's settings, ``""`` where the channel takes none; never recorded. A route no channel takes is
  ``unrouted``.
- ``Channel(config, deadline)``: opened once per run that delivers (the deadline is the run's alert budget);
  ``post(route, payload)`` delivers one alert and answers ``{"state": "sent" | "queued" | "failed", "reason",
  "delivered", "attempts", "last_error"}``, or None where it takes no such alert; ``close()``.
- ``refreshes`` (optional, True): the channel wants every run's firing alert while its check fails, not only
  those the repeat interval lets through (Alertmanager: an alert not re-posted expires); refresh.py.

Every channel that takes an alert's route gets it (delivery.py); an alert one channel could not take stays in the
outbox for that channel only.
"""

import contextlib

from plugins.outputs.alerting.channels import alertmanager, notify, pagerduty, webhook

CHANNELS = {  # name -> channel class, in the order they hear each alert
    "webhook": webhook.Webhook,  # the signed webhook POST: DIGITALME_WEBHOOK_URL[_CRITICAL|_WARNING|_EMERGENCY]
    "notify": notify.Notify,  # Apprise URLs (e-mail, Slack, ...): DIGITALME_NOTIFY[_CRITICAL|_WARNING|_EMERGENCY]
    "alertmanager": alertmanager.Alertmanager,  # API v2 alerts, re-posted every run: DIGITALME_ALERTMANAGER_URL
    "pagerduty": pagerduty.PagerDuty,  # Events API v2 trigger/resolve: DIGITALME_PAGERDUTY_ROUTING_KEY[_EMERGENCY]
}


def routes_of(settings):
    """Route -> where its alerts go (never recorded), every channel's destinations together; ``""`` when no
    channel takes that route. Two routes with the same destinations are one receiver (it hears a resolved once)."""
    found = {}
    for channel in CHANNELS.values():
        for route, where in channel.routes_of(settings).items():
            found[route] = "\n".join(filter(None, (found.get(route, ""), where)))
    return found


@contextlib.contextmanager
def opened(config, deadline):
    """Every registered channel (name -> channel), open for this run's deliveries until ``deadline``, closed
    afterwards."""
    channels = {name: channel(config, deadline) for name, channel in CHANNELS.items()}
    try:
        yield channels
    finally:
        for channel in channels.values():
            channel.close()
