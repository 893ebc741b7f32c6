"""Alerts: after a run, failed checks become webhook alerts that arrive once, repeat sparingly, say when they are
resolved to everyone who was told, wait out the maintenance window instead of being dropped, and are not lost when
the receiver is down or slow, the report folder is broken, or another run holds the lock.

Flow, once per run, on the controller only, in ``pytest_sessionfinish`` (before ``results.py`` writes the results
file, so every alert's delivery outcome is in it):

1. **Plan** (:func:`plan`): each failed or errored check is a ``firing`` alert at its applied severity; a firing
   alert already sent within the repeat interval of its severity is ``suppressed (repeat interval)``; an alert whose
   severity has no webhook is ``unrouted``. Each check that passed after having alerted is one ``resolved`` alert
   to every route that received (or has queued) one of its firing alerts, whatever its severity did in between
   (routes that share one URL get one). Beyond ``alerts_max_per_run`` firing alerts, one summary alert goes instead
   and the others are ``summarised``.
2. **Maintenance window**: inside it nothing is sent. Every alert that would go is ``held``: kept in the alert
   state and delivered by the first run after the window, of any schedule (it need not select the check), unless
   its check passes first: then the held firing alert is ``withdrawn`` and no ``resolved`` follows it (receivers
   never heard of it; a firing + resolved pair both held collapses to nothing, and both show as withdrawn in the
   results file and record). A held ``resolved`` is withdrawn likewise if the check fails again. One held alert per
   check, status and route: a later one replaces the payload, keeping when it was first held.
3. **Deliver** (:class:`Sender`, libcurl through pycurl), under an exclusive lock on ``<alerts folder>/lock`` so
   overlapping runs (cron) neither double-send nor lose state: first the outbox, in order, then the alerts held
   over the window, then this run's. Each POST is signed (``X-DigitalMe-Signature: sha256=<HMAC of the body>``)
   when a secret is set and retried with exponential backoff on connection errors, timeouts, 5xx and 429; other
   4xx are ``failed`` at once. The budget (``alert_budget_s``) is a wall-clock deadline: lock wait included, each
   attempt's libcurl total timeout (``TIMEOUT_MS``) ends at it, so a receiver that drips a byte a second cannot
   stretch the run. What runs out of time is ``queued``.
4. **Keep** what could not be delivered in ``outbox.jsonl`` (``queued``), and the dedup state, the routes told of
   each alert and the held alerts in ``state.json``; both are rewritten atomically before the lock is released.
   Delivery is at least once: a run killed mid-delivery sends again next time rather than losing anything.
   The alerts folder is ``<report dir>/alerts``; when that cannot be used (missing and not creatable, read-only,
   full) the run says so and keeps everything in a private fallback, ``$XDG_STATE_HOME/digitalme-ops/<key>/alerts``
   or ``<tmp>/digitalme-ops-<uid>/<key>/alerts`` (key: a hash of the report folder's path), which the next run reads
   back (the newer of the two wins) and empties once the report folder works again.
5. **Blocked at the lock**: a run that cannot get the lock within its budget sends nothing and loses nothing: it
   writes its checks' outcomes to ``spool/<run>.json`` beside the state (``spooled``); the next lock holder plans
   them against the state first (so dedup still holds), delivers them, and removes the spool file.
6. **Heartbeat**: ``heartbeat_url`` gets a GET, a dead-man's switch; ``<url>/fail`` when a check failed, when
   nothing ran (no check selected), when the report folder could not be written, or when any alert was not
   delivered (queued, failed, spooled, dropped, or alerting broke).

Each alert becomes one record in ``run.alerts`` (the results file's ``"alerts"``): ``{"payload", "state",
"reason", "route", "delivered", "attempts", "last_error", "from_outbox", "from_held", "from_spool", "held_at"}``,
where ``state`` is one of sent, queued, failed, suppressed, summarised, unrouted, dropped, held, withdrawn,
spooled, dry-run (or error, when alerting itself broke). Webhook URLs and the secret are never written anywhere:
records, outbox, spool and terminal name the route (the severity), and the URL is looked up in the settings at
delivery time. Alerting never raises: a failure is one record and one terminal line, and the checks' outcomes and
pytest's exit code stay as they were.
"""

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import stat
import tempfile
import time
import types
import urllib.parse

from plugins.results import REPORT_ERROR, paths_of, scrub, write_atomically
from plugins.settings import SETTINGS
from plugins.severity import RUN, SEVERITIES

