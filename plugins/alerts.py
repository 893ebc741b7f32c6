"""Alerts: after a run, failed checks become webhook alerts that arrive once, repeat sparingly, say when they are
resolved, and are not lost when the receiver is down.

Flow, once per run, on the controller only, in ``pytest_sessionfinish`` (before ``results.py`` writes the results
file, so every alert's delivery outcome is in it):

1. **Plan** (:func:`plan`): each failed or errored check is a ``firing`` alert at its applied severity; each check
   that passed after having alerted is one ``resolved`` alert. A firing alert already sent within the repeat interval
   of its severity is ``suppressed (repeat interval)``; inside the maintenance window every alert is
   ``suppressed (maintenance window)``; an alert whose severity has no webhook is ``unrouted``. Beyond
   ``alerts_max_per_run`` firing alerts, one summary alert goes instead and the others are ``summarised``.
2. **Deliver** (:class:`Sender`), under an exclusive lock on ``<report dir>/alerts/lock`` so overlapping runs (cron)
   neither double-send nor lose state: first the outbox, in order, then this run's alerts. Each POST is signed
   (``X-DigitalMe-Signature: sha256=<HMAC of the body>``) when a secret is set, has connect/read timeouts, and is
   retried with exponential backoff on connection errors, timeouts, 5xx and 429; other 4xx are ``failed`` at once.
   Everything shares one time budget (``alert_budget_s``), lock wait included.
3. **Keep** what could not be delivered in ``<report dir>/alerts/outbox.jsonl`` (``queued``) and the dedup state in
   ``<report dir>/alerts/state.json``; both are rewritten atomically before the lock is released. Delivery is at least
   once: a run killed mid-delivery sends again next time rather than losing anything.
4. **Heartbeat**: ``heartbeat_url`` (or ``<url>/fail`` when a check failed) gets a GET, a dead-man's switch.

Each alert becomes one record in ``run.alerts`` (the results file's ``"alerts"``): ``{"payload", "state",
"reason", "route", "delivered", "attempts", "last_error", "from_outbox"}``, where ``state`` is one of sent, queued,
failed, suppressed, summarised, unrouted, dropped, dry-run (or error, when alerting itself broke). Webhook URLs and
the secret are never written anywhere: records, outbox and terminal name the route (the severity), and the URL is
looked up in the settings at delivery time. Alerting never raises: a failure is one record and one terminal line,
and the checks' outcomes and pytest's exit code stay as they were.
"""

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import time
import urllib.parse

from plugins.results import paths_of, scrub, write_atomically
from plugins.settings import SETTINGS
from plugins.severity import RUN, SEVERITIES

SERVICE = "DigitalMe"
SIGNATURE_HEADER = "X-DigitalMe-Signature"
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 4
BACKOFF_S = 0.5  # waits 0.5, 1, 2 s between the attempts
RETRY_AFTER_MAX_S = 10.0  # a receiver asking for a longer pause gets the alert next run instead
HEARTBEAT_MIN_S = 2.0  # the heartbeat is tried even when the alerts used up the budget: it proves the run happened
OUTBOX_MAX = 1000  # a receiver down for weeks must not grow the outbox without end
FLOOD_TITLES = 5
FAILING = ("failed", "error")


class AlertingError(Exception):
    """Alerting could not proceed (e.g. the state stayed locked by another run); the run's results stand."""


# --- plan: what to alert --------------------------------------------------------------------------

def fingerprint(check_id, target):
    """Stable across runs: the same check on the same target is the same alert."""
    return hashlib.sha256(f"{check_id}\n{target}".encode()).hexdigest()[:32]


def scrubbed(value, secrets):
    """``value`` with every secret masked, inside strings, lists and dicts."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, (list, tuple)):
        return [scrubbed(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrubbed(v, secrets) for k, v in value.items()}
    return value


def payload_of(check, status, severity, context):
    """The manual's ``{"severity", "service", "message", "timestamp"}`` plus what receivers need."""
    if status == "firing":
        message = f"{check.title}: {check.message}" if check.message else check.title
    else:
        message = f"resolved: {check.title}"
    payload = {
        "severity": severity, "service": SERVICE, "message": message, "timestamp": context["timestamp"],
        "status": status, "check": check.id, "title": check.title, "target": context["target"],
        "fingerprint": fingerprint(check.id, context["target"]), "report": context["report"],
        "value": json.loads(json.dumps(check.value, default=str)),
        "threshold": json.loads(json.dumps(check.threshold, default=str)),
    }
    return scrubbed(payload, context["secrets"])


