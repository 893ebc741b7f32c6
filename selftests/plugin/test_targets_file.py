"""Fleet mode's targets file (plugins/configuration/targets.py), no sandbox needed: a valid file makes each check once per target,
named by its parameter; an invalid one, several hosts without one, or --hosts beside one stop the run before any
check, naming the file, the table and the key. Fleets against the sandbox: sandbox/test_fleet.py."""

import re

import pytest

from conftest import REPO, run_pytest
from test_fleet import with_target, write_targets


def test_every_check_is_collected_once_per_target_named_by_its_parameter(tmp_path):
    """A valid targets file (two targets, [defaults]) makes each check of a run once per target, ``...[name]``,
    whether named by DIGITALME_TARGETS or --digitalme-targets: its id without a targets file with the target's
    name added, and nothing else (issue 23: stable identities).

    Manual: every section, for each deployment an operator runs (issue 13: a fleet in one run).
    """
    path = write_targets(tmp_path, """
        [defaults]
        response_time_max_s = 2.0
        [targets.prod]
        base_url = "http://127.0.0.1:1"
        [targets.staging]
        backups_min = 5
        """)

    def ids(*args, env=None):
        run = run_pytest(REPO, ["-m", "daily", "--collect-only", "-q", *args], env, tmp_path / "reports", 120)
        assert run.returncode == 0, run
        return [line for line in run.stdout.splitlines() if "::" in line]
    # The one target's checks carry no host or target parameter (testinfra's [local] is gone): stable ids.
    single = ids()
    assert len(single) >= 20, f"too few daily checks collected: {single}"
    assert "tests_resources/test_host.py::test_host_memory_below_threshold" in single, single
    assert not [i for i in single if re.search(r"\[(local|ssh://[^]]*)\]$", i)], single
    expected = sorted(with_target(i, name) for i in single for name in ("prod", "staging"))
    by_env = ids(env={"DIGITALME_TARGETS": str(path)})
    by_option = ids(f"--digitalme-targets={path}")
    assert sorted(by_env) == expected, f"DIGITALME_TARGETS: {set(by_env) ^ set(expected)}"
    assert sorted(by_option) == expected, f"--digitalme-targets: {set(by_option) ^ set(expected)}"


