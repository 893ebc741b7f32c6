"""Waivers (plugins/outcomes/waivers.py): a known finding accepted with a reason, an owner and an expiry.

The file's rules are proven on :func:`plugins.outcomes.waivers.load` directly (each invalid file both ways); how a waiver
applies, or does not, on a mini project of marked checks (serial, a fleet under pytest-xdist); one run of the real
suite against the sandbox shows a real finding waived end to end.
"""

import datetime as dt
import html
import json
import re
import textwrap

import pytest

from plugins.configuration.targets import without_target
from plugins.outcomes.waivers_file import Waiver, load

TODAY = dt.datetime.now(dt.timezone.utc).date()


def day(offset):
    """A TOML date ``offset`` days from today (UTC)."""
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def waivers_file(folder, text, name="waivers.toml"):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = f'''
[[waiver]]
check = "tests_backup/test_backups.py::test_enough_recent_backups"
reason = "backup job moved to the new host on Monday"
owner = "sysadmin@your-domain.com"
expires = {day(30)}
'''


# --- the file: read once, every problem stops the run (exit 4) -----------------------------------------

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
        TODAY + dt.timedelta(days=30), None, None), first
    assert (second.number, second.target, second.message, second.expires) == (
        2, "staging", "^/health took", TODAY + dt.timedelta(days=90)), second


def test_an_expired_waiver_still_loads(tmp_path):
    """An expiry in the past is no error: the waiver no longer applies, and each run says so."""
    (waiver,) = load(waivers_file(tmp_path, GOOD.replace(day(30), day(-5))), 90)
    assert waiver.expired(TODAY) and not waiver.expired(TODAY - dt.timedelta(days=5)), waiver


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


# --- which checks a waiver names ---------------------------------------------------------------------

def waiver(check, target=None, message=None):
    return Waiver(1, check, "why", "who", TODAY, target, message)


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


# --- applying them: a mini project ---------------------------------------------------------------------

CHECKS = '''
import pytest
from plugins.probes import ProbeError


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check, settings):
    """There are at least the minimum number of recent backups."""
    check.record(2, settings.backups_min)
    assert 2 >= settings.backups_min, f"2 recent backups, expected at least {settings.backups_min}"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.parametrize("path", ["/health", "/info"])
@pytest.mark.manual("Health Check Endpoints Reference: /health")
def test_endpoint_fast(check, path):
    """Each endpoint answers in time."""
    check.record(2.5 if path == "/health" else 0.1, 1.0)
    assert path != "/health", f"{path} took 2.5 s > 1 s"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_disk_below_threshold(check):
    """Disk use is below the threshold."""
    check.record(41, 80)


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 4")
def test_database_readable(check):
    """The database can be read."""
    raise ProbeError("docker did not answer within 3 s")
'''

MINI = "tests_mini/test_checks.py::"
DRY_RUN = {"DIGITALME_ALERTS": "dry-run", "DIGITALME_WEBHOOK_URL": "http://127.0.0.1:9/hook",
           "DIGITALME_MAINTENANCE_WINDOW": "off"}


