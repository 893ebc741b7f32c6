"""libcurl (pycurl) exchanges within the run's alert budget: the signed POST of one alert, retried with backoff
(the webhook channel, channels/webhook.py), and the heartbeat's GET (heartbeat.py).

Each POST is signed (``X-DigitalMe-Signature: sha256=<HMAC of the body>``) when a secret is set and retried with
exponential backoff on connection errors, timeouts, 5xx and 429; other 4xx are ``failed`` at once. The budget
(``alert_budget_s``) is a wall-clock deadline: lock wait included, each attempt's libcurl total timeout
(``TIMEOUT_MS``) ends at it, so a receiver that drips a byte a second cannot stretch the run. What runs out of time
is ``queued``. A receiver found down gets this run's later alerts queued untried, so their order is kept.
"""

import hashlib
import hmac
import json
import time

from plugins.outputs.alerting.records import delivery

SIGNATURE_HEADER = "X-DigitalMe-Signature"
USER_AGENT = "digitalme-health-suite"
CONNECT_TIMEOUT_S = 3.0
ATTEMPT_TIMEOUT_S = 8.0  # one attempt's whole exchange; never past the run's deadline
MAX_ATTEMPTS = 4
BACKOFF_S = 0.5  # waits 0.5, 1, 2 s between the attempts
RETRY_AFTER_MAX_S = 10.0  # a receiver asking for a longer pause gets the alert next run instead
HEARTBEAT_MIN_S = 2.0  # the heartbeat is tried even when the alerts used up the budget: it proves the run happened
CURL_TIMED_OUT = 28
ANSWER_MAX = 4096  # the first bytes of an answer's body are kept: a refusal's explanation, never a whole page


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


def ca_bundle():
    try:
        import certifi
        return certifi.where()
    except ImportError:
        return None  # libcurl's own default


class Sender:
    """One libcurl handle for the run's alerts, its deadline, and the receivers found down so far."""

    def __init__(self, deadline):
        import pycurl  # imported where first needed: most runs send nothing, and start-up time counts
        self.pycurl = pycurl
        self.curl = pycurl.Curl()
        self.deadline = deadline
        self.answer_body = b""  # the last answer's first bytes (ANSWER_MAX)
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
        body_read = bytearray()

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
        curl.setopt(pycurl.WRITEFUNCTION, lambda chunk: body_read.extend(chunk[:max(0, ANSWER_MAX - len(body_read))]))
        if ca_bundle():
            curl.setopt(pycurl.CAINFO, ca_bundle())
        if body is not None:
            curl.setopt(pycurl.POSTFIELDS, body)
            # "Expect:" off: libcurl would otherwise wait up to 1 s for a 100-continue before a larger body
            curl.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()] + ["Expect:"])
        curl.perform()
        self.answer_body = bytes(body_read)
        return curl.getinfo(pycurl.RESPONSE_CODE), answer

    def post(self, url, payload, secret="", explain=None):
        """Deliver one alert, signed with ``secret`` if any: ``{"state", "reason", "delivered", "attempts",
        "last_error"}``. ``explain(body)``, if given, turns a refusing answer's body into the receiver's own words
        (PagerDuty's 400 says what is wrong with the event), added to its reason."""
        if url in self.down:
            return delivery("queued", self.down[url], 0, "not tried: the receiver failed earlier in this run")
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
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
                if explain is not None and self.answer_body:
                    reason = error = f"HTTP {status} ({explain(self.answer_body)})"
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


class SendingChannel:
    """A channel of one run that posts with libcurl (webhook, Alertmanager, PagerDuty): the run's alerting deadline,
    and one :class:`Sender` shared by its posts, made when the first alert needs it."""

    def __init__(self, config, deadline):
        self.config, self.deadline, self._sender = config, deadline, None

    @property
    def sender(self):
        if self._sender is None:
            self._sender = Sender(self.deadline)
        return self._sender

    def close(self):
        if self._sender is not None:
            self._sender.close()
