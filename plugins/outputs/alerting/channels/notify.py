"""The Apprise channel: each alert as one notification to each Apprise URL of its route (``notify`` for every route,
Level 3 included; ``notify_critical``/``_warning``/``_emergency`` besides): e-mail (``mailto://``, ``mailtos://``:
the manual's escalation matrix), Slack, Teams, ntfy, ``json://`` and the rest Apprise speaks (plugins/apprise_urls.py).

The title leads with the finding (``[CRITICAL] DigitalMe prod: /health answered 503 Unhealthy``); the body gives the
value, threshold, manual section, since when and the record. A URL that fails leaves the alert ``queued`` with
Apprise's reason (scrubbed): the outbox brings it back next run, and the URLs that had it already are not told
twice (``notified.json`` beside the alert state: which alert each URL heard, kept 30 days). The URLs are never
recorded: records, outbox and terminal name the route.
"""

import datetime as dt
import hashlib
import json
import os
import time

from plugins.apprise_urls import Notifier, secret_parts  # Apprise itself: only when a Notifier is made
from plugins.configuration.settings import SETTINGS
from plugins.files import write_atomically
from plugins.outputs.alerting.channels.webhook import settings_of
from plugins.outputs.alerting.records import EMERGENCY, ROUTES, check_in_run, delivery, failure_text
from plugins.outputs.alerting.store import Store, alerts_folder
from plugins.secrets import scrub, without_url_credentials

KEPT_DAYS = 30  # how long a URL's delivery is remembered: longer than any outbox item waits in practice


def routes_of(settings):
    """Route -> its Apprise URLs, one a line (never recorded): ``notify``'s and the route's own; ``""`` for none."""
    return {route: "\n".join(dict.fromkeys((*settings.notify, *getattr(settings, f"notify_{route}"))))
            for route in ROUTES}


def label_of(route, payload):
    """The title's tag: what kind of alert this is, at a glance in an inbox or a channel."""
    if payload.get("status") != "firing":
        return "RESOLVED"
    return "EMERGENCY" if route == EMERGENCY else payload.get("severity", route).upper()


def title_of(route, payload):
    """``[CRITICAL] DigitalMe prod: /health answered 503 Unhealthy``: the finding first, after what and where."""
    where = payload.get("target_name") or payload.get("target", "")
    finding = payload.get("title", "").removeprefix("resolved: ")
    return f"[{label_of(route, payload)}] {payload.get('service', 'DigitalMe')} {where}: {finding}"


def shown(value):
    return value if isinstance(value, str) else json.dumps(value)


def body_of(route, payload, manual, since):
    """The message, then one line each: value and threshold, manual section, since when, record, check, target."""
    lines = [payload.get("message", "")]
    if route == EMERGENCY:
        lines.append("Level 3 (emergency response): " + ("a data-loss or security finding, or a critical alert "
                                                         "still firing past the escalation delay"))
    if payload.get("value") is not None or payload.get("threshold") is not None:
        lines.append(f"Value: {shown(payload.get('value'))}; threshold: {shown(payload.get('threshold'))}")
    if manual:
        lines.append(f"Manual: {manual}")
    if payload.get("status") == "firing":
        lines.append(f"Since: {since or payload.get('timestamp')}")
    lines += [f"Record: {payload.get('report')}", f"Check: {payload.get('check')}",
              f"Target: {payload.get('target')}", f"At: {payload.get('timestamp')}"]
    return "\n".join(line for line in lines if line)


def key_of(route, payload, url):
    """One URL's delivery of one alert: a firing's per route (Level 3 is a notification of its own), a resolved
    once per URL, however many of its routes the URL is on."""
    heard = "" if payload.get("status") != "firing" else route
    text = "\n".join((payload.get("fingerprint", ""), payload.get("status", ""), payload.get("timestamp", ""),
                      heard, url))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def combined(answers):
    """One route's delivery from its URLs' (each ``(state, reason)``): sent when every URL has it."""
    failing = [reason for state, reason in answers if state != "sent"]
    if not failing:
        return delivery("sent", "", len(answers), None)
    reason = f"{len(failing)} of {len(answers)} Apprise URLs: {failing[0]}"
    return delivery("queued", reason, len(answers), reason)