SERVICE = "DigitalMe"
SIGNATURE_HEADER = "X-DigitalMe-Signature"
USER_AGENT = "digitalme-health-suite"
CONNECT_TIMEOUT_S = 3.0
ATTEMPT_TIMEOUT_S = 8.0  # one attempt's whole exchange; never past the run's deadline
MAX_ATTEMPTS = 4
BACKOFF_S = 0.5  # waits 0.5, 1, 2 s between the attempts
RETRY_AFTER_MAX_S = 10.0  # a receiver asking for a longer pause gets the alert next run instead
HEARTBEAT_MIN_S = 2.0  # the heartbeat is tried even when the alerts used up the budget: it proves the run happened
OUTBOX_MAX = 1000  # a receiver down for weeks must not grow the outbox without end
FLOOD_TITLES = 5
FAILING = ("failed", "error")
UNDELIVERED = ("queued", "failed", "spooled", "dropped", "error")  # the heartbeat says /fail
CURL_TIMED_OUT = 28


class AlertingError(Exception):
    """Alerting could not proceed; the run's results stand."""


class StateLocked(AlertingError):
    """Another run held the alert state for this run's whole alert budget."""


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
             "delivered": False, "attempts": 0, "last_error": None, "from_outbox": False, "from_held": False,
             "from_spool": False, "held_at": None}
    entry.update(delivery)
    return entry


