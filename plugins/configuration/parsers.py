"""A setting's text made its value: each parser takes the text (from the command line, the environment, pytest.ini,
a targets file) and returns the value, or raises :class:`Invalid` saying what was expected. Messages never quote
a URL: webhook URLs carry tokens. No hooks.
"""

import math
import re
import urllib.parse

from plugins.apprise_urls import unparsable
from plugins.configuration.schedules import SCHEDULES


class Invalid(ValueError):
    """A value that does not parse; its text says what was expected."""


def closest(name, names):
    """The one of ``names`` that ``name`` most likely misspells, or None: the did-you-mean of every refusal of a
    name (settings, targets and waivers files)."""
    import difflib  # here: only a mistake needs it
    found = difflib.get_close_matches(name, list(names), n=1)
    return found[0] if found else None


# --- parsers: text -> value, raising Invalid ----------------------------------------------------

def text(value):
    return value.strip()


def required_text(value):
    """A name or path that must be given: empty would point the checks at nothing."""
    value = value.strip()
    if not value:
        raise Invalid("must not be empty")
    return value


_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def url(value, optional=False):
    """An http(s) URL with a host. Messages never quote any part of it: webhook URLs carry tokens."""
    if not value.strip() and optional:
        return ""
    expected = "expected an http:// or https:// URL with a host" + (" (or empty)" if optional else "")
    blank = _WHITESPACE_OR_CONTROL.search(value)
    if blank:
        # anywhere, ends included: urlsplit accepts "https://host/a b", and a stray space or line break is a
        # paste gone wrong that would otherwise be sent (or cut off) silently
        raise Invalid(f"{expected}, without whitespace (found at character {blank.start() + 1})")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(expected)
    try:
        parts.port
    except ValueError:
        raise Invalid(f"{expected}: the port is not a number from 0 to 65535") from None  # urllib's text quotes it
    return value.rstrip("/")


def optional_url(value):
    return url(value, optional=True)


def url_list(value):
    """Comma-separated http(s) URLs (empty: none), each checked as :func:`url`; kept as one string, comma-joined."""
    parts = [part.strip() for part in value.split(",")]
    if not any(parts):
        return ""
    for position, part in enumerate(parts, 1):
        try:
            url(part)
        except Invalid as e:
            raise Invalid(f"URL {position} of {len(parts)}: {e}") from None
    return ",".join(url(part) for part in parts)


def routing_key(value):
    """A PagerDuty routing key: 32 letters and digits (empty: none). Never quoted: it is a secret."""
    value = value.strip()
    if value and not re.fullmatch(r"[A-Za-z0-9]{32}", value):
        raise Invalid(f"expected a PagerDuty routing key, 32 letters and digits (found {len(value)} characters)")
    return value


def docker_url(value):
    """Where the Docker API is: empty (``DOCKER_HOST``, else the local socket), or unix://, tcp:// or ssh://."""
    value = value.strip()
    if value and (urllib.parse.urlsplit(value).scheme not in ("unix", "tcp", "ssh") or _WHITESPACE_OR_CONTROL.search(value)):
        raise Invalid("expected empty, or a Docker host such as unix:///var/run/docker.sock, tcp://host:2376 "
                      "or ssh://user@host")
    if value.startswith("ssh://"):
        ssh_destination(value)
    return value


def ssh_destination(value):
    """``ssh://[user@]host-or-alias[:port]``, nothing more: the remote socket is Docker's default (plugins/probes/
    ssh.py), so a path or query would be ignored, as the docker CLI refuses them."""
    parts = urllib.parse.urlsplit(value)
    try:
        parts.port
    except ValueError:
        raise Invalid("an ssh:// Docker host's port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise Invalid("an ssh:// Docker host names a host or an ssh config alias: ssh://prod or ssh://user@host:port")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise Invalid("an ssh:// Docker host takes no path or query: ssh://[user@]host-or-alias[:port] (the Docker "
                      "socket there is /var/run/docker.sock)")


_TESTINFRA_BACKENDS = ("local", "ssh", "safe-ssh", "paramiko", "docker", "podman", "kubectl", "openshift",
                       "ansible", "salt", "winrm", "lxc", "chroot")


def host_spec(value):
    """A testinfra host: empty (``--hosts``, else this machine), or ``<backend>://...`` as ``--hosts`` takes it."""
    value = value.strip()
    if value and ("," in value or _WHITESPACE_OR_CONTROL.search(value)
                  or ("://" in value and value.split("://")[0] not in _TESTINFRA_BACKENDS)):
        raise Invalid("expected empty, or one testinfra host such as local://, ssh://user@host[:port] or "
                      "docker://container")
    return value