class Notify:
    """The Apprise channel of one run: its deadline, one Apprise notifier and the ledger, made when first needed."""

    routes_of = staticmethod(routes_of)

    def __init__(self, config, deadline):
        self.config, self.deadline = config, deadline
        self.notifier, self.ledger, self.since, self.down = None, None, None, {}

    def post(self, route, payload):
        settings = settings_of(self.config, payload.get("target_name"))
        urls = routes_of(settings).get(route, "").split()
        if not urls:
            return None  # no Apprise URL for this route: another channel's, or nobody's
        return combined([self.send_one(url, route, payload, settings) for url in urls])

    def send_one(self, url, route, payload, settings):
        """One URL's notification: ``(state, reason)``; a URL that had this alert already is not told again."""
        key = key_of(route, payload, url)
        if key in self.heard():
            return "sent", ""
        if url in self.down:
            return "queued", self.down[url] + " (not tried again this run)"
        left = self.deadline - time.monotonic()
        if left <= 0.1:
            return "queued", "alert budget exhausted"
        if self.notifier is None:
            self.notifier = Notifier()  # imports Apprise: only when there is something to send
        sent, said = self.notifier.send(url, title_of(route, payload), self.body(route, payload),
                                        "resolved" if payload.get("status") != "firing" else route, left)
        if not sent:
            self.down[url] = "not sent: " + self.cleaned(said, url, settings)
            return "queued", self.down[url]
        self.remember(key)
        return "sent", ""

    def cleaned(self, text, url, settings):
        """Apprise's reason as one line without any part of the URL or any other secret."""
        text = scrub(text.splitlines()[0] if text else "", sorted(secret_parts(url), key=len, reverse=True))
        return failure_text(Exception(without_url_credentials(text)), settings).removeprefix("Exception: ")[:300]

    def body(self, route, payload):
        return body_of(route, payload, self.manual_of(payload), self.since_of(payload))

    def manual_of(self, payload):
        """The manual section of the alert's check in this run (an outbox item of an older run's: none)."""
        check = check_in_run(self.config, payload)
        return check.manual if check is not None else ""

    def since_of(self, payload):
        """When the alert's episode first alerted: an escalation's payload says it; else the alert state as the
        previous run left it (none: this is its first alert)."""
        if payload.get("first_alerted"):
            return payload["first_alerted"]
        if self.since is None:
            self.since = Store(self.config.stash[SETTINGS].report_dir).read_state()[0]
        return self.since.get(payload.get("fingerprint"), {}).get("first_alerted")

    # the ledger: which URL heard which alert, so a retried alert reaches only the URLs that missed it

    def ledger_path(self):
        return os.path.join(alerts_folder(self.config.stash[SETTINGS].report_dir), "notified.json")

    def heard(self):
        if self.ledger is None:
            try:
                with open(self.ledger_path(), encoding="utf-8") as f:
                    found = json.load(f)
                self.ledger = found if isinstance(found, dict) else {}
            except (OSError, ValueError):
                self.ledger = {}  # worst case a URL hears an alert twice, never not at all
        return self.ledger

    def remember(self, key):
        """Written at once (the cycle holds the alert lock): a run killed later still knows who heard it."""
        now = dt.datetime.now(dt.timezone.utc)
        oldest = (now - dt.timedelta(days=KEPT_DAYS)).isoformat()
        self.ledger = {k: when for k, when in self.heard().items() if when >= oldest}
        self.ledger[key] = now.isoformat(timespec="seconds")
        try:
            write_atomically(self.ledger_path(), json.dumps(self.ledger, sort_keys=True))
        except OSError:
            pass  # the report folder is broken: the alert state notes it; a retry may repeat this URL's alert

    def close(self):
        pass