def age_s(seen, now):
    """Seconds since a state entry last alerted (a change of severity or an unreadable entry alerts at once)."""
    try:
        return (now - dt.datetime.fromisoformat(seen["last_alerted"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def told(seen):
    """The routes that received (or have queued) a firing alert of this state entry, worst first. Entries
    written before routes were kept name only the severity they alerted at."""
    routes = seen.get("routes") if isinstance(seen.get("routes"), list) else [seen.get("severity")]
    return [s for s in SEVERITIES if s in routes]


def take(held, key, status):
    """Remove and return the held alerts of one fingerprint and status."""
    taken = [item for item in held if item["payload"].get("fingerprint") == key and item["payload"].get("status") == status]
    held[:] = [item for item in held if item not in taken]
    return taken


def withdrawn(item, reason):
    return record(item["payload"], "withdrawn", reason, item["route"], from_held=True, held_at=item.get("held_at"))


def plan(checks, state, held, context, now, repeat_s, routes):
    """(records, new state, new held): one record per alert of this run, ``pending`` where it is to be sent."""
    state, held = dict(state), list(held)
    records = []
    for check in checks:
        key = fingerprint(check.id, context["target"])
        seen = state.get(key)
        if check.outcome in FAILING:
            for item in take(held, key, "resolved"):  # failing again: the held "resolved" would be a lie
                records.append(withdrawn(item, "the check failed again before this held resolved was delivered"))
                before = seen or item.get("seen") or {"check": check.id, "severity": item["route"]}
                seen = state[key] = dict(before, routes=told({"routes": told(before) + [item["route"]]}))
            entry = record(payload_of(check, "firing", check.severity, context), "pending")
            if not routes.get(check.severity):
                entry.update(state="unrouted", reason="no webhook configured")
            elif seen and seen.get("severity") == check.severity and age_s(seen, now) < repeat_s[check.severity]:
                entry.update(state="suppressed", reason="repeat interval")
            else:
                state[key] = {"check": check.id, "severity": check.severity, "last_alerted": now.isoformat(),
                              "first_alerted": (seen or {}).get("first_alerted", now.isoformat()),
                              "routes": told(seen) if seen else []}
            records.append(entry)
        elif check.outcome == "passed":  # skipped or deselected checks resolve nothing
            for item in take(held, key, "firing"):
                records.append(withdrawn(item, "the check passed before this held alert was delivered"))
            if not seen:
                continue
            left = []
            for route in distinct(told(seen), routes):
                entry = record(payload_of(check, "resolved", route, context), "pending", route=route)
                entry["_seen"] = seen  # what to restore if this resolved is held and the check fails again
                if not routes.get(route):
                    entry.update(state="unrouted", reason="no webhook configured")
                    left.append(route)
                records.append(entry)
            if left:
                state[key] = dict(seen, routes=left)  # resolved once that route has a webhook again
            else:
                del state[key]
    return records, state, held


def distinct(names, routes):
    """The routes, one per webhook URL (the worst severity's name): a receiver behind two routes hears once."""
    seen_urls, kept = set(), []
    for name in names:
        url = routes.get(name)
        if url and url in seen_urls:
            continue
        seen_urls.add(url)
        kept.append(name)
    return kept


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


def hold_in_window(records, held, now, window):
    """Inside the maintenance window: every pending alert is held (kept for the first run after it)."""
    for entry in records:
        if entry["state"] != "pending":
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


# --- deliver: POST with libcurl, one wall-clock deadline ---------------------------------------------

def describe_error(error):
    """What went wrong, without the URL (libcurl's own messages can carry the host and path)."""
    code = error.args[0] if error.args else None
    if code == CURL_TIMED_OUT:
        return "receiver timed out", f"receiver timed out (curl error {code})"
    return "receiver unreachable", f"receiver unreachable (curl error {code})"


def retry_after(headers, attempt):
    """The wait before the next attempt: the receiver's small Retry-After, else exponential backoff."""
    try:
        asked = float(headers.get("retry-after", "")) if headers is not None else None
    except ValueError:
        asked = None
    if asked is not None and asked > RETRY_AFTER_MAX_S:
        return float("inf")  # longer than a run should wait: the outbox keeps it for the next run
    return asked if asked is not None and asked >= 0 else BACKOFF_S * 2 ** (attempt - 1)


def delivery(state, reason, attempts, last_error):
    return {"state": state, "reason": reason, "delivered": state == "sent", "attempts": attempts,
            "last_error": last_error}


def ca_bundle():
    try:
        import certifi
        return certifi.where()
    except ImportError:
        return None  # libcurl's own default


class Sender:
    """One libcurl handle for the run's alerts, its deadline, and the receivers found down so far."""

    def __init__(self, secret, deadline):
        import pycurl  # imported where first needed: most runs send nothing, and start-up time counts
        self.pycurl = pycurl
        self.curl = pycurl.Curl()
        self.secret = secret.encode() if secret else b""
        self.deadline = deadline
        self.down = {}  # url -> reason: later alerts to it are queued untried, so order is kept and time saved

    def close(self):
        self.curl.close()

    def left(self, deadline=None):
        return (deadline or self.deadline) - time.monotonic()

    def exchange(self, url, body, headers, deadline):
        """One request, all of it (connect, send, every byte of the answer) within ``deadline``:
        (status, response headers); raises pycurl.error."""
        pycurl, curl = self.pycurl, self.curl
        left_ms = max(1, int(self.left(deadline) * 1000))  # 0 would mean "no timeout" to libcurl
        answer = {}

        def header_line(line):
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if colon:
                answer[name.strip().lower()] = value.strip()

        curl.reset()
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.NOSIGNAL, True)
        curl.setopt(pycurl.FOLLOWLOCATION, False)  # a redirected POST would arrive as a GET
        curl.setopt(pycurl.USERAGENT, USER_AGENT)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, min(int(CONNECT_TIMEOUT_S * 1000), left_ms))
        curl.setopt(pycurl.TIMEOUT_MS, min(int(ATTEMPT_TIMEOUT_S * 1000), left_ms))
        curl.setopt(pycurl.HEADERFUNCTION, header_line)
        curl.setopt(pycurl.WRITEFUNCTION, lambda chunk: None)
        if ca_bundle():
            curl.setopt(pycurl.CAINFO, ca_bundle())
        if body is not None:
            curl.setopt(pycurl.POSTFIELDS, body)
            # "Expect:" off: libcurl would otherwise wait up to 1 s for a 100-continue before a larger body
            curl.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()] + ["Expect:"])
        curl.perform()
        return curl.getinfo(pycurl.RESPONSE_CODE), answer

    def post(self, url, payload):
        """Deliver one alert: ``{"state", "reason", "delivered", "attempts", "last_error"}``."""
        if url in self.down:
            return delivery("queued", self.down[url], 0, "not tried: the receiver failed earlier in this run")
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        attempts, reason, error = 0, "alert budget exhausted", "alert budget exhausted before the first attempt"
        while self.left() > 0.1:
            attempts += 1
            answer = None
            try:
                status, answer = self.exchange(url, body, headers, self.deadline)
            except self.pycurl.error as e:
                reason, error = describe_error(e)
            else:
                if 200 <= status < 300:
                    return delivery("sent", "", attempts, error if attempts > 1 else None)
                reason = error = f"HTTP {status}"
                if status != 429 and status < 500:
                    return delivery("failed", f"{reason}, not retried", attempts, f"{error}: not retried and not "
                                    "queued, the receiver refuses this alert and would refuse it again")
            wait = retry_after(answer, attempts)
            if attempts >= MAX_ATTEMPTS or wait >= self.left():
                break
            time.sleep(wait)
        self.down[url] = reason
        return delivery("queued", reason, attempts, error)

    def ping(self, url):
        """GET the heartbeat URL, twice at most: ``{"pinged", "attempts", "last_error"}``."""
        deadline = max(self.deadline, time.monotonic() + HEARTBEAT_MIN_S)
        error, attempt = None, 0
        for attempt in (1, 2):
            if self.left(deadline) <= 0.1:
                break
            try:
                status, _ = self.exchange(url, None, {}, deadline)
            except self.pycurl.error as e:
                error = describe_error(e)[1]
            else:
                if status < 300:
                    return {"pinged": True, "attempts": attempt, "last_error": None}
                error = f"HTTP {status}"
                if status < 500:
                    return {"pinged": False, "attempts": attempt, "last_error": error}
            if attempt == 1:
                time.sleep(min(BACKOFF_S, max(0.0, self.left(deadline))))
        return {"pinged": False, "attempts": attempt, "last_error": error or "heartbeat budget exhausted"}


