"""Waivers (plugins/outcomes/waivers*.py) as functions: the file's rules proven on
:func:`plugins.outcomes.waivers_file.load` directly (read once, each invalid file both ways, every problem stopping the
run with exit 4), and which checks a waiver names (an id exactly, a trailing star its parameters, a target, a message
regex). How a waiver applies on mini projects: plugin/test_waivers.py."""

import datetime as dt
import re

import pytest

from plugins.configuration.targets import without_target
from plugins.outcomes.waivers_file import Waiver, load
from test_waivers import day, today, waivers_file

GOOD = f'''
[[waiver]]
check = "tests_backup/test_backups.py::test_enough_recent_backups"
reason = "backup job moved to the new host on Monday"
owner = "sysadmin@your-domain.com"
expires = {day(30)}
'''


def test_a_valid_file_loads_each_waiver_in_order(tmp_path):
    """A waiver with check, reason, owner and expiry (and the optional target and message) loads as written."""
    path = waivers_file(tmp_path, GOOD + f'''
        [[waiver]]
        check = "tests_health/test_endpoints.py::test_endpoint_answers_within_time*"
        target = "staging"
        reason = "slow disk on staging"
        owner = "ops@example.com"
        expires = {day(90)}
        message = "^/health took"
        ''')
    first, second = load(path, 90, target_names=["prod", "staging"])
    assert (first.number, first.check, first.owner, first.expires, first.target, first.message) == (
        1, "tests_backup/test_backups.py::test_enough_recent_backups", "sysadmin@your-domain.com",
        today() + dt.timedelta(days=30), None, None), first
    assert (second.number, second.target, second.message, second.expires) == (
        2, "staging", "^/health took", today() + dt.timedelta(days=90)), second


def test_an_expired_waiver_still_loads(tmp_path):
    """An expiry in the past is no error: the waiver no longer applies, and each run says so."""
    (waiver,) = load(waivers_file(tmp_path, GOOD.replace(day(30), day(-5))), 90)
    assert waiver.expired(today()) and not waiver.expired(today() - dt.timedelta(days=5)), waiver


