"""The record's environment table: the target (or, in a fleet run, each target's own settings beside the ones all
share), host, suite version, thresholds, who ran it and when, every value in human units and with every secret
masked (plugins/secrets.py). pytest-html reads the table from pytest-metadata's; :func:`fill` puts ours there.
"""

import getpass
import html
import os
import socket
import subprocess

from pytest_metadata.plugin import metadata_key

from plugins.configuration.settings import BY_NAME, SETTINGS, duration, size
from plugins.configuration.targets import fleet, targets_of
from plugins.outcomes.run import RUN
from plugins.secrets import masked_table
from plugins.units import human, unit_of_key

TARGET = ("base_url", "https_url", "compose_file", "compose_project", "container")
FLEET_TARGET = TARGET + ("docker_host", "host")  # what tells a fleet's targets apart: shown for each
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def fill(config):
    """pytest-metadata's table (which pytest-html shows) with the record's own rows, secrets masked."""
    if metadata_key not in config.stash:
        return
    secrets = config.stash[SETTINGS].secrets()
    own = environment_of(config.stash[SETTINGS], config.stash[RUN], os.environ,
                         targets_of(config) if fleet(config) else None)
    metadata = config.stash[metadata_key]
    cleaned = {**masked_table(metadata, secrets), **escaped(own)}
    metadata.clear()
    metadata.update(cleaned)


def suite_version():
    """The suite's git commit, or ``unknown`` (not a checkout, no git)."""
    try:
        done = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def who_ran(environ):
    """The CI job when run by one (``CI``, ``GITHUB_WORKFLOW``, ``GITHUB_RUN_ID``), else the user."""
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (containers)
        user = f"uid {os.getuid()}"
    job = " ".join(environ[k] for k in ("GITHUB_WORKFLOW", "GITHUB_RUN_ID") if environ.get(k))
    if job or environ.get("CI"):
        return f"CI job {job or environ.get('CI_JOB_NAME') or environ.get('JOB_NAME') or '(CI)'} as {user}"
    return user


def setting_shown(name, value):
    """A setting's value as the record shows it: sizes and durations as they are written (``2.0 GiB``, ``4h``),
    percentages, seconds, hours and days with their unit (by the name: ``disk_max_pct`` -> ``80 %``)."""
    declared = BY_NAME.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or declared is None:
        return value
    if declared.parse is size:
        return human(value, "bytes")
    if declared.parse is duration:
        seconds = float(value)
        return next((f"{seconds / n:g}{unit}" for n, unit in ((86400, "d"), (3600, "h"), (60, "m"))
                     if seconds >= n and seconds % n == 0), f"{seconds:g}s")
    return human(value, unit_of_key(name)) if unit_of_key(name) else value


def shown_settings(values):
    return {name: setting_shown(name, value) for name, value in values.items()}


def environment_of(settings, run, environ, targets=None):
    """The record's own rows of the environment table (every value fit to print, in human units); in a fleet run
    (``targets``: {name: Target}), one entry per target under "Targets" instead of "Target"."""
    values = shown_settings(settings.redacted())
    if targets:
        where, values = fleet_settings(targets)
    else:
        where = {"Target": {name: values[name] or "(none)" for name in TARGET}}
    return {
        **where,
        "Host": socket.gethostname(),
        "Suite version": suite_version(),
        "Thresholds and settings": ", ".join(f"{k}={v}" for k, v in values.items() if k not in TARGET),
        "Run by": who_ran(environ),
        "Started at": run.started_at.isoformat(timespec="seconds"),
        "Selection": run.selection,
    }


def fleet_settings(targets):
    """({"Targets": {name: its own settings}}, the settings every target shares), all redacted: a target's line
    has what tells it apart (:data:`FLEET_TARGET`) and every value where it differs from another target."""
    each = {name: shown_settings(target.settings.redacted()) for name, target in targets.items()}
    first = next(iter(each.values()))
    shared = {k: v for k, v in first.items() if k not in FLEET_TARGET and all(s[k] == v for s in each.values())}
    own = {name: ", ".join(f"{k}={v if v not in (None, '') else '(none)'}" for k, v in values.items()
                           if k not in shared)
           for name, values in each.items()}
    return {"Targets": own}, shared


def escaped(value):
    """pytest-html puts environment values in as HTML: escape ours."""
    if isinstance(value, dict):
        return {html.escape(str(k)): escaped(v) for k, v in value.items()}
    return html.escape(str(value))