# --- keep: state, outbox and spool, in the report folder or the fallback ------------------------------

def fallback_folder(report_dir, environ=os.environ):
    """Where the alert state goes when ``<report dir>/alerts`` cannot take it: private to this user, one per
    report folder (its absolute path, hashed)."""
    key = hashlib.sha256(os.path.abspath(report_dir).encode()).hexdigest()[:12]
    if environ.get("XDG_STATE_HOME"):
        return os.path.join(environ["XDG_STATE_HOME"], "digitalme-ops", key, "alerts")
    return os.path.join(tempfile.gettempdir(), f"digitalme-ops-{os.getuid()}", key, "alerts")


def private_folder(folder):
    """Make the fallback ``.../digitalme-ops*/<key>/alerts`` private (0700), refusing any of its three levels that
    another user made or that is a symlink (it may live in a shared /tmp)."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for path in (os.path.dirname(os.path.dirname(folder)), os.path.dirname(folder), folder):
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"{path} is not this user's own folder")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)


def reason_of(error):
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


class Store:
    """The alerts folder: ``state.json`` (dedup, routes told, held alerts), ``outbox.jsonl`` (undelivered),
    ``spool/`` (runs blocked at the lock) and the ``lock``; in ``<report dir>/alerts``, else the fallback."""

    STATE, OUTBOX, SPOOL, LOCK = "state.json", "outbox.jsonl", "spool", "lock"

    def __init__(self, report_dir):
        self.primary = os.path.join(report_dir, "alerts")
        self.fallback = fallback_folder(report_dir)
        self.problem = None  # why the primary could not be used (one line), when it could not
        self.kept_in = None  # the folder the state was written to
        self.spooled = []  # spool files read by this lock holder, removed once the state is written

    def note(self, error):
        if self.problem is None:
            self.problem = reason_of(error)

    def open_lock(self):
        """The lock file, in the report folder or else the fallback; None when neither can have one."""
        try:
            os.makedirs(self.primary, exist_ok=True)
            return open(os.path.join(self.primary, self.LOCK), "a")
        except OSError as e:
            self.note(e)
        try:
            private_folder(self.fallback)
            return open(os.path.join(self.fallback, self.LOCK), "a")
        except OSError:
            return None

    @contextlib.contextmanager
    def locked(self, deadline):
        """Exclusive for the read-deliver-write cycle, so two overlapping runs cannot both alert; raises
        StateLocked when another run holds it until ``deadline``."""
        lock = self.open_lock()
        if lock is None:  # nowhere to keep anything: still alert (at least once), and say so
            yield self
            return
        with lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StateLocked("the alert state stayed locked by another run for the whole alert "
                                          "budget") from None
                    time.sleep(0.05)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # reading: the newer of the two folders

    def read_document(self, folder):
        try:
            with open(os.path.join(folder, self.STATE), encoding="utf-8") as f:
                document = json.load(f)
            return document if isinstance(document, dict) else {}
        except (OSError, ValueError):
            return {}  # worst case a repeat alert, never a lost one

    def newest(self):
        """The folder whose state was saved last (the fallback only holds what the report folder could not)."""
        saved = [(str(self.read_document(folder).get("saved_at", "")), i, folder)
                 for i, folder in enumerate((self.primary, self.fallback))]
        return max(saved)[2] if any(s[0] for s in saved) else self.primary

    def read_state(self):
        """(fingerprint -> ``{"check", "severity", "last_alerted", "first_alerted", "routes"}``, held alerts)."""
        document = self.read_document(self.newest())
        alerts = document.get("alerts") if isinstance(document.get("alerts"), dict) else {}
        held = document.get("held") if isinstance(document.get("held"), list) else []
        return ({key: entry for key, entry in alerts.items() if isinstance(entry, dict)},
                [item for item in held if isinstance(item, dict) and isinstance(item.get("payload"), dict)
                 and "route" in item])

    def read_outbox(self):
        """The undelivered alerts, oldest first: ``{"payload", "route", "queued_at", "attempts", "last_error"}``."""
        try:
            with open(os.path.join(self.newest(), self.OUTBOX), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        items = []
        for line in lines:
            with contextlib.suppress(ValueError):
                items.append(json.loads(line))
        return [item for item in items if isinstance(item, dict) and "payload" in item and "route" in item]

    def read_spool(self):
        """The blocked runs' spool documents, oldest first (both folders)."""
        found = []
        for folder in (self.primary, self.fallback):
            spool = os.path.join(folder, self.SPOOL)
            with contextlib.suppress(OSError):
                for name in sorted(os.listdir(spool)):
                    if name.startswith(".") or not name.endswith(".json"):
                        continue  # a spool file still being written (write_atomically's temporary name)
                    path = os.path.join(spool, name)
                    try:
                        with open(path, encoding="utf-8") as f:
                            document = json.load(f)
                    except (OSError, ValueError):
                        continue  # unreadable: left for a later holder
                    if isinstance(document, dict) and isinstance(document.get("checks"), list):
                        found.append((str(document.get("now", "")), path, document))
        found.sort(key=lambda f: f[:2])
        self.spooled = [path for _, path, _ in found]
        return [document for _, _, document in found]

    # writing: the report folder, else the fallback

    def write(self, state, held, outbox, now):
        """State and outbox, atomically, where they can be kept; then the consumed spool files go."""
        state_text = json.dumps({"schema": 1, "saved_at": now.isoformat(), "alerts": state, "held": held},
                                indent=1, sort_keys=True)
        outbox_text = "".join(json.dumps(item, sort_keys=True) + "\n" for item in outbox)
        for folder in (self.primary, self.fallback):
            try:
                if folder == self.fallback:
                    private_folder(folder)
                write_atomically(os.path.join(folder, self.OUTBOX), outbox_text)
                write_atomically(os.path.join(folder, self.STATE), state_text)
            except OSError as e:
                self.note(e)
                continue
            self.kept_in = folder
            break
        else:
            return  # nowhere: the alerts went out all the same; the run says the next one may repeat them
        if self.kept_in == self.primary:  # the report folder works again: the fallback's copy is stale now
            for name in (self.STATE, self.OUTBOX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.fallback, name))
        for path in self.spooled:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def write_spool(self, name, document):
        """A blocked run's spool file (its own name: no lock needed); the folder it went to."""
        text = json.dumps(document, sort_keys=True)
        for folder in (self.primary, self.fallback):
            try:
                if folder == self.fallback:
                    private_folder(folder)
                spool = os.path.join(folder, self.SPOOL)
                os.makedirs(spool, exist_ok=True)
                write_atomically(os.path.join(spool, name), text)
                self.kept_in = folder
                return spool
            except OSError as e:
                self.note(e)
        raise AlertingError(f"a run blocked at the alert lock could not spool its alerts in {self.primary} "
                            f"({self.problem}) nor in {self.fallback}")


