"""Pending updates on a Debian/Ubuntu host, through testinfra's ``host``: how old its package lists are, and what
``apt-get -s dist-upgrade`` would install from a -security suite.

dist-upgrade, not upgrade: ``upgrade`` keeps back what needs a new package (a kernel update), which would hide it.
The simulation needs no root and changes nothing (``Debug::NoLocking``: no lock taken).
"""

import dataclasses
import re

from plugins.probes import ProbeError
from plugins.probes.host import run_on

APT_LISTS_MAX_AGE_DAYS = 7  # older package lists cannot tell which security updates are pending
# "Inst openssl [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/oldstable-security [amd64])"
APT_INST_LINE = re.compile(r"^Inst (?P<package>\S+)(?: \[(?P<installed>[^\]]*)\])? \((?P<candidate>[^)]*)\)")

# One command: "no-apt", or the time now, the newest list's time (or "never") and the simulation.
_COMMAND = ("command -v apt-get >/dev/null || { echo no-apt; exit 0; }; date +%s; "
            "find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -printf '%T@\\n' 2>/dev/null "
            "| sort -n | tail -n 1 | grep . || echo never; "
            "LC_ALL=C apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1")


@dataclasses.dataclass(frozen=True)
class PendingUpdates:
    """What the host's apt says is pending, or why it cannot say (no apt, package lists too old)."""
    has_apt: bool
    lists_too_old: str = ""  # why the package lists cannot be trusted; "" when they are fresh
    security: tuple = ()  # (package, candidate origin) of each pending security update


def pending_updates(host):
    """The host's pending security updates; ProbeError when the simulation fails on fresh lists.

    Lists too old are a finding of their own (the weekly ``apt-get update`` is not running), reported before
    the simulation is judged: old lists cannot show this week's security updates anyway.
    """
    result = run_on(host, _COMMAND)
    if result.stdout.startswith("no-apt"):
        return PendingUpdates(has_apt=False)
    now, newest, simulation = (result.stdout.split("\n", 2) + ["", ""])[:3]
    stale = apt_lists_too_old("" if newest == "never" else newest, float(now))
    if stale:
        return PendingUpdates(True, lists_too_old=stale)
    if result.rc != 0:
        raise ProbeError(f"apt-get -s dist-upgrade on the host exited {result.rc}: {simulation.strip()[-200:]}")
    return PendingUpdates(True, security=tuple(security_updates(simulation)))


def security_updates(simulation):
    """(package, candidate origin) of each ``Inst`` line of ``apt-get -s dist-upgrade`` from a -security suite.

    dist-upgrade also installs what ``upgrade`` keeps back (a kernel update needing a new package): those
    lines are counted too, new packages (no installed version in brackets) included.
    """
    found = []
    for line in simulation.splitlines():
        match = APT_INST_LINE.match(line)
        if match and re.search(r"-security\b|Security:", match.group("candidate"), re.IGNORECASE):
            found.append((match.group("package"), match.group("candidate")))
    return found


def apt_lists_too_old(newest, now):
    """Why the package lists cannot be trusted (never updated, or older than the limit), or "" when fresh."""
    if not newest:
        return "apt lists were never updated (/var/lib/apt/lists is empty)"
    age_days = (now - float(newest)) / 86400
    if age_days > APT_LISTS_MAX_AGE_DAYS:
        return f"apt lists are {age_days:.0f} days old"
    return ""
