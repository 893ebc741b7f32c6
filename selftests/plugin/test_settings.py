"""plugins/configuration/settings.py: one place, validated once, precedence option > environment > pytest.ini > default."""

from pathlib import Path

import pytest

from conftest import REPO

CHECK_RECORDING_DISK_MAX = """
    import pytest

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk_threshold(settings, check):
        check.record(settings.disk_max_pct, None)
"""


def test_invalid_setting_stops_the_run_before_any_check_naming_it(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)("-m", "daily", env={"DIGITALME_DISK_MAX_PCT": "abc"})
    assert run.returncode == 4, run
    assert "DIGITALME_DISK_MAX_PCT='abc' (from environment DIGITALME_DISK_MAX_PCT): expected a number" in run.stderr
    assert not run.report_dir.exists(), "no check may run, and no record be written, with an invalid setting"


def test_out_of_range_setting_is_a_usage_error(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={"DIGITALME_DISK_MAX_PCT": "150"})
    assert run.returncode == 4
    assert "DIGITALME_DISK_MAX_PCT='150'" in run.stderr and "<= 100" in run.stderr


def test_every_bad_setting_is_reported_together(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={
        "DIGITALME_MEMORY_MAX_PCT": "-1", "DIGITALME_BASE_URL": "localhost", "DIGITALME_CONTAINER_MEMORY_MAX": "lots"})
    assert run.returncode == 4
    for name in ("DIGITALME_MEMORY_MAX_PCT", "DIGITALME_BASE_URL", "DIGITALME_CONTAINER_MEMORY_MAX"):
        assert name in run.stderr


def test_a_bad_secret_is_named_but_never_shown(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={"DIGITALME_WEBHOOK_URL": "token-s3cr3t-value"})
    assert run.returncode == 4
    assert "DIGITALME_WEBHOOK_URL=***" in run.stderr and "s3cr3t" not in run.stderr + run.stdout


@pytest.mark.parametrize("name, value", [
    ("DIGITALME_WEBHOOK_URL", "https://hooks.example.com/services/T0 s3cr3t-part"),
    ("DIGITALME_WEBHOOK_URL_CRITICAL", "https://hooks.example.com/services/s3cr3t-part\n"),
    ("DIGITALME_HEARTBEAT_URL", "https://hc-ping.example.com/s3cr3t-part\t/x"),
])
def test_a_secret_url_with_whitespace_is_refused_masked(mini_project, name, value):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={name: value, "DIGITALME_ALERTS": "off"})
    assert run.returncode == 4, run
    assert f"{name}=*** (from environment {name}): " in run.stderr and "without whitespace" in run.stderr, run
    assert "s3cr3t" not in run.stderr + run.stdout and "hooks.example" not in run.stderr + run.stdout


@pytest.mark.parametrize("value", ["https://hc.example.com:s3cr3t-part/ping", "https://hc.example.com:99999/s3cr3t"])
def test_a_heartbeat_url_with_a_bad_port_is_refused_without_quoting_it(mini_project, value):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={"DIGITALME_HEARTBEAT_URL": value, "DIGITALME_ALERTS": "off"})
    assert run.returncode == 4, run
    assert "DIGITALME_HEARTBEAT_URL=*** (from environment DIGITALME_HEARTBEAT_URL): expected an http" in run.stderr
    assert "s3cr3t" not in run.stderr + run.stdout, "the refusal quoted part of the secret URL"


def _number_settings():
    from plugins.configuration.settings import DECLARED
    return [s.env for s in DECLARED if s.parse.__qualname__.startswith("number.")]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_nan_and_infinity_are_refused_by_every_number_setting(mini_project, value):
    """nan passes every comparison with a limit, so each number setting says it needs a finite number."""
    names = _number_settings()
    assert len(names) >= 20, names  # the thresholds, timeouts and counts
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env=dict.fromkeys(names, value))
    assert run.returncode == 4, run
    not_refused = [n for n in names if not any(f"{n}={value!r} (from environment {n}): expected a {kind}" in run.stderr
                                               for kind in ("finite number", "whole number"))]
    assert not not_refused, f"{value} not refused as not finite by {not_refused}: {run.stderr}"


NAMES_THAT_MUST_BE_GIVEN = ("DIGITALME_COMPOSE_FILE", "DIGITALME_COMPOSE_PROJECT", "DIGITALME_CONTAINER",
                            "DIGITALME_DB_PATH", "DIGITALME_BACKUP_DIR", "DIGITALME_REPORT_DIR")