# --- the run's alerting -----------------------------------------------------------------------------

def routes_of(settings):
    """Severity -> webhook URL (never recorded): the per-severity URL, else the common one."""
    return {s: getattr(settings, f"webhook_url_{s}") or settings.webhook_url for s in SEVERITIES}


def context_of(config, now):
    settings = config.stash[SETTINGS]
    return {"target": settings.redacted()["base_url"], "report": paths_of(config)["html"],
            "timestamp": now.isoformat(timespec="seconds"), "secrets": settings.secrets()}


def spooled_checks(checks, secrets):
    """What the next lock holder needs to plan a blocked run's alerts (secrets masked: it is written to disk)."""
    return [scrubbed({"id": c.id, "title": c.title, "severity": c.severity, "outcome": c.outcome,
                      "message": c.message, "value": json.loads(json.dumps(c.value, default=str)),
                      "threshold": json.loads(json.dumps(c.threshold, default=str))}, secrets)
            for c in checks if c.outcome in FAILING or c.outcome == "passed"]


def alert(config, mode, deadline):
    """Plan this run's alerts and, unless dry-run, deliver them with the outbox; return the records."""
    records = alert_records(config, mode, deadline)
    for entry in records:
        entry.pop("_seen", None)  # plan's note for held resolved alerts, not part of the record
    return records