INVALID = {
    "unknown key, with a did-you-mean": (
        GOOD.replace("owner =", "ownr ="), r"waiver 1: ownr: not a key of a waiver \(did you mean owner\?\)"),
    "no reason": (
        GOOD.replace('reason = "backup job moved to the new host on Monday"\n', ""), r"waiver 1: reason: missing"),
    "an empty reason": (
        GOOD.replace('"backup job moved to the new host on Monday"', '"  "'),
        r"waiver 1: reason = '  ': expected a non-empty string"),
    "no owner": (GOOD.replace('owner = "sysadmin@your-domain.com"\n', ""), r"waiver 1: owner: missing"),
    "no expiry": (GOOD.replace(f"expires = {day(30)}\n", ""), r"waiver 1: expires: missing"),
    "an expiry as a string": (
        GOOD.replace(f"expires = {day(30)}", f'expires = "{day(30)}"'),
        r"waiver 1: expires = '[\d-]+': expected a TOML date"),
    "an expiry with a time": (
        GOOD.replace(f"expires = {day(30)}", f"expires = {day(30)}T00:00:00Z"), r"waiver 1: expires = .*TOML date"),
    "an expiry past the maximum": (
        GOOD.replace(day(30), day(91)), r"waiver 1: expires = [\d-]+: 91 days ahead, more than "
                                        r"DIGITALME_WAIVER_MAX_DAYS = 90"),
    "not a check id": (
        GOOD.replace("tests_backup/test_backups.py::", ""), r"waiver 1: check = 'test_enough_recent_backups': "
                                                            r"expected a check id"),
    "a * not at the end": (
        GOOD.replace("test_enough_recent_backups", "test_*_backups"), r"waiver 1: check = .*a \* only at the end"),
    "a bad regex": (GOOD + 'message = "(unclosed"\n', r"waiver 1: message = '\(unclosed': not a valid regular"),
    "a target without a targets file": (
        GOOD + 'target = "prod"\n', r"waiver 1: target = 'prod': this run has no targets file"),
    "the second waiver's problem": (
        GOOD + GOOD.replace('"sysadmin@your-domain.com"', '""'), r"waiver 2: owner = '': expected a non-empty"),
    "not [[waiver]] tables": ('[waiver]\ncheck = "a.py::b"\n', r"waiver: expected \[\[waiver\]\] tables"),
    "another table": (GOOD + "[waivers]\n", r"waivers: not a part of a waivers file"),
    "invalid TOML": (GOOD + "expires = \n", r"not valid TOML"),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_an_invalid_file_stops_the_run_naming_file_waiver_and_key(tmp_path, case):
    """Each problem is a usage error (exit 4) naming the file, the waiver's number and the key."""
    text, expected = INVALID[case]
    path = waivers_file(tmp_path, text)
    with pytest.raises(pytest.UsageError) as raised:
        load(path, 90)
    message = str(raised.value)
    assert message.startswith(f"invalid DigitalMe waivers file {path}:"), message
    assert re.search(expected, message), f"{message!r} !~ {expected!r}"


def test_the_maximum_is_the_settings_and_its_last_day_is_allowed(tmp_path):
    """An expiry exactly DIGITALME_WAIVER_MAX_DAYS ahead loads; one day more does not."""
    assert load(waivers_file(tmp_path, GOOD), 30)
    with pytest.raises(pytest.UsageError, match=r"31 days ahead, more than DIGITALME_WAIVER_MAX_DAYS = 30"):
        load(waivers_file(tmp_path, GOOD.replace(day(30), day(31))), 30)


def test_a_target_must_be_one_of_the_targets_file(tmp_path):
    """In a fleet, a waiver's target names a target of the targets file (with a did-you-mean)."""
    path = waivers_file(tmp_path, GOOD + 'target = "stagin"\n')
    with pytest.raises(pytest.UsageError, match=r"waiver 1: target = 'stagin': not a target of the targets file "
                                                r"\(did you mean staging\?\)"):
        load(path, 90, target_names=["prod", "staging"])
    assert load(waivers_file(tmp_path, GOOD + 'target = "staging"\n'), 90, target_names=["prod", "staging"])


def test_a_fleet_id_names_the_check_on_its_target_and_an_old_host_parameter_goes(tmp_path):
    """A check id copied from a fleet's results (``[staging]``, ``[staging-/health]``) is the check without it on
    that target; testinfra's host parameter of earlier ids (``[local]``) is dropped; a conflicting ``target`` or a
    * after the target's parameter is refused."""
    names = ["prod", "staging"]
    copied = GOOD.replace("test_enough_recent_backups", "test_enough_recent_backups[staging]")
    (waiver,) = load(waivers_file(tmp_path, copied), 90, target_names=names)
    assert (waiver.check, waiver.target) == ("tests_backup/test_backups.py::test_enough_recent_backups", "staging")
    timed = GOOD.replace("tests_backup/test_backups.py::test_enough_recent_backups",
                         "tests_health/test_endpoints.py::test_endpoint_answers_within_time[prod-/health]")
    (waiver,) = load(waivers_file(tmp_path, timed), 90, target_names=names)
    assert (waiver.check, waiver.target) == (
        "tests_health/test_endpoints.py::test_endpoint_answers_within_time[/health]", "prod"), waiver
    host = GOOD.replace("tests_backup/test_backups.py::test_enough_recent_backups",
                        "tests_resources/test_host.py::test_host_memory_below_threshold[local]")
    for target_names in (None, names):
        (waiver,) = load(waivers_file(tmp_path, host), 90, target_names=target_names)
        assert (waiver.check, waiver.target) == ("tests_resources/test_host.py::test_host_memory_below_threshold",
                                                 None), waiver
    (waiver,) = load(waivers_file(tmp_path, host), 90, target_names=["local", "remote"])  # there, a target's name
    assert (waiver.check, waiver.target) == ("tests_resources/test_host.py::test_host_memory_below_threshold",
                                             "local"), waiver
    with pytest.raises(pytest.UsageError, match=r"waiver 1: check = .*\[staging\]' is target staging's id, but "
                                                r"target = 'prod': name the check without the target's parameter"):
        load(waivers_file(tmp_path, copied + 'target = "prod"\n'), 90, target_names=names)
    starred = GOOD.replace("test_enough_recent_backups", "test_enough_recent_backups[staging-*")
    with pytest.raises(pytest.UsageError, match=r"without the target's parameter \(staging\) before the \*"):
        load(waivers_file(tmp_path, starred), 90, target_names=names)


def test_a_missing_file_stops_the_run(tmp_path):
    with pytest.raises(pytest.UsageError, match=r"waivers file .*nothing\.toml:\n  cannot be read: No such file"):
        load(tmp_path / "nothing.toml", 90)


def waiver(check, target=None, message=None):
    return Waiver(1, check, "why", "who", today(), target, message)


@pytest.mark.parametrize("check_id, named", [
    ("t.py::test_x", True),
    ("t.py::test_y", False),  # another check
    ("t.py::test_x[/health]", False),  # without a *, a check's parameters must be named
])
def test_a_check_id_names_exactly_that_check(check_id, named):
    assert waiver("t.py::test_x").names(check_id, None) is named


@pytest.mark.parametrize("check_id, named", [
    ("t.py::test_x", True),
    ("t.py::test_x[/health]", True),
    ("t.py::test_x[/info-2]", True),
    ("t.py::test_xy", False),  # a trailing * matches parameters, not other checks that start alike
    ("t.py::test_y[/health]", False),
])
def test_a_trailing_star_matches_the_checks_parameters(check_id, named):
    assert waiver("t.py::test_x*").names(check_id, None) is named


def test_a_target_narrows_a_waiver_and_the_id_is_without_the_target():
    """In a fleet the check's id is named without its target parameter; ``target`` picks one target."""
    assert without_target("t.py::test_x[prod]", "prod") == "t.py::test_x"
    assert without_target("t.py::test_x[prod-/health]", "prod") == "t.py::test_x[/health]"
    assert without_target("t.py::test_x[/health]", None) == "t.py::test_x[/health]"
    staging = waiver("t.py::test_x", target="staging")
    assert staging.names("t.py::test_x", "staging") and not staging.names("t.py::test_x", "prod")
    assert waiver("t.py::test_x").names("t.py::test_x", "prod")  # no target: every target's


def test_a_message_regex_narrows_a_waiver_to_its_failure():
    narrowed = waiver("t.py::test_x", message=r"^\d+ recent backups")
    assert narrowed.accepts("2 recent backups, expected at least 3")
    assert not narrowed.accepts("the backup folder is missing")
    assert waiver("t.py::test_x").accepts("anything")