def test_empty_names_are_refused_and_optional_ones_accepted(mini_project, tmp_path):
    optional = {"DIGITALME_ENV_FILE": "", "DIGITALME_HTTPS_URL": "", "DIGITALME_WEBHOOK_URL": "",
                "DIGITALME_HEARTBEAT_URL": " ", "DIGITALME_WEBHOOK_SECRET": ""}
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={**dict.fromkeys(NAMES_THAT_MUST_BE_GIVEN, " "), **optional},
                                                report_dir=tmp_path / "unused")
    assert run.returncode == 4, run
    refused = [n for n in NAMES_THAT_MUST_BE_GIVEN if f"{n}=' ' (from environment {n}): must not be empty" in run.stderr]
    assert refused == list(NAMES_THAT_MUST_BE_GIVEN), run.stderr
    assert not [n for n in optional if n in run.stderr], f"an optional setting was refused empty: {run.stderr}"


def test_certificate_critical_days_may_not_exceed_warning_days(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={"DIGITALME_CERT_CRIT_DAYS": "40"})
    assert run.returncode == 4 and "must not exceed DIGITALME_CERT_WARN_DAYS=30" in run.stderr


@pytest.mark.parametrize("ini, env, option, expected", [
    (None, None, None, 80.0),  # the manual's default
    ("70", None, None, 70.0),
    ("70", "60", None, 60.0),
    ("70", "60", "50", 50.0),
])
def test_precedence_option_over_environment_over_ini_over_default(mini_project, tmp_path, ini, env, option, expected):
    run_in = mini_project(CHECK_RECORDING_DISK_MAX)
    if ini:
        with open(tmp_path / "pytest.ini", "a") as f:
            f.write(f"digitalme_disk_max_pct = {ini}\n")
    args = [f"--digitalme-disk-max-pct={option}"] if option else []
    run = run_in(*args, env={"DIGITALME_DISK_MAX_PCT": env} if env else {})
    assert run.returncode == 0, run
    assert run.check("test_disk_threshold")["value"] == expected


def test_results_file_shows_settings_but_masks_secrets(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={
        "DIGITALME_WEBHOOK_URL": "http://127.0.0.1:9/hook/tok3n-abcdef", "DIGITALME_ALERTS": "off",
        "DIGITALME_BASE_URL": "http://ops:pa55word@127.0.0.1:8080"})
    target = run.results["target"]
    assert target["webhook_url"] == "***" and target["base_url"] == "http://***@127.0.0.1:8080"
    text = (run.report_dir / "latest.json").read_text()
    assert "tok3n-abcdef" not in text and "pa55word" not in text


def test_the_settings_reference_page_is_the_declarations_byte_for_byte():
    """docs/reference/settings.md is what scripts/docs_reference.py makes of DECLARED now: every name, variable,
    option, default, unit, per-target flag and help text, byte for byte."""
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    from docs_reference import PAGES, settings_page, stale
    diff = stale(PAGES[0], settings_page())
    assert not diff, (f"{PAGES[0]} differs from plugins/configuration/settings.py: regenerate it with "
                      f"`make reference` (scripts/docs_reference.py) and commit it\n{diff}")


# --- no silent misconfiguration: a name that is no setting, a value that cannot mean what was typed -------------

def assert_refused_before_any_check(run, *expected):
    """Exit 4, one usage error naming every expected problem, no check run, no record written, no traceback."""
    output = run.stdout + run.stderr
    assert run.returncode == 4, run
    assert output.count("ERROR: invalid DigitalMe setting") == 1, output
    missing = [text for text in expected if text not in run.stderr]
    assert not missing, f"missing {missing} in:\n{run.stderr}"
    assert "Traceback" not in output and not run.report_dir.exists(), f"a check ran or a traceback was shown: {run!r}"


def test_a_misspelt_variable_stops_the_run_with_a_did_you_mean_and_never_its_value(mini_project):
    """The issue's case: a misspelt critical webhook ran a clean day, exit 0, and left the first failure unrouted."""
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={
        "DIGITALME_WEBHOOK_URL_CRITCAL": "https://hooks.example.com/services/s3cr3t-token", "DIGITALME_ALERTS": "off"})
    assert_refused_before_any_check(run, "DIGITALME_WEBHOOK_URL_CRITCAL is not a setting; did you mean "
                                         "DIGITALME_WEBHOOK_URL_CRITICAL? (from environment)")
    assert "s3cr3t" not in run.stdout + run.stderr and "hooks.example" not in run.stdout + run.stderr