def number(low, high, integer=False, low_open=False, too_low=""):
    """A number in [low, high] (or (low, high] with low_open); ``too_low`` says why a smaller one, 0 or more, cannot
    be meant (a negative one is plainly out of range)."""
    def parse(value):
        try:
            result = int(value) if integer else float(value)
        except ValueError:
            raise Invalid(f"expected {'a whole number' if integer else 'a number'}") from None
        if not math.isfinite(result):
            raise Invalid("expected a finite number (not nan or inf)")  # nan compares false with every limit
        expected = f"expected a number {'>' if low_open else '>='} {low} and <= {high}"
        if too_low and 0 <= result and (result < low or (low_open and result == low)):
            raise Invalid(f"{value.strip()} is {too_low} ({expected})")
        if result > high or result < low or (low_open and result == low):
            raise Invalid(expected)
        return result
    return parse


def timeout(high):
    """Seconds, from 1 ms: libcurl (HTTP, the local Docker API) counts whole milliseconds and reads 0 as no
    timeout, so 0.0001 would wait as long as the server likes."""
    return number(0.001, high, too_low="below 1 ms, which the HTTP and Docker clients round to 0: no timeout at all")


_SIZE_UNITS = {"b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
               "t": 1000**4, "tb": 1000**4, "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2,
               "gi": 1024**3, "gib": 1024**3, "ti": 1024**4, "tib": 1024**4}


def size(value):
    """Bytes, from ``2GiB``, ``512MiB``, ``1GB``, ``2Gi`` (Docker's and Kubernetes' spelling) or ``4096B``. A plain
    number is refused: ``2`` would be 2 bytes, never what a memory or disk limit means."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    if match and not match.group(2):
        raise Invalid(f"{match.group(1)} bytes? write a unit, e.g. {match.group(1)}GiB, {match.group(1)}MiB "
                      f"or {match.group(1)}B")
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise Invalid("expected a size such as 2GiB, 512MiB or 1GB")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value):
    """Seconds, from ``90s``, ``30m``, ``4h`` or ``2d``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if not match:
        raise Invalid("expected a duration such as 30m, 4h or 1d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def choice(*options):
    def parse(value):
        if value.strip() not in options:
            raise Invalid("expected one of " + ", ".join(options))
        return value.strip()
    return parse


def name_list(value):
    return tuple(part.strip() for part in value.split(",") if part.strip())


def selection(name):
    """A selection as a run's ``-m`` names it: a schedule, ``all``, or an expression (``daily or weekly``). A single
    word that is none of them matches no run: a typo (``monitr:90``) would silently keep the default."""
    if re.fullmatch(r"[\w-]+", name) and name not in (*SCHEDULES, "all"):
        meant = closest(name, (*SCHEDULES, "all"))
        raise Invalid(f"{name} is not a selection; " + (f"did you mean {meant}?" if meant else
                      f"expected {', '.join(SCHEDULES)}, all, or a -m expression"))
    return name


def thinned_selections(value):
    """Selections whose repeated passing runs keep a summary only (plugins/outputs/history/); never daily, weekly or
    monthly, which always keep their full record."""
    names = tuple(selection(name) for name in name_list(value))
    kept = sorted(set(names) & {"daily", "weekly", "monthly"})
    if kept:
        raise Invalid(f"daily, weekly and monthly runs always keep their full record (found {', '.join(kept)})")
    return names


def days_by_selection(value):
    """``monitor:90,resources:180``: retention in days per selection, as a tuple of ``name:days``."""
    pairs = []
    for part in name_list(value):
        name, _, days = part.partition(":")
        if not name.strip() or not re.fullmatch(r"\s*\d+\s*", days) or not 1 <= int(days) <= 36500:
            raise Invalid("expected selection:days pairs (days 1 to 36500), e.g. monitor:90,resources:180")
        pairs.append(f"{selection(name.strip())}:{int(days)}")
    return tuple(pairs)


def apprise_urls(value):
    """Apprise URLs separated by whitespace (empty: none), each one Apprise can parse. Apprise is imported only when
    one is given. Messages name a URL by its place and scheme, never more: these URLs carry passwords and tokens."""
    urls = tuple(dict.fromkeys(value.split()))
    if not urls:
        return ()
    try:
        bad = unparsable(urls)
    except ImportError:
        raise Invalid("Apprise URLs need the apprise package: pip install -r requirements.txt") from None
    if bad:
        raise Invalid("; ".join(bad) + " (see https://github.com/caronc/apprise/wiki for each service's URL)")
    return urls
