"""Waivers (plugins/outcomes/waivers.py): a known finding accepted with a reason, an owner and an expiry.

Here how a waiver applies, or does not, on a mini project of marked checks (serial, a fleet under pytest-xdist).
The file's rules, on :func:`plugins.outcomes.waivers_file.load` directly: unit/test_waivers_file.py; a real finding
waived end to end on the sandbox: sandbox/test_waiver_of_a_real_finding.py.
"""

import datetime as dt
import html
import json
import re
import textwrap


def today():
    """Today (UTC), read each time: a run that crosses midnight must not judge days against yesterday's date."""
    return dt.datetime.now(dt.timezone.utc).date()


def day(offset):
    """A TOML date ``offset`` days from today (UTC)."""
    return (today() + dt.timedelta(days=offset)).isoformat()


def waivers_file(folder, text, name="waivers.toml"):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


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
