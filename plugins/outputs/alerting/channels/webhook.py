"""The webhook channel, the suite's default: each alert POSTed, signed, to its route's webhook (``webhook_url``,
``webhook_url_critical``/``_warning``/``_emergency``) with libcurl (sender.py: retries, backoff, the budget).

In a fleet run the route (the severity, or ``emergency``) is looked up in the settings of the alert's target (its
payload's ``target_name``): each target's own webhooks and signing secret; a target the targets file no longer
names, or an alert from before the file, goes by the run's own settings. The URLs are never recorded.
"""

from plugins.configuration.markers import SEVERITIES
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import TARGETS
from plugins.outputs.alerting.sender import SendingChannel


def routes_of(settings):
    """Route -> webhook URL (never recorded): per severity its own URL, else the common one; ``emergency`` (Level
    3) only its own: unset, there is no Level 3."""
    routes = {s: getattr(settings, f"webhook_url_{s}") or settings.webhook_url for s in SEVERITIES}
    return dict(routes, emergency=settings.webhook_url_emergency)


def settings_of(config, name):
    """The settings an alert of target ``name`` is sent by: that target's, else (a target no longer in the targets
    file, an alert from a run without one) the run's own."""
    found = config.stash.get(TARGETS, {}).get(name)
    return found.settings if found is not None else config.stash[SETTINGS]


class Webhook(SendingChannel):
    """The webhook channel of one run (its deadline and sender: SendingChannel)."""

    routes_of = staticmethod(routes_of)

    def post(self, route, payload):
        settings = settings_of(self.config, payload.get("target_name"))
        url = routes_of(settings).get(route)
        if not url:
            return None  # no webhook for this route: another channel's, or nobody's
        return self.sender.post(url, payload, settings.webhook_secret)
