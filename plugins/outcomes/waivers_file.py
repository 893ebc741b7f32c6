"""The waivers file (``DIGITALME_WAIVERS``): each ``[[waiver]]`` table read, checked and made a :class:`Waiver`;
every problem named together, with the file, the waiver's number and the key (exit 4). The file's format and
what a waiver does: plugins/outcomes/waivers.py. No hooks.
"""

import dataclasses
import datetime as dt
import re

import pytest

from plugins.configuration.parsers import closest
from plugins.configuration.targets import current_id, without_target
from plugins.configuration.toml import read_toml

KEYS = ("check", "target", "reason", "owner", "expires", "message")


@dataclasses.dataclass(frozen=True)
class Waiver:
    number: int  # its place in the file, from 1
    check: str
    reason: str
    owner: str
    expires: dt.date
    target: str = None
    message: str = None  # a regex the failure's message must match (re.search), or None

    def names(self, check_id, target):
        """True when this waiver is about the check ``check_id`` (its id without the target) on ``target``."""
        if self.target is not None and self.target != target:
            return False
        if not self.check.endswith("*"):
            return check_id == self.check
        base = self.check[:-1]
        if not check_id.startswith(base):
            return False
        rest = check_id[len(base):]
        return rest == "" or rest.startswith("[") or "[" in base  # its parameters, not another check's name

    def accepts(self, message):
        return self.message is None or re.search(self.message, message) is not None

    def expired(self, today):
        return self.expires < today

    def entry(self, state):
        """What a check's (and the results file's) ``waiver`` says."""
        return {"check": self.check, "target": self.target, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat(), "state": state}


def today():
    """The waivers' day: UTC, like every stamp of the run (a waiver expiring today still applies today)."""
    return dt.datetime.now(dt.timezone.utc).date()


def required_text(waiver, key, where, problems, what):
    value = waiver.get(key)
    if value is None:
        problems.append(f"{where} {key}: missing ({what})")
    elif not isinstance(value, str) or not value.strip():
        problems.append(f"{where} {key} = {value!r}: expected a non-empty string ({what})")
    else:
        return value.strip()
    return None


def as_named(check, target_names, where, target, problems):
    """(the check's id as a run without a targets file names it, the target its id named or None): a fleet's id
    (``test_x[prod-/health]``) names the check ``test_x[/health]`` on target prod; an id of earlier versions with
    testinfra's host parameter (``test_x[local]``) is ``test_x``."""
    if check is None:
        return None, None
    in_id = next((n for n in target_names or () if re.search(rf"\[{re.escape(n)}(\]|-)", check)), None)
    if in_id is None:
        return current_id(check), None
    if check.endswith("*"):
        problems.append(f"{where} check = {check!r}: write the check's id without the target's parameter "
                        f"({in_id}) before the *, and target = {in_id!r} to narrow the waiver to it")
    elif target is not None and target != in_id:
        problems.append(f"{where} check = {check!r} is target {in_id}'s id, but target = {target!r}: name the "
                        f"check without the target's parameter ({without_target(check, in_id)})")
    return without_target(check, in_id), in_id


def one(waiver, number, where, problems, day, max_days, target_names):
    """The waiver of one ``[[waiver]]`` table, or None; its problems appended naming ``where`` and the key."""
    before = len(problems)
    for key in waiver:
        if key not in KEYS:
            close = closest(key, KEYS)
            problems.append(f"{where} {key}: not a key of a waiver" + (f" (did you mean {close}?)" if close else "")
                            + f"; expected {', '.join(KEYS)}")
    check = required_text(waiver, "check", where, problems, "a check id, e.g. tests_backup/test_backups.py::"
                                                          "test_enough_recent_backups")
    if check is not None and ("::" not in check or "*" in check[:-1]):
        problems.append(f"{where} check = {check!r}: expected a check id such as tests_backup/test_backups.py::"
                        "test_enough_recent_backups (a * only at the end, for its parameters)")
    check, in_id = as_named(check, target_names, where, waiver.get("target"), problems)
    reason = required_text(waiver, "reason", where, problems, "why the finding is accepted")
    owner = required_text(waiver, "owner", where, problems, "who answers for it, e.g. an e-mail address")
    expires = waiver.get("expires")
    if expires is None:
        problems.append(f"{where} expires: missing (a TOML date such as {day + dt.timedelta(days=30)}, "
                        f"at most {max_days} days ahead)")
    elif not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
        problems.append(f"{where} expires = {expires!r}: expected a TOML date such as "
                        f"{day + dt.timedelta(days=30)} (no quotes, no time)")
    elif (expires - day).days > max_days:
        problems.append(f"{where} expires = {expires}: {(expires - day).days} days ahead, more than "
                        f"DIGITALME_WAIVER_MAX_DAYS = {max_days}: a waiver is reviewed, not forgotten")
    target = waiver.get("target", in_id)
    if target is not None:
        if not isinstance(target, str) or not target.strip():
            problems.append(f"{where} target = {target!r}: expected a target's name")
        elif target_names is None:
            problems.append(f"{where} target = {target!r}: this run has no targets file, so no check has a "
                            f"target (remove the key, or run with DIGITALME_TARGETS)")
        elif target not in target_names:
            close = closest(target, target_names)
            problems.append(f"{where} target = {target!r}: not a target of the targets file"
                            + (f" (did you mean {close}?)" if close else f" ({', '.join(target_names)})"))
    message = waiver.get("message")
    if message is not None:
        if not isinstance(message, str) or not message:
            problems.append(f"{where} message = {message!r}: expected a regular expression (a string)")
        else:
            try:
                re.compile(message)
            except re.error as e:
                problems.append(f"{where} message = {message!r}: not a valid regular expression ({e})")
    if len(problems) > before:
        return None
    return Waiver(number, check, reason, owner, expires, target, message)


def load(path, max_days, day=None, target_names=None):
    """The waivers of the file at ``path`` (``target_names``: the targets file's targets, None without one);
    raises pytest.UsageError naming the file and every problem."""
    day = day or today()

    def stop(problems):
        raise pytest.UsageError(f"invalid DigitalMe waivers file {path}:\n  " + "\n  ".join(problems))
    document = read_toml(path, stop)
    problems = [f"{key}: not a part of a waivers file (expected [[waiver]] tables)" for key in document
                if key != "waiver"]
    tables = document.get("waiver", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        stop(problems + ["waiver: expected [[waiver]] tables (an array of tables)"])
    found = [one(table, n, f"waiver {n}:", problems, day, max_days, target_names)
             for n, table in enumerate(tables, 1)]
    if problems:
        stop(problems)
    return found