INVALID = {  # what the file says -> the one problem the operator must read (file, table, key)
    "unknown key": ("[targets.prod]\nbakups_min = 3\n",
                    r"\[targets\.prod\] bakups_min: not a setting \(did you mean backups_min\?\)"),
    "key copied from the environment": ("[targets.prod]\nDIGITALME_BACKUPS_MIN = 3\n",
                                        r"\[targets\.prod\] DIGITALME_BACKUPS_MIN: not a setting \(did you mean "
                                        r"backups_min\?\)"),
    "bad value": ("[targets.prod]\ndisk_max_pct = 120\n",
                  r"\[targets\.prod\] disk_max_pct = '120': expected a number >= 0 and <= 100"),
    "bad value in defaults": ("[defaults]\nread_timeout_s = -1\n[targets.prod]\n",
                              r"\[defaults\] read_timeout_s = '-1': expected a number"),
    "run-wide key": ("[targets.prod]\nreport_dir = \"/tmp/elsewhere\"\n",
                     r"\[targets\.prod\] report_dir: a setting of the whole run, not of a target: "
                     r"set DIGITALME_REPORT_DIR"),
    "bad TOML": ("[targets.prod]\nbase_url = \"http://x\n", r"not valid TOML: .*line 2"),
    "missing file": (None, r"cannot be read: No such file or directory"),
    "no target": ("[defaults]\nbackups_min = 3\n", r"names no target: add a \[targets\.<name>\] table"),
    "misspelt table": ("[target.prod]\nbackups_min = 3\n[targets.staging]\n",
                       r"\[target\]: not a table of this file \(expected \[defaults\] and \[targets\.<name>\]\)"),
    "bad target name": ("[targets.\"prod server\"]\n", r"\[targets\.prod server\]: a target's name is letters"),
    "target not a table": ("[targets]\nprod = 3\n", r"targets\.prod: expected a table \[targets\.prod\]"),
    "timeout below 1 ms": ("[targets.prod]\nconnect_timeout_s = 0.0001\n",
                           r"\[targets\.prod\] connect_timeout_s = '0\.0001': 0\.0001 is below 1 ms, which the HTTP "
                           r"and Docker clients round to 0: no timeout at all"),
    "size without a unit": ("[defaults]\ncontainer_memory_max = 2\n[targets.prod]\n",
                            r"\[defaults\] container_memory_max = '2': 2 bytes\? write a unit, e\.g\. 2GiB"),
    "secret's bad value": ("[targets.prod]\nwebhook_url = \"not a url\"\n",
                           r"\[targets\.prod\] webhook_url = \*\*\*: expected an http:// or https:// URL"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_targets_file_stops_the_run_before_any_check_naming_file_table_and_key(tmp_path, case):
    """An invalid targets file: exit 4 (usage error) before any check runs, with one message naming the file and,
    where there is one, the table and the key; a secret's value is never echoed.

    Manual: Configuration Change (a setting is validated before it is used).
    """
    text, problem = INVALID[case]
    path = tmp_path / "targets.toml"
    if text is not None:
        path.write_text(text)
    run = run_pytest(REPO, ["-m", "daily"], {"DIGITALME_TARGETS": str(path)}, tmp_path / "reports", 120)
    output = run.stdout + run.stderr
    assert run.returncode == 4, f"{case}: expected exit 4 (usage error), got {run!r}"
    assert re.search(rf"ERROR: invalid DigitalMe targets file {re.escape(str(path))}:\n  {problem}", output), \
        f"{case}: expected the file and /{problem}/ in:\n{output}"
    assert output.count("ERROR:") == 1 and output.count("\n  ") == 1, f"{case}: not one message with one problem:\n{output}"
    assert "Traceback" not in output and not (tmp_path / "reports" / "latest.json").exists(), \
        f"{case}: checks ran or a traceback was shown:\n{output}"
    assert not re.search(r"\d+ (passed|failed|error)", output), f"{case}: checks ran:\n{output}"
    assert "not a url" not in output, f"{case}: a secret's value was echoed:\n{output}"


def test_several_hosts_without_a_targets_file_is_a_usage_error(tmp_path):
    """``--hosts=a,b`` without a targets file: one target has one host (its checks' ids name no host), so
    several hosts are refused with the way to check them (a targets file), exit 4, before any check; a password
    in a host's URL is not echoed.

    Manual: Resource Monitoring, on each host an operator runs.
    """
    run = run_pytest(REPO, ["-m", "daily", "--hosts=ssh://ops:s3cr3t@a.example,ssh://b.example"], {},
                     tmp_path / "reports", 120)
    output = run.stdout + run.stderr
    assert run.returncode == 4, f"expected exit 4 (usage error), got {run!r}"
    assert re.search(r"ERROR: --hosts names 2 hosts \(ssh://\*\*\*@a.example, ssh://b.example\): a run without a "
                     r"targets file checks one deployment on one host; for several, write a targets file", output), output
    assert "s3cr3t" not in output, output
    assert not (tmp_path / "reports" / "latest.json").exists(), f"checks ran:\n{output}"


def test_hosts_option_with_a_targets_file_is_a_usage_error(tmp_path):
    """``--hosts`` (one testinfra host for the whole run) beside a targets file (a host per target) is refused.

    Manual: Configuration Change.
    """
    path = write_targets(tmp_path, "[targets.prod]\n")
    run = run_pytest(REPO, ["-m", "daily", "--hosts=ssh://root@127.0.0.1:1"], {"DIGITALME_TARGETS": str(path)},
                     tmp_path / "reports", 120)
    output = run.stdout + run.stderr
    assert run.returncode == 4, f"expected exit 4 (usage error), got {run!r}"
    assert re.search(r"ERROR: --hosts does not apply with a targets file: set host = .* in each \[targets.<name>\] "
                     rf"of {re.escape(str(path))}", output), output
    assert not (tmp_path / "reports" / "latest.json").exists(), f"checks ran:\n{output}"