@pytest.mark.parametrize("name, meant", [
    ("digitalme_disk_max_pct", "DIGITALME_DISK_MAX_PCT"),  # lower case: the environment file's author meant it
    ("DIGITALME_CONNECT_TIMEOUT", "DIGITALME_CONNECT_TIMEOUT_S"),
    ("DIGITALME_REPORT_FOLDER", "DIGITALME_REPORT_DIR"),
])
def test_a_variable_naming_no_setting_is_refused_with_the_setting_it_likely_means(mini_project, name, meant):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={name: "70"})
    assert_refused_before_any_check(run, f"{name} is not a setting; did you mean {meant}? (from environment)")


def test_a_variable_like_no_setting_is_refused_pointing_at_the_list(mini_project):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={"DIGITALME_PAGER_TOKEN": "x"})
    assert_refused_before_any_check(run, "DIGITALME_PAGER_TOKEN is not a setting; docs/reference/settings.md "
                                         "lists them all (from environment)")


def test_misspelt_ini_keys_are_errors_listed_with_every_other_problem(mini_project, tmp_path):
    """pytest only warns of an unknown ini key; a digitalme_ one is refused like a variable, in the same message
    as the environment's problems and the bad values (from the file, or from -o)."""
    run_in = mini_project(CHECK_RECORDING_DISK_MAX)
    with open(tmp_path / "pytest.ini", "a") as f:
        f.write("digitalme_disk_max_pc = 70\nDIGITALME_WEBHOOK_URL = https://hooks.example.com/s3cr3t\n")
    run = run_in("-o", "digitalme_alert=off", env={"DIGITALME_BACKUPS_MINIMUM": "3", "DIGITALME_DISK_MAX_PCT": "abc"})
    ini = tmp_path / "pytest.ini"
    assert_refused_before_any_check(
        run, "invalid DigitalMe settings:",
        "DIGITALME_DISK_MAX_PCT='abc' (from environment DIGITALME_DISK_MAX_PCT): expected a number",
        "DIGITALME_BACKUPS_MINIMUM is not a setting; did you mean DIGITALME_BACKUPS_MIN? (from environment)",
        f"digitalme_disk_max_pc is not a setting; did you mean digitalme_disk_max_pct? (from {ini})",
        f"DIGITALME_WEBHOOK_URL is not a setting; did you mean digitalme_webhook_url? (from {ini})",
        "digitalme_alert is not a setting; did you mean digitalme_alerts? (from option -o)")
    assert "s3cr3t" not in run.stdout + run.stderr


@pytest.mark.parametrize("name", ["DIGITALME_CONNECT_TIMEOUT_S", "DIGITALME_READ_TIMEOUT_S",
                                  "DIGITALME_DOCKER_TIMEOUT_S"])
@pytest.mark.parametrize("value", ["0.0001", "0.0009", "0"])
def test_a_timeout_below_a_millisecond_is_refused_not_rounded_to_none(mini_project, name, value):
    """libcurl counts timeouts in whole milliseconds and takes 0 for "no timeout": 0.0001 s waited forever."""
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={name: value})
    assert_refused_before_any_check(run, f"{name}='{value}' (from environment {name}): {value} is below 1 ms, which "
                                         f"the HTTP and Docker clients round to 0: no timeout at all")


CHECK_RECORDING_SETTINGS = """
    import pytest

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_settings_as_resolved(settings, check):
        check.record({"timeout": settings.connect_timeout_s, "memory": settings.container_memory_max,
                      "window": str(settings.maintenance_window)}, None)
"""


def test_a_millisecond_timeout_and_sizes_with_a_unit_are_accepted(mini_project):
    run = mini_project(CHECK_RECORDING_SETTINGS)(env={
        "DIGITALME_CONNECT_TIMEOUT_S": "0.001", "DIGITALME_CONTAINER_MEMORY_MAX": "2Gi",
        "DIGITALME_MAINTENANCE_WINDOW": "Sunday 22:00-24:00 UTC"})
    assert run.returncode == 0, run
    assert run.check("test_settings_as_resolved")["value"] == {
        "timeout": 0.001, "memory": 2 * 1024**3, "window": "Sun 22:00-24:00 UTC"}


@pytest.mark.parametrize("name", ["DIGITALME_CONTAINER_MEMORY_MAX", "DIGITALME_DB_SIZE_MAX",
                                  "DIGITALME_DOCKER_RECLAIMABLE_MAX"])
def test_a_size_without_a_unit_is_refused_not_taken_as_bytes(mini_project, name):
    """DIGITALME_CONTAINER_MEMORY_MAX=2 meant 2 bytes: every run failed the container's memory, for no reason."""
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={name: "2"})
    assert_refused_before_any_check(run, f"{name}='2' (from environment {name}): 2 bytes? write a unit, e.g. 2GiB")