def alert_records(config, mode, deadline):
    settings, run = config.stash[SETTINGS], config.stash[RUN]
    now = dt.datetime.now(dt.timezone.utc)
    context, routes = context_of(config, now), routes_of(settings)
    repeat_s = {"critical": settings.alert_repeat_critical, "warning": settings.alert_repeat_warning}
    window = settings.maintenance_window
    in_window = window is not None and now in window
    store = Store(settings.report_dir)
    if mode == "dry-run" or not any(routes.values()):
        # nothing to send: decide from the state as it is, and leave state and outbox untouched
        state, held = store.read_state()
        records, _, _ = plan(run.checks, state, held, context, now, repeat_s, routes)
        reason = f"inside the maintenance window ({window}): would be held" if in_window else ""
        return [unsent(r, "dry-run", reason) for r in flood_guard(records, settings.alerts_max_per_run, context)]
    try:
        with contextlib.closing(Sender(settings.webhook_secret, deadline)) as sender:
            try:
                with store.locked(deadline):
                    return cycle(store, sender, run, context, now, repeat_s, routes, settings,
                                 window if in_window else None)
            except StateLocked:
                return spool(store, run, context, now, repeat_s, routes)
    finally:
        if store.problem:
            where = (f"kept in {store.kept_in}" if store.kept_in else
                     f"not saved (nor in {store.fallback}): the next run may send these alerts again")
            run.alert_state_note = f"alert state {where}; {store.primary} cannot be written ({store.problem})"


def cycle(store, sender, run, context, now, repeat_s, routes, settings, window):
    """Under the lock: plan the spooled runs and this one, hold (in the window) or deliver, keep the rest."""
    state, held = store.read_state()
    records = []
    for document in store.read_spool():  # runs that were blocked at the lock, oldest first
        spooled_context = {**context, **{k: document.get(k, context[k]) for k in ("target", "report", "timestamp")}}
        checks = [types.SimpleNamespace(**check) for check in document["checks"]]
        planned, state, held = plan(checks, state, held, spooled_context, now, repeat_s, routes)
        records += [dict(entry, from_spool=True) for entry in planned]
    planned, state, held = plan(run.checks, state, held, context, now, repeat_s, routes)
    records = flood_guard(records + planned, settings.alerts_max_per_run, context)
    outbox = store.read_outbox()
    if window is not None:  # nothing is sent inside the window: hold the new, keep the outbox for after it
        records = hold_in_window(records, held, now, window)
        store.write(state, held, outbox, now)
        return records
    released = [record(item["payload"], "pending", route=item["route"], from_held=True, held_at=item.get("held_at"))
                for item in held]
    newer = {(r["payload"]["fingerprint"], r["payload"]["status"], r["route"]) for r in records if r["state"] == "pending"}
    for entry in released:  # this run alerts the same again (its repeat interval passed): that one goes instead
        if (entry["payload"]["fingerprint"], entry["payload"]["status"], entry["route"]) in newer:
            entry.update(state="withdrawn", reason="superseded by this run's alert for the same check")
    outbox_records, outbox = drain(outbox, sender, routes)
    for entry in released + records:
        if entry["state"] == "pending":
            if not routes.get(entry["route"]):
                entry.update(state="unrouted", reason="no webhook configured any more")
                continue
            entry.update(sender.post(routes[entry["route"]], entry["payload"]))
            if entry["state"] == "queued":
                outbox.append(queued(entry, now))
            told_route(state, entry)
    dropped, outbox = outbox[:-OUTBOX_MAX], outbox[-OUTBOX_MAX:]
    outbox_records += [record(item["payload"], "dropped", f"outbox over {OUTBOX_MAX} alerts",
                              item["route"], from_outbox=True) for item in dropped]
    store.write(state, [], outbox, now)
    return outbox_records + released + records


