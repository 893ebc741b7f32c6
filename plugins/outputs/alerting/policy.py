"""What the alert cycle decides by (:class:`Policy`): each target's routes, repeat intervals, flap thresholds,
escalation delay and maintenance window, from its settings (a fleet's targets each their own; the run's own for an
alert of a target the targets file no longer names), the time now and what every payload says of the run."""

import dataclasses
import datetime as dt

from plugins.configuration.markers import SEVERITIES
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import targets_of
from plugins.outputs.alerting import channels
from plugins.outputs.results import paths_of


@dataclasses.dataclass(frozen=True)
class TargetPolicy:
    """How one target's alerts go, from its settings."""
    name: object  # the target's name in a fleet run, else None
    url: str  # the payloads' "target": its base URL
    repeat_s: dict  # severity -> repeat interval in seconds
    routes: dict  # route (a severity, or "emergency") -> webhook URL (never recorded), or "" when it has none
    window: object = None  # its maintenance window (settings.Window), or None
    alert_after: dict = dataclasses.field(default_factory=lambda: {s: 1 for s in SEVERITIES})  # failing runs
    resolve_after: int = 1  # passing runs of an alerted check before its resolved
    escalate_s: float = 30 * 60  # a critical still firing this long after its first critical alert: "emergency"

    def window_now(self, now):
        """The maintenance window when ``now`` is inside it, else None."""
        return self.window if self.window is not None and now in self.window else None


@dataclasses.dataclass
class Policy:
    """What planning needs besides the checks and the state."""
    now: dt.datetime
    context: dict  # "report", "timestamp" of the payloads, and the "secrets" to mask in them
    targets: dict  # target name (None without a targets file) -> TargetPolicy
    fallback: TargetPolicy  # the run's own settings: for alerts of a target the targets file no longer names

    def of(self, name):
        return self.targets.get(name, self.fallback)

    def of_payload(self, payload):
        """The policy of the target an alert (a payload) is about."""
        return self.of(payload.get("target_name"))

    def any_route(self):
        return any(url for p in (*self.targets.values(), self.fallback) for url in p.routes.values())



def target_policy(name, settings):
    """How the alerts of one target go, from its settings (``name`` None: the run's own)."""
    return TargetPolicy(
        name=name, url=settings.redacted()["base_url"], routes=channels.routes_of(settings),
        repeat_s={"critical": settings.alert_repeat_critical, "warning": settings.alert_repeat_warning},
        window=settings.maintenance_window,
        alert_after={"critical": settings.alert_after_critical, "warning": settings.alert_after_warning},
        resolve_after=settings.resolve_after, escalate_s=settings.escalate_after)


def policy_of(config, now=None):
    """The run's policy, at ``now`` (default: the time now, UTC)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    settings = config.stash[SETTINGS]
    context = {"report": paths_of(config)["html"], "timestamp": now.isoformat(timespec="seconds"),
               "secrets": settings.secrets()}
    targets = {name: target_policy(name, t.settings) for name, t in targets_of(config).items()}
    return Policy(now=now, context=context, targets=targets, fallback=target_policy(None, settings))
