"""Apprise URLs (PyPI ``apprise``: e-mail, Slack, Teams, ntfy, json:// and a hundred more services), the one place
that talks to Apprise: checking that it can parse a URL (settings, at start-up) and sending one notification to one
URL (the notify channel, plugins/outputs/alerting/channels/notify.py).

Apprise is imported only here, inside the functions: a run without Apprise URLs never loads it (its import and
plugin discovery cost 0.2 s of CPU warm, over 0.5 s cold). Apprise logs what goes wrong, quoting parts of the URL (``mailtos://u:p...p@...``): its log is kept away
from pytest's log capture and the terminal, and what it says is returned to be scrubbed by the caller.
"""

import contextlib
import logging
import urllib.parse
import warnings

from plugins.secrets import MASK

LOGGER = "apprise"
TYPES = {"critical": "failure", "emergency": "failure", "warning": "warning", "resolved": "success"}


class Collected(logging.Handler):
    """Apprise's warnings and errors, as lines, instead of in the run's log."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def quiet():
    """Apprise's log collected (a list of lines) and kept from every other handler while the block runs, its
    DeprecationWarnings (stderr, before pytest captures warnings: nothing for an operator to act on) ignored."""
    logger = logging.getLogger(LOGGER)
    saved = logger.handlers[:], logger.propagate, logger.level
    collected = Collected()
    logger.handlers, logger.propagate = [collected], False
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():  # its plugins, loaded on first use, import modules Python 3.11 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            yield collected.lines
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def load():
    """The apprise module, imported without its DeprecationWarnings (Python 3.11 warns of a module it imports,
    on stderr, before pytest captures warnings: noise for the operator, nothing to act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
    return apprise


def shown(url, place, count):
    """How a message names a URL: its place and scheme, nothing of what follows (passwords, tokens)."""
    scheme = url.partition("://")[0] if "://" in url else "?"
    return f"URL {place} of {count} ({scheme}://{MASK})"


def unparsable(urls):
    """What is wrong with each of ``urls`` Apprise cannot parse (empty: all good), each named by :func:`shown`."""
    apprise = load()  # here: only a run with Apprise URLs pays for it
    bad = []
    with quiet():
        for place, url in enumerate(urls, 1):
            if apprise.Apprise.instantiate(url) is None:
                bad.append(f"{shown(url, place, len(urls))} is not a URL Apprise can parse")
    return bad


def secret_parts(url):
    """The parts of an Apprise URL that may be secret, each on its own (a service's error may quote one): user,
    password, host (Slack's and Discord's tokens sit there), every path segment and query value, 4 characters or
    more. Over-masking an address in an error line is harmless; a token shown is not."""
    parts = urllib.parse.urlsplit(url)
    pieces = [url, parts.netloc, parts.username, parts.password, parts.hostname, *parts.path.split("/")]
    pieces += [value for _, value in urllib.parse.parse_qsl(parts.query)]
    pieces += [urllib.parse.unquote(piece) for piece in pieces if piece]
    return [piece for piece in dict.fromkeys(pieces) if piece and len(piece) >= 4]


class Notifier:
    """Sends to Apprise URLs: each URL's Apprise plugin made once, each notification within a deadline."""

    def __init__(self):
        self.apprise = load()  # here: only a run with something to send pays for it
        self.made = {}

    def service(self, url):
        if url not in self.made:
            with quiet():
                self.made[url] = self.apprise.Apprise.instantiate(url)
        return self.made[url]

    def send(self, url, title, body, kind, left_s):
        """One notification to ``url`` within ``left_s`` seconds: (sent, what Apprise said went wrong)."""
        service = self.service(url)
        if service is None:
            return False, "Apprise cannot parse this URL any more"
        # every socket's timeouts within what is left of the alert budget (Apprise's defaults are 4 and 15 s)
        service.socket_connect_timeout = max(0.5, min(float(service.socket_connect_timeout), left_s))
        service.socket_read_timeout = max(0.5, min(float(service.socket_read_timeout), left_s))
        with quiet() as said:
            try:
                sent = bool(service.notify(body=body, title=title, notify_type=TYPES.get(kind, "info"),
                                           body_format="text"))
            except Exception as e:  # a plugin's own bug must cost this alert a retry, not the run's alerting
                sent, said = False, said + [f"{type(e).__name__}: {e}"]
        return sent, "" if sent else (said[-1] if said else "Apprise reported the notification as not sent")