def record(payload, state, reason="", route=None, **delivery):
    """One entry of ``run.alerts``."""
    entry = {"payload": payload, "state": state, "reason": reason, "route": route or payload["severity"],
             "delivered": False, "attempts": 0, "last_error": None, "from_outbox": False}
    entry.update(delivery)
    return entry


def age_s(seen, now):
    """Seconds since a state entry last alerted (a change of severity or an unreadable entry alerts at once)."""
    try:
        return (now - dt.datetime.fromisoformat(seen["last_alerted"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def plan(checks, state, context, now, repeat_s, routes):
    """(records, new state): one record per alert of this run, ``pending`` where it is to be sent."""
    state = dict(state)
    records = []
    for check in checks:
        key = fingerprint(check.id, context["target"])
        seen = state.get(key)
        if check.outcome in FAILING:
            entry = record(payload_of(check, "firing", check.severity, context), "pending")
            if not routes.get(check.severity):
                entry.update(state="unrouted", reason="no webhook configured")
            elif seen and seen.get("severity") == check.severity and age_s(seen, now) < repeat_s[check.severity]:
                entry.update(state="suppressed", reason="repeat interval")
            else:
                state[key] = {"check": check.id, "severity": check.severity, "last_alerted": now.isoformat(),
                              "first_alerted": (seen or {}).get("first_alerted", now.isoformat())}
            records.append(entry)
        elif check.outcome == "passed" and seen:  # skipped or deselected checks resolve nothing
            severity = seen.get("severity", check.severity)  # the severity it alerted at
            entry = record(payload_of(check, "resolved", severity, context), "pending")
            if routes.get(severity):
                del state[key]
            else:
                entry.update(state="unrouted", reason="no webhook configured")
            records.append(entry)
    return records, state


def flood_guard(records, limit, context):
    """Beyond ``limit`` firing alerts, one summary alert instead: ``records`` plus the summary, if any."""
    firing = [r for r in records if r["state"] == "pending" and r["payload"]["status"] == "firing"]
    if len(firing) <= limit:
        return records
    for entry in firing:
        entry.update(state="summarised", reason=f"more than {limit} alerts in this run")
    worst = next(s for s in SEVERITIES if any(r["payload"]["severity"] == s for r in firing))
    titles = [r["payload"]["title"] for r in firing]
    more = f" and {len(titles) - FLOOD_TITLES} more" if len(titles) > FLOOD_TITLES else ""
    summary = {
        "severity": worst, "service": SERVICE, "timestamp": context["timestamp"], "status": "firing",
        "message": f"{len(titles)} checks failed: " + "; ".join(titles[:FLOOD_TITLES]) + more,
        "check": "summary", "title": f"{len(titles)} checks failed", "target": context["target"],
        "fingerprint": fingerprint("summary", context["target"]), "report": context["report"],
        "value": len(titles), "threshold": limit,
    }
    return records + [record(summary, "pending")]


# --- deliver: POST with timeouts, retries and one budget --------------------------------------------

def describe_error(error):
    """What went wrong, without the URL that requests' own messages carry."""
    import requests
    if isinstance(error, requests.Timeout):
        return "receiver timed out", f"receiver timed out ({type(error).__name__})"
    return "receiver unreachable", f"receiver unreachable ({type(error).__name__})"


def retry_after(response, attempt):
    """The wait before the next attempt: the receiver's small Retry-After, else exponential backoff."""
    try:
        asked = float(response.headers.get("Retry-After", "")) if response is not None else None
    except ValueError:
        asked = None
    if asked is not None and asked > RETRY_AFTER_MAX_S:
        return float("inf")  # longer than a run should wait: the outbox keeps it for the next run
    return asked if asked is not None and asked >= 0 else BACKOFF_S * 2 ** (attempt - 1)


def delivery(state, reason, attempts, last_error):
    return {"state": state, "reason": reason, "delivered": state == "sent", "attempts": attempts,
            "last_error": last_error}


class Sender:
    """One HTTP session for the run's alerts, its deadline, and the receivers found down so far."""

    def __init__(self, secret, deadline):
        import requests  # imported where first needed: most runs send nothing, and start-up time counts
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "digitalme-health-suite"
        self.secret = secret.encode() if secret else b""
        self.deadline = deadline
        self.down = {}  # url -> reason: later alerts to it are queued untried, so order is kept and time saved

    def left(self):
        return self.deadline - time.monotonic()

    def post(self, url, payload):
        """Deliver one alert: ``{"state", "reason", "delivered", "attempts", "last_error"}``."""
        import requests
        if url in self.down:
            return delivery("queued", self.down[url], 0, "not tried: the receiver failed earlier in this run")
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        attempts, reason, error = 0, "alert budget exhausted", "alert budget exhausted before the first attempt"
        while self.left() > 0.1:
            attempts += 1
            response = None
            try:
                response = self.session.post(url, data=body, headers=headers, timeout=self.timeouts(),
                                             allow_redirects=False)  # a redirected POST would arrive as a GET
                response.close()
            except requests.RequestException as e:
                reason, error = describe_error(e)
            else:
                if 200 <= response.status_code < 300:
                    return delivery("sent", "", attempts, error if attempts > 1 else None)
                reason = error = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    return delivery("failed", f"{reason}, not retried", attempts, f"{error}: not retried and not "
                                    "queued, the receiver refuses this alert and would refuse it again")
            wait = retry_after(response, attempts)
            if attempts >= MAX_ATTEMPTS or wait >= self.left():
                break
            time.sleep(wait)
        self.down[url] = reason
        return delivery("queued", reason, attempts, error)

    def timeouts(self, deadline=None):
        """(connect, read) timeouts, never past the deadline."""
        left = (deadline or self.deadline) - time.monotonic()
        return min(CONNECT_TIMEOUT_S, left), min(READ_TIMEOUT_S, left)

    def ping(self, url):
        """GET the heartbeat URL, twice at most: ``{"pinged", "attempts", "last_error"}``."""
        import requests
        deadline = max(self.deadline, time.monotonic() + HEARTBEAT_MIN_S)
        error = None
        for attempt in (1, 2):
            left = deadline - time.monotonic()
            if left <= 0.1:
                break
            try:
                response = self.session.get(url, timeout=self.timeouts(deadline))
                response.close()
            except requests.RequestException as e:
                error = describe_error(e)[1]
            else:
                if response.status_code < 300:
                    return {"pinged": True, "attempts": attempt, "last_error": None}
                error = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    return {"pinged": False, "attempts": attempt, "last_error": error}
            if attempt == 1:
                time.sleep(min(BACKOFF_S, max(0.0, deadline - time.monotonic())))
        return {"pinged": False, "attempts": attempt, "last_error": error or "heartbeat budget exhausted"}


# --- keep: state and outbox under the report directory ----------------------------------------------

class Store:
    """``<report dir>/alerts/``: ``state.json`` (dedup), ``outbox.jsonl`` (undelivered) and the ``lock``."""

    def __init__(self, report_dir):
        self.folder = os.path.join(report_dir, "alerts")
        self.state_path = os.path.join(self.folder, "state.json")
        self.outbox_path = os.path.join(self.folder, "outbox.jsonl")

    @contextlib.contextmanager
    def locked(self, deadline):
        """Exclusive for the read-deliver-write cycle, so two overlapping runs cannot both alert."""
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "lock"), "a") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise AlertingError("the alert state stayed locked by another run for the whole "
                                            "alert budget") from None
                    time.sleep(0.05)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_state(self):
        """Fingerprint -> ``{"check", "severity", "last_alerted", "first_alerted"}``; unreadable counts as empty."""
        try:
            with open(self.state_path, encoding="utf-8") as f:
                alerts = json.load(f).get("alerts", {})
            return {key: entry for key, entry in alerts.items() if isinstance(entry, dict)}
        except (OSError, ValueError, AttributeError):
            return {}  # worst case a repeat alert, never a lost one

    def write_state(self, state):
        write_atomically(self.state_path, json.dumps({"schema": 1, "alerts": state}, indent=1, sort_keys=True))

    def read_outbox(self):
        """The undelivered alerts, oldest first: ``{"payload", "route", "queued_at", "attempts", "last_error"}``."""
        try:
            with open(self.outbox_path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        items = []
        for line in lines:
            with contextlib.suppress(ValueError):
                items.append(json.loads(line))
        return [item for item in items if isinstance(item, dict) and "payload" in item and "route" in item]

    def write_outbox(self, items):
        write_atomically(self.outbox_path, "".join(json.dumps(item, sort_keys=True) + "\n" for item in items))


# --- the run's alerting -----------------------------------------------------------------------------

def routes_of(settings):
    """Severity -> webhook URL (never recorded): the per-severity URL, else the common one."""
    return {s: getattr(settings, f"webhook_url_{s}") or settings.webhook_url for s in SEVERITIES}


def context_of(config, now):
    settings = config.stash[SETTINGS]
    return {"target": settings.redacted()["base_url"], "report": paths_of(config)["html"],
            "timestamp": now.isoformat(timespec="seconds"), "secrets": settings.secrets()}


def alert(config, mode, deadline):
    """Plan this run's alerts and, unless dry-run, deliver them with the outbox; return the records."""
    settings, run = config.stash[SETTINGS], config.stash[RUN]
    now = dt.datetime.now(dt.timezone.utc)
    context, routes = context_of(config, now), routes_of(settings)
    repeat_s = {"critical": settings.alert_repeat_critical, "warning": settings.alert_repeat_warning}
    store = Store(settings.report_dir)
    in_window = settings.maintenance_window is not None and now in settings.maintenance_window
    if mode == "dry-run" or in_window or not any(routes.values()):
        # nothing to send: decide from the state as it is, and leave state and outbox untouched
        records, _ = plan(run.checks, store.read_state(), context, now, repeat_s, routes)
        if in_window:
            return [hold(r, "suppressed", "maintenance window") for r in records]
        return [hold(r, "dry-run") for r in flood_guard(records, settings.alerts_max_per_run, context)]
    sender = Sender(settings.webhook_secret, deadline)
    with store.locked(deadline), contextlib.closing(sender.session):
        records, state = plan(run.checks, store.read_state(), context, now, repeat_s, routes)
        records = flood_guard(records, settings.alerts_max_per_run, context)
        outbox_records, outbox = drain(store.read_outbox(), sender, routes)
        for entry in records:
            if entry["state"] == "pending":
                entry.update(sender.post(routes[entry["route"]], entry["payload"]))
                if entry["state"] == "queued":
                    outbox.append(queued(entry, now))
        dropped, outbox = outbox[:-OUTBOX_MAX], outbox[-OUTBOX_MAX:]
        outbox_records += [record(item["payload"], "dropped", f"outbox over {OUTBOX_MAX} alerts",
                                  item["route"], from_outbox=True) for item in dropped]
        store.write_outbox(outbox)
        store.write_state(state)
    return outbox_records + records


def hold(entry, state, reason=""):
    """A pending record that is not sent (dry-run, maintenance); the others keep their state."""
    if entry["state"] == "pending":
        entry.update(state=state, reason=reason)
    return entry


def queued(entry, now):
    """The outbox item for a record that could not be delivered: no URL, only its route."""
    return {"payload": entry["payload"], "route": entry["route"], "queued_at": now.isoformat(timespec="seconds"),
            "attempts": entry["attempts"], "last_error": entry["last_error"]}


def drain(outbox, sender, routes):
    """Deliver the outbox, oldest first: (records, the items still undelivered)."""
    records, kept = [], []
    for item in outbox:
        entry = record(item["payload"], "pending", item["route"], from_outbox=True, queued_at=item.get("queued_at"))
        if not routes.get(item["route"]):
            entry.update(state="unrouted", reason="no webhook configured any more; dropped from the outbox")
        else:
            entry.update(sender.post(routes[item["route"]], item["payload"]))
            if entry["state"] == "queued":
                kept.append(dict(item, attempts=item.get("attempts", 0) + entry["attempts"],
                                 last_error=entry["last_error"]))
        records.append(entry)
    return records, kept


def heartbeat(config, mode, deadline, exitstatus):
    """Ping the dead-man's switch: ``<url>`` when every check passed, ``<url>/fail`` otherwise."""
    settings, run = config.stash[SETTINGS], config.stash[RUN]
    failed = any(c.outcome in FAILING for c in run.checks) or exitstatus in (1, 2, 3, 4)
    variant = "fail" if failed else "ok"
    if mode == "dry-run":
        return {"variant": variant, "pinged": False, "dry_run": True, "attempts": 0, "last_error": None}
    url = settings.heartbeat_url + ("/fail" if failed else "")
    sender = Sender("", deadline)
    with contextlib.closing(sender.session):
        return dict(sender.ping(url), variant=variant)


def summary_line(records, beat):
    """``DigitalMe alerts: 2 sent, 1 suppressed (repeat interval), 1 queued (receiver unreachable)``."""
    counts = {}
    for entry in records:
        label = entry["state"] + (f" ({entry['reason']})" if entry["reason"] else "")
        counts[label] = counts.get(label, 0) + 1
    parts = [f"{n} {label}" for label, n in counts.items()]
    if beat:
        if beat.get("dry_run"):
            parts.append(f"heartbeat ({beat['variant']}) not pinged in dry-run")
        else:
            done = "pinged" if beat["pinged"] else f"failed: {beat['last_error']}"
            parts.append(f"heartbeat ({beat.get('variant', '?')}) {done}")
    return "DigitalMe alerts: " + ", ".join(parts) if parts else ""


def failure_text(error, settings):
    """An unexpected error as one line, without secrets or the token-bearing paths of the secret URLs."""
    secrets = settings.secrets()
    secrets += [urllib.parse.urlsplit(value).path for value in secrets if "://" in value]
    return scrub(f"{type(error).__name__}: {error}".splitlines()[0], secrets)


# --- hooks --------------------------------------------------------------------------------------

def pytest_sessionfinish(session, exitstatus):
    """Alert after the run, before results.py (trylast) writes the records into the results file."""
    config = session.config
    if SETTINGS not in config.stash or hasattr(config, "workerinput") or config.option.collectonly:
        return  # settings invalid (nothing ran), an xdist worker (the controller alerts), or nothing was run
    settings, run = config.stash[SETTINGS], config.stash[RUN]
    mode = settings.alerts
    if mode == "off":
        return
    deadline = time.monotonic() + settings.alert_budget_s
    try:
        run.alerts.extend(alert(config, mode, deadline))
    except Exception as e:  # alerting must never cost the run its results or change its exit code
        error = failure_text(e, settings)
        run.alerts.append({"payload": None, "state": "error", "reason": f"alerting failed: {error}",
                           "delivered": False, "attempts": 0, "last_error": error, "from_outbox": False})
    if settings.heartbeat_url:
        try:
            run.heartbeat = heartbeat(config, mode, deadline, exitstatus)
        except Exception as e:
            run.heartbeat = {"variant": "?", "pinged": False, "attempts": 0, "last_error": failure_text(e, settings)}


def pytest_terminal_summary(terminalreporter, config):
    """One line on what alerting did (before results.py's status line); in dry-run, the payloads too."""
    if SETTINGS not in config.stash or hasattr(config, "workerinput"):
        return
    run, secrets = config.stash[RUN], config.stash[SETTINGS].secrets()
    for entry in run.alerts:
        if entry["state"] == "dry-run":
            text = json.dumps(entry["payload"], sort_keys=True)
            terminalreporter.write_line(scrub(f"DigitalMe alert (dry-run, {entry['route']} webhook): {text}", secrets))
    line = summary_line(run.alerts, getattr(run, "heartbeat", None))
    if line:
        terminalreporter.write_line(scrub(line, secrets))