@pytest.mark.parametrize("value, problem", [
    ("Sun 02:00-04:00 CET", "the window is in UTC: write its times in UTC, without 'CET'"),
    ("Sundae 02:00-04:00", "expected 'off' or a weekly window such as 'Sun 02:00-04:00' (UTC)"),
    ("Sat 23:00-01:00", "the window must end after it starts (within one day, UTC)"),
])
def test_a_maintenance_window_that_cannot_mean_what_was_typed_is_refused(mini_project, value, problem):
    """A zone other than UTC was ignored (the window hours off) and any word starting with a day's letters was
    that day; a window across midnight is two windows, and says so."""
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={"DIGITALME_MAINTENANCE_WINDOW": value})
    assert_refused_before_any_check(run, f"DIGITALME_MAINTENANCE_WINDOW={value!r} (from environment "
                                         f"DIGITALME_MAINTENANCE_WINDOW): {problem}")


@pytest.mark.parametrize("name, value, problem", [
    ("DIGITALME_REPORT_THIN", "monitr", "monitr is not a selection; did you mean monitor?"),
    ("DIGITALME_REPORT_RETENTION_BY_SELECTION", "monitor:90,resourses:180",
     "resourses is not a selection; did you mean resources?"),
])
def test_a_misspelt_selection_is_refused_not_silently_never_matched(mini_project, name, value, problem):
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={name: value})
    assert_refused_before_any_check(run, f"{name}={value!r} (from environment {name}): {problem}")


# Every DIGITALME_* name the project's files use that is no setting, and why it is not refused as one of them.
NOT_SETTINGS = {
    "DIGITALME_DB": "sandbox/app.py's own database path, read by the stand-in app inside its container, set by "
                    "nothing; in the checker's environment it is refused (did the operator mean DIGITALME_DB_PATH?)",
    "DIGITALME_ALERT_AFTER_": "plugins/outputs/alerting/plan.py's message names DIGITALME_ALERT_AFTER_<SEVERITY>",
    "DIGITALME_WEBHOOK_URL_CRITCAL": "the docs' example of a refused typo (docs/configuration.md, upgrading.md)",
    "DIGITALME_PAGER_TOKEN": "docs/troubleshooting.md's example of a name like no setting, refused pointing at the list",
}
TEXT_SUFFIXES = ("", ".md", ".py", ".ini", ".in", ".yml", ".yaml", ".sh", ".service", ".timer", ".toml", ".txt",
                 ".cfg", ".json", ".html", ".j2")
PROJECT_FILES = ("README.md", "docs", "Makefile", "conftest.py", "pytest.ini", "ci-templates", "scripts", "sandbox",
                 "selftests", "plugins", "tests_health", "tests_backup", "tests_security", "tests_resources")


def names_used_by_the_project():
    """{DIGITALME_* name: the first file using it} over the scripts, Makefile, CI templates, systemd units and
    crontab, selftests, sandbox, README and docs, plugins and checks (this file's deliberate typos left out)."""
    import re
    found = {}
    for top in PROJECT_FILES:
        paths = [REPO / top] if (REPO / top).is_file() else sorted((REPO / top).rglob("*"))
        for path in paths:
            if path.is_file() and path.suffix in TEXT_SUFFIXES and path.resolve() != Path(__file__).resolve():
                for name in re.findall(r"DIGITALME_[A-Z0-9_]+", path.read_text(errors="replace")):
                    found.setdefault(name, str(path.relative_to(REPO)))
    return found


def test_every_variable_the_project_uses_is_a_setting_or_known_not_to_be_one():
    from plugins.configuration.settings import DECLARED
    used = names_used_by_the_project()
    assert "DIGITALME_WEBHOOK_URL_CRITICAL" in used and "DIGITALME_REPORT_DIR" in used, used  # the scan reads them
    unexplained = {name: path for name, path in used.items()
                   if name not in {s.env for s in DECLARED} and name not in NOT_SETTINGS}
    assert not unexplained, f"named by the project but neither a setting nor in NOT_SETTINGS (the run would refuse " \
                            f"them): {unexplained}"


def test_every_setting_the_project_sets_still_runs(mini_project):
    """The names the scripts, CI template, sandbox and selftests set, each at its default value: a clean run."""
    from plugins.configuration.settings import BY_NAME
    used = [name for name in names_used_by_the_project() if name not in NOT_SETTINGS]
    env = {name: BY_NAME[name.removeprefix("DIGITALME_").lower()].default for name in used}
    run = mini_project(CHECK_RECORDING_DISK_MAX)(env={**env, "DIGITALME_ALERTS": "off"})
    assert run.returncode == 0, run
    assert run.check("test_disk_threshold")["outcome"] == "passed"