def told_route(state, entry):
    """A firing alert sent or queued: its route is told of it, and gets its ``resolved``."""
    seen = state.get(entry["payload"].get("fingerprint"))
    if seen is not None and entry["payload"]["status"] == "firing" and entry["state"] in ("sent", "queued"):
        seen["routes"] = sorted(set(told(seen)) | {entry["route"]}, key=SEVERITIES.index)


def spool(store, run, context, now, repeat_s, routes):
    """Blocked at the lock for the whole budget: keep this run's checks for the next lock holder."""
    state, held = store.read_state()  # unlocked, only to show what is waiting; the holder plans again
    records, _, _ = plan(run.checks, state, held, context, now, repeat_s, routes)
    waiting = [entry for entry in records if entry["state"] == "pending"]
    if not waiting:
        return records
    document = {"now": now.isoformat(), "target": context["target"], "report": context["report"],
                "timestamp": context["timestamp"], "checks": spooled_checks(run.checks, context["secrets"])}
    folder = store.write_spool(f"{run.stem}-{os.getpid()}.json", document)
    for entry in waiting:
        entry.update(state="spooled", reason="alert state locked by another run for the whole alert budget; "
                     "kept for the next run", last_error=f"spooled in {folder}")
    return records


def unsent(entry, state, reason=""):
    """A pending record that is not sent (dry-run); the others keep their state."""
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
        entry = record(item["payload"], "pending", route=item["route"], from_outbox=True,
                       queued_at=item.get("queued_at"))
        if not routes.get(item["route"]):
            entry.update(state="unrouted", reason="no webhook configured any more; dropped from the outbox")
        else:
            entry.update(sender.post(routes[item["route"]], item["payload"]))
            if entry["state"] == "queued":
                kept.append(dict(item, attempts=item.get("attempts", 0) + entry["attempts"],
                                 last_error=entry["last_error"]))
        records.append(entry)
    return records, kept


def heartbeat_fails(config, exitstatus):
    """Why the heartbeat says /fail, or "" when the run was good: a failed check, nothing run, a broken report
    folder, an alert not delivered, or pytest's own failure exit."""
    run = config.stash[RUN]
    if any(c.outcome in FAILING for c in run.checks):
        return "a check failed"
    if not run.checks:
        return "no check ran"
    if REPORT_ERROR in config.stash:
        return "the report folder cannot be written"
    if any(entry["state"] in UNDELIVERED for entry in run.alerts):
        return "an alert was not delivered"
    if exitstatus not in (0,):
        return f"pytest exit {int(exitstatus)}"
    return ""


def heartbeat(config, mode, deadline, exitstatus):
    """Ping the dead-man's switch: ``<url>`` when the run was good, ``<url>/fail`` otherwise."""
    settings = config.stash[SETTINGS]
    why = heartbeat_fails(config, exitstatus)
    variant = "fail" if why else "ok"
    if mode == "dry-run":
        return {"variant": variant, "why": why, "pinged": False, "dry_run": True, "attempts": 0, "last_error": None}
    url = settings.heartbeat_url + ("/fail" if why else "")
    sender = Sender("", deadline)
    with contextlib.closing(sender):
        return dict(sender.ping(url), variant=variant, why=why)


def summary_line(records, beat):
    """``DigitalMe alerts: 2 sent, 1 suppressed (repeat interval), 1 queued (receiver unreachable)``."""
    counts = {}
    for entry in records:
        label = entry["state"] + (f" ({entry['reason'].split(';')[0]})" if entry["reason"] else "")
        counts[label] = counts.get(label, 0) + 1
    parts = [f"{n} {label}" for label, n in counts.items()]
    if beat:
        if beat.get("dry_run"):
            parts.append(f"heartbeat ({beat['variant']}) not pinged in dry-run")
        else:
            done = "pinged" if beat["pinged"] else f"failed: {beat['last_error']}"
            why = f", {beat['why']}" if beat.get("why") else ""
            parts.append(f"heartbeat ({beat.get('variant', '?')}{why}) {done}")
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
                           "delivered": False, "attempts": 0, "last_error": error, "from_outbox": False,
                           "from_held": False, "from_spool": False, "held_at": None})
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
    if run.alert_state_note:
        terminalreporter.write_line(scrub(f"DigitalMe alerts: {run.alert_state_note}", secrets), yellow=True)
