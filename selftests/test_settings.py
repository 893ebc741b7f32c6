"""plugins/settings.py: one place, validated once, precedence option > environment > pytest.ini > default."""

import pytest

from conftest import REPO

CHECK_RECORDING_DISK_MAX = """
    import pytest

    @pytest.mark.warning
    @pytest.mark.daily
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
    from plugins.settings import DECLARED
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


def test_readme_documents_every_setting():
    import sys
    sys.path.insert(0, str(REPO))
    from plugins.settings import DECLARED
    readme = (REPO / "README.md").read_text()
    missing = [s.env for s in DECLARED if f"`{s.env}`" not in readme]
    assert not missing, f"README's settings table lacks {missing}: regenerate it with scripts/settings_table.py"
