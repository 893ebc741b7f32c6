"""The targets file (``DIGITALME_TARGETS``): each ``[targets.<name>]`` table, over ``[defaults]``, over the run's
settings, parsed as settings are and made a :class:`Target`; every problem named together (exit 4). The file's
format: plugins/configuration/targets.py. No hooks.
"""

import dataclasses
import re

import pytest

from plugins.configuration.parsers import Invalid, closest
from plugins.configuration.settings import BY_NAME, RUN_WIDE, Settings
from plugins.configuration.toml import read_toml
from plugins.secrets import MASK, without_url_credentials

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclasses.dataclass(frozen=True)
class Target:
    """One deployment: its name (None for the one target without a targets file) and its settings."""
    name: object
    settings: Settings

    def __str__(self):
        return self.name or "the target"


def as_text(value):
    """A TOML value as the text a setting parses: numbers as written, a list of names joined with commas."""
    if isinstance(value, bool):
        raise Invalid("expected a string or a number, not true/false")
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise Invalid("expected a string, a number or a list of names")


def table_values(table, where, problems):
    """A table's keys parsed as settings: {name: value}; problems are appended naming ``where`` and the key."""
    parsed = {}
    for key, raw in table.items():
        setting = BY_NAME.get(key)
        if setting is None:
            # DISK_MAX_PCT or digitalme_disk_max_pct (copied from the environment or pytest.ini) means disk_max_pct
            close = closest(key.lower().removeprefix("digitalme_"), [n for n in BY_NAME if n not in RUN_WIDE])
            problems.append(f"{where} {key}: not a setting" + (f" (did you mean {close}?)" if close else ""))
            continue
        if key in RUN_WIDE:
            problems.append(f"{where} {key}: a setting of the whole run, not of a target: set {setting.env} "
                            f"or {setting.ini} in pytest.ini")
            continue
        try:
            parsed[key] = setting.parse(as_text(raw))
        except Invalid as e:
            shown = MASK if setting.secret else repr(without_url_credentials(str(raw)))
            problems.append(f"{where} {key} = {shown}: {e}")
    return parsed


def load(path, base):
    """{name: Target} from the targets file at ``path``; raises pytest.UsageError naming every problem."""
    def stop(problems):
        raise pytest.UsageError(f"invalid DigitalMe targets file {path}:\n  " + "\n  ".join(problems))
    document = read_toml(path, stop)
    problems = [f"[{key}]: not a table of this file (expected [defaults] and [targets.<name>])"
                for key in document if key not in ("defaults", "targets")]
    defaults = document.get("defaults", {})
    tables = document.get("targets", {})
    if not isinstance(defaults, dict) or not isinstance(tables, dict):
        stop(problems + ["[defaults] and [targets] must be tables"])
    shared = table_values(defaults, "[defaults]", problems)
    if not tables:
        problems.append("names no target: add a [targets.<name>] table for each deployment")
    found = {}
    for name, table in tables.items():
        if not NAME.fullmatch(name):
            problems.append(f"[targets.{name}]: a target's name is letters, digits, '.', '_' or '-' "
                            f"(at most 63), starting with a letter or digit")
            continue
        if not isinstance(table, dict):
            problems.append(f"targets.{name}: expected a table [targets.{name}]")
            continue
        own = table_values(table, f"[targets.{name}]", problems)
        values = {**base.values, **shared, **own}
        sources = {**base.sources, **{k: f"{path} [defaults]" for k in shared},
                   **{k: f"{path} [targets.{name}]" for k in own}}
        if values["cert_crit_days"] > values["cert_warn_days"]:
            problems.append(f"[targets.{name}] cert_crit_days = {values['cert_crit_days']}: must not exceed "
                            f"cert_warn_days = {values['cert_warn_days']}")
        found[name] = Target(name, Settings(values, sources))
    if problems:
        stop(problems)
    # Every target's settings, and the run's, know every secret of the fleet: whichever writes, scrubs them all.
    secrets = tuple(dict.fromkeys(s for t in found.values() for s in t.settings.secrets()))
    return {name: Target(name, dataclasses.replace(t.settings, also_secret=secrets)) for name, t in found.items()}