def entry(check, reason, expires, **keys):
    lines = [f'check = "{MINI}{check}"', f'reason = "{reason}"', 'owner = "ops@example.com"', f"expires = {expires}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "[[waiver]]\n" + "\n".join(lines) + "\n"


def by_name(results):
    return {c["id"].split("::")[-1]: c for c in results["checks"]}


def record_data(run):
    text = (run.report_dir / "latest.html").read_text()
    return text, json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', text).group(1)))


def test_waived_failures_do_not_fail_the_run_alert_or_raise_the_status(mini_project, tmp_path):
    """A failure an active waiver accepts (its message matching, parameters by a trailing *) is ``waived``: exit 0,
    status ok, no alert, an x in the terminal, the count in the status line; a waiver whose check passed is "not
    needed", one naming a check this run deselected "unused"; the record shows both the rows and the active
    waivers."""
    path = waivers_file(tmp_path, entry("test_enough_recent_backups", "backup job moved", day(10),
                                        message=r"^2 recent backups")
                        + entry("test_endpoint_fast*", "slow link until the move", day(20))
                        + entry("test_disk_below_threshold", "disk was full last week", day(5))
                        + entry("test_database_readable", "a check this run deselects", day(5)))
    run = mini_project(CHECKS)("-rx", "--deselect", MINI + "test_database_readable",
                               env={**DRY_RUN, "DIGITALME_WAIVERS": str(path),
                                    "DIGITALME_PROMETHEUS_DIR": str(tmp_path)})
    assert run.returncode == 0, run
    results = run.results
    checks = by_name(results)
    assert results["status"] == "ok", results["counts"]
    assert results["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "error": 0, "waived": 2, "not checked": 0}, \
        results["counts"]
    backups, slow = checks["test_enough_recent_backups"], checks["test_endpoint_fast[/health]"]
    assert backups["outcome"] == "waived" and backups["message"] == "2 recent backups, expected at least 3", backups
    assert backups["severity"] == "critical" and backups["value"] == 2, backups
    assert backups["waiver"] == {"check": MINI + "test_enough_recent_backups", "target": None,
                                 "reason": "backup job moved", "owner": "ops@example.com", "expires": day(10),
                                 "state": "applied"}, backups["waiver"]
    assert slow["outcome"] == "waived" and slow["waiver"]["check"] == MINI + "test_endpoint_fast*", slow
    assert checks["test_endpoint_fast[/info]"]["waiver"]["state"] == "not needed", checks
    assert checks["test_disk_below_threshold"]["waiver"]["state"] == "not needed", checks
    assert not results["alerts"], f"a waived check alerted: {results['alerts']}"
    states = [(w["number"], w["state"]) for w in results["waivers"]]
    assert states == [(1, "applied"), (2, "applied"), (3, "not needed"), (4, "unused")], states
    assert results["waivers"][0]["checks"] == [MINI + "test_enough_recent_backups"], results["waivers"][0]
    assert results["waivers"][0]["message"] == "^2 recent backups", results["waivers"][0]

    assert re.search(r"XFAIL tests_mini/test_checks.py::test_enough_recent_backups - waived: backup job moved "
                     rf"\(ops@example.com, until {day(10)}\)", run.stdout), run
    assert "2 passed, 1 deselected, 2 xfailed" in run.stdout, run
    assert re.search(r"DigitalMe: OK - 2 checks passed, 2 waived - report ", run.stdout), run
    assert re.search(rf"DigitalMe waivers to clean up in {re.escape(str(path))}: no longer needed \(the check "
                     r"passed\): 3 \(tests_mini/test_checks.py::test_disk_below_threshold, ops@example.com\)\n",
                     run.stdout), run

    text, data = record_data(run)
    active = text[text.index('id="digitalme-active-waivers"'):].split("</div>")[0]
    for number, check, state in ((1, "test_enough_recent_backups", "applied"), (3, "test_disk_below_threshold",
                                                                             "not needed"), (4, "test_database_readable", "unused")):
        assert re.search(rf'<tr class="waiver-{state.replace(" ", "-")}"><td>{number}</td><td>{MINI}{check}</td>'
                         rf"<td>\(any\)</td><td>[^<]+</td><td>ops@example.com</td><td>[\d-]+</td><td>{state}",
                         active), active
    row = data["tests"][MINI + "test_enough_recent_backups"][0]
    notes = " ".join(e["content"] for e in row["extras"])
    assert row["result"] == "XFailed" and "WAIVED" in notes and "backup job moved" in notes, row
    assert "ops@example.com" in notes and day(10) in notes, notes
    index = (run.report_dir / "index.html").read_text()
    assert "2 passed, 0 failed, 0 errors, 0 skipped, 2 waived" in index, "the history's run list lacks the waived count"
    month = next(run.report_dir.glob("history-*.html")).read_text()
    assert "2/0/0/0 (2 waived)" in month, "the month page's run row lacks the waived count"
    prom = (tmp_path / "digitalme_all.prom").read_text()
    assert re.search(r'digitalme_check_waived\{check="tests_mini/test_checks.py::test_enough_recent_backups",'
                     r'selection="all",target=""\} 1.0', prom), prom


def test_waivers_that_do_not_apply_leave_the_failure_as_it_was(mini_project, tmp_path):
    """Another message, an expired waiver, a check that could not run, a waiver of another check: the check fails
    (or errs) and alerts as usual; the expired waiver says so in the check's message and entry."""
    path = waivers_file(tmp_path, entry("test_enough_recent_backups", "backup job moved", day(10),
                                        message=r"^the backup folder is missing")
                        + entry("test_endpoint_fast*", "slow link until the move", day(-1))
                        + entry("test_database_readable", "database moved", day(10))
                        + entry("test_disk_below_threshold", "another check", day(10)))
    run = mini_project(CHECKS)(env={**DRY_RUN, "DIGITALME_WAIVERS": str(path)})
    assert run.returncode == 1, run
    results = run.results
    checks = by_name(results)
    assert results["status"] == "critical" and results["counts"]["waived"] == 0, results["counts"]
    backups, slow, database = (checks[n] for n in ("test_enough_recent_backups", "test_endpoint_fast[/health]",
                                                   "test_database_readable"))
    assert backups["outcome"] == "failed" and backups["waiver"] is None, backups  # its message is not the waived one
    assert slow["outcome"] == "failed" and slow["waiver"]["state"] == "expired", slow
    assert slow["message"] == (f"/health took 2.5 s > 1 s (waiver 2 of ops@example.com expired on {day(-1)}: "
                               "slow link until the move)"), slow["message"]
    assert database["outcome"] == "error" and database["waiver"] is None, database  # could not run: no finding
    alerted = sorted(a["payload"]["check"].split("::")[-1] for a in results["alerts"])
    assert alerted == ["test_database_readable", "test_endpoint_fast[/health]", "test_enough_recent_backups"], alerted
    states = [(w["number"], w["state"]) for w in results["waivers"]]
    assert states == [(1, "unused"), (2, "expired"), (3, "unused"), (4, "not needed")], states
    assert re.search(rf"DigitalMe waivers to clean up in .*: expired: 2 \(tests_mini/test_checks.py::"
                     rf"test_endpoint_fast\*, ops@example.com\) on {day(-1)} - no longer needed", run.stdout), run
    assert "xfail" not in run.stdout.lower(), run
    text, data = record_data(run)
    assert 'id="digitalme-expired-waivers"' in text, "the record does not list the expired waiver"
    notes = " ".join(e["content"] for e in data["tests"][MINI + "test_endpoint_fast[/health]"][0]["extras"])
    assert 'class="waiver waiver-expired"' in notes and "Waiver expired" in notes, notes


def test_an_invalid_waivers_file_stops_the_run_before_any_check(mini_project, tmp_path):
    """Exit 4 with the one message naming the file, the waiver and the key; no check runs, no results file."""
    path = waivers_file(tmp_path, entry("test_enough_recent_backups", "moved", day(200)))
    run = mini_project(CHECKS)(env={**DRY_RUN, "DIGITALME_WAIVERS": str(path)})
    assert run.returncode == 4, run
    assert re.search(rf"invalid DigitalMe waivers file {re.escape(str(path))}:\n  waiver 1: expires = {day(200)}: "
                     r"200 days ahead, more than DIGITALME_WAIVER_MAX_DAYS = 90", run.stderr), run
    assert not (run.report_dir / "latest.json").exists(), "a run stopped at start-up wrote a results file"


FLEET = '''
[targets.prod]
base_url = "http://127.0.0.1:9"
[targets.staging]
base_url = "http://127.0.0.1:9"
'''


def test_a_fleet_waiver_names_the_check_without_its_target_and_works_under_xdist(mini_project, tmp_path):
    """``-n 2`` on a two-target fleet (the workers build the outcomes): a waiver narrowed to staging waives
    staging's failure only; one without a target waives the check on every target, by its id without the target."""
    (tmp_path / "targets.toml").write_text(FLEET)
    path = waivers_file(tmp_path, entry("test_enough_recent_backups", "staging keeps fewer", day(10),
                                        target="staging")
                        + entry("test_endpoint_fast[/health]", "slow link everywhere", day(10)))
    run = mini_project(CHECKS)("-n", "2", "--deselect", MINI + "test_database_readable[prod]",
                               "--deselect", MINI + "test_database_readable[staging]",
                               env={**DRY_RUN, "DIGITALME_WAIVERS": str(path),
                                    "DIGITALME_TARGETS": str(tmp_path / "targets.toml")})
    assert run.returncode == 1, run
    assert re.search(r"\b2 workers\b|\bgw1\b", run.stdout), f"the run did not use 2 workers: {run!r}"
    results = run.results
    outcomes = {c["id"].split("::")[-1]: c["outcome"] for c in results["checks"]}
    assert outcomes == {
        "test_enough_recent_backups[prod]": "failed", "test_enough_recent_backups[staging]": "waived",
        "test_endpoint_fast[prod-/health]": "waived", "test_endpoint_fast[staging-/health]": "waived",
        "test_endpoint_fast[prod-/info]": "passed", "test_endpoint_fast[staging-/info]": "passed",
        "test_disk_below_threshold[prod]": "passed", "test_disk_below_threshold[staging]": "passed"}, outcomes
    assert results["targets"] == {"prod": "critical", "staging": "ok"}, results["targets"]
    assert results["counts"]["waived"] == 3, results["counts"]
    staging = by_name(results)["test_enough_recent_backups[staging]"]
    assert staging["waiver"]["target"] == "staging" and staging["waiver"]["state"] == "applied", staging
    alerted = [(a["payload"]["check"].split("::")[-1], a["target"]) for a in results["alerts"]]
    assert alerted == [("test_enough_recent_backups[prod]", "prod")], alerted
    assert "3 waived on 2 targets" in run.stdout, run


# --- stable ids: a waiver applies in both modes; one naming no check is refused --------------------------------

HOST_CHECK = CHECKS + '''

@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Resource Monitoring: Disk Usage")
def test_host_disk(host, check):
    """The host's disk is below the threshold (reads testinfra's host, which once added [local] to the id)."""
    check.record(host.backend.NAME, "local")
    assert False, "disk / at 91 % >= 80 %"
'''


def host_disk_outcomes(run):
    return {c["id"].removeprefix(MINI): (c["outcome"], (c["waiver"] or {}).get("target"))
            for c in run.results["checks"] if "test_host_disk" in c["id"]}


def test_a_waiver_with_or_without_the_parameter_applies_in_both_modes(mini_project, tmp_path):
    """A host check's id is ``test_host_disk`` without a targets file (no testinfra ``[local]``) and
    ``test_host_disk[<target>]`` in a fleet; a waiver naming it without a parameter, or as earlier versions did
    (``[local]``), applies in both modes; one copied from a fleet's results (``[staging]``) applies to staging."""
    (tmp_path / "targets.toml").write_text(FLEET)
    project = mini_project(HOST_CHECK)
    for named in ("test_host_disk", "test_host_disk[local]"):
        path = waivers_file(tmp_path, entry(named, "disk replaced on Friday", day(10)))
        env = {**DRY_RUN, "DIGITALME_WAIVERS": str(path)}
        single = project("-k", "test_host_disk", env=env)
        assert single.returncode == 0, single
        assert host_disk_outcomes(single) == {"test_host_disk": ("waived", None)}, host_disk_outcomes(single)
        fleet = project("-k", "test_host_disk", env={**env, "DIGITALME_TARGETS": str(tmp_path / "targets.toml")})
        assert fleet.returncode == 0, fleet
        assert host_disk_outcomes(fleet) == {"test_host_disk[prod]": ("waived", None),
                                             "test_host_disk[staging]": ("waived", None)}, host_disk_outcomes(fleet)
    path = waivers_file(tmp_path, entry("test_host_disk[staging]", "staging's disk is small", day(10)))
    fleet = project("-k", "test_host_disk", env={**DRY_RUN, "DIGITALME_WAIVERS": str(path),
                                                  "DIGITALME_TARGETS": str(tmp_path / "targets.toml")})
    assert fleet.returncode == 1, fleet
    assert host_disk_outcomes(fleet) == {"test_host_disk[prod]": ("failed", None),
                                         "test_host_disk[staging]": ("waived", "staging")}, host_disk_outcomes(fleet)


def test_ids_are_the_same_in_both_modes_but_for_the_targets_name(mini_project, tmp_path):
    """Every check's id in a fleet is its id without a targets file with the target's name as its first
    parameter; no id without a targets file carries a host parameter."""
    (tmp_path / "targets.toml").write_text(FLEET)
    project = mini_project(HOST_CHECK)

    def ids(env=None):
        run = project("--collect-only", "-q", env=env)
        assert run.returncode == 0, run
        return sorted(line.removeprefix(MINI) for line in run.stdout.splitlines() if "::" in line)
    single = ids()
    assert "test_host_disk" in single and "test_endpoint_fast[/health]" in single, single
    fleet = ids({"DIGITALME_TARGETS": str(tmp_path / "targets.toml")})
    assert fleet == sorted(f"{i.split('[')[0]}[{name}-{i.split('[')[1]}" if "[" in i else f"{i}[{name}]"
                           for i in single for name in ("prod", "staging")), fleet


UNKNOWN = (entry("test_enough_recent_backup", "a typo", day(10))
           + entry("test_endpoint_fast[/helth]", "a typo in the parameter", day(10))
           + entry("test_disk_below_threshold", "a real one", day(10)))


def test_a_waiver_naming_no_check_stops_the_run_with_a_did_you_mean(mini_project, tmp_path):
    """A waiver whose check is no check of the suite (its name, or its parameter) stops the run before any check
    (exit 4, no results file), each named with the check it probably meant; under xdist its function's name."""
    path = waivers_file(tmp_path, UNKNOWN)
    project = mini_project(CHECKS)
    run = project(env={**DRY_RUN, "DIGITALME_WAIVERS": str(path)})
    assert run.returncode == 4 and "Traceback" not in run.stdout + run.stderr, run
    assert re.search(rf"invalid DigitalMe waivers file {re.escape(str(path))}:\n"
                     rf"  waiver 1: check = '{MINI}test_enough_recent_backup': names no check of the suite "
                     rf"\(did you mean {MINI}test_enough_recent_backups\?\)\n"
                     rf"  waiver 2: check = '{re.escape(MINI)}test_endpoint_fast\[/helth\]': names no check of the "
                     rf"suite \(did you mean {re.escape(MINI)}test_endpoint_fast\[/health\]\?\)\n", run.stderr), run
    assert "waiver 3" not in run.stderr, run
    assert not (run.report_dir / "latest.json").exists(), "a run stopped at start-up wrote a results file"
    assert not list(run.report_dir.glob("*.html")), "a run stopped at start-up left a record"
    xdist = project("-n", "2", env={**DRY_RUN, "DIGITALME_WAIVERS": str(path)})
    assert xdist.returncode == 4 and "Traceback" not in xdist.stdout + xdist.stderr, xdist
    assert re.search(rf"  waiver 1: check = '{MINI}test_enough_recent_backup': names no check of the suite "
                     rf"\(did you mean {MINI}test_enough_recent_backups\?\)", xdist.stderr), xdist


def test_a_waiver_of_a_check_outside_the_selection_is_accepted(mini_project, tmp_path):
    """Checks are known before ``-m``/``-k`` deselect them, and a run naming one check still knows the others of
    the suite: their waivers are accepted ("unused" this run); a check that exists nowhere is still refused."""
    path = waivers_file(tmp_path, entry("test_enough_recent_backups", "moved", day(10))
                        + entry("test_endpoint_fast[/health]", "slow link", day(10)))
    project = mini_project(CHECKS)
    env = {**DRY_RUN, "DIGITALME_WAIVERS": str(path)}
    for args in (("-k", "test_disk_below_threshold"), (MINI + "test_disk_below_threshold",)):
        run = project(*args, env=env)
        assert run.returncode == 0, run
        assert [w["state"] for w in run.results["waivers"]] == ["unused", "unused"], run.results["waivers"]
    gone = waivers_file(tmp_path, entry("test_gone", "removed long ago", day(10)), name="gone.toml")
    run = project(MINI + "test_disk_below_threshold", env={**env, "DIGITALME_WAIVERS": str(gone)})
    assert run.returncode == 4 and "waiver 1: check = 'tests_mini/test_checks.py::test_gone': names no check" \
        in run.stderr, run


# --- the real suite --------------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_a_real_finding_waived_on_the_sandbox(healthy_sandbox, suite, tmp_path):
    """The sandbox held to 99 backups: the backup check's finding, waived, leaves the run OK (exit 0, no alert)
    and its entry and record name the waiver; the same run without the waiver fails."""
    path = waivers_file(tmp_path, f'''
        [[waiver]]
        check = "tests_backup/test_backups.py::test_enough_recent_backups"
        reason = "the backup job moves to the new host on Monday"
        owner = "sysadmin@your-domain.com"
        expires = {day(14)}
        message = "in the last 7 days [(]required: at least 99[)]$"
        ''')
    args = ("-k", "test_enough_recent_backups")
    settings = {"DIGITALME_BACKUPS_MIN": "99", **DRY_RUN}
    waived = suite(*args, DIGITALME_WAIVERS=str(path), **settings)
    assert waived.returncode == 0, waived
    check = waived.check("test_enough_recent_backups")
    assert check["outcome"] == "waived" and check["waiver"]["state"] == "applied", check
    assert re.search(r"backup\(s\) in the last 7 days \(required: at least 99\)$", check["message"]), check
    assert waived.results["status"] == "ok" and not waived.results["alerts"], waived.results
    assert "the backup job moves to the new host on Monday" in (waived.report_dir / "latest.html").read_text()
    failed = suite(*args, **settings)
    assert failed.returncode == 1 and failed.check("test_enough_recent_backups")["outcome"] == "failed", failed
