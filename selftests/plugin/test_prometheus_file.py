"""The Prometheus file (plugins/prometheus.py): node_exporter's textfile of each run, its series keeping their
identity in base units, one per target in a fleet; never imported nor written without the setting, and a folder that
cannot be written is one line that changes nothing else. Parsed with ``prometheus_client``'s own parser."""

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families


def samples(path):
    """{(metric name, frozenset of labels): value} of a .prom file, read by prometheus_client's parser."""
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"{key} twice in {path}"
            found[key] = sample.value
    return found


def value(found, name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in found, f"no {name}{labels} among {sorted(k for k in found if k[0] == name)}"
    return found[key]


CHECKS = '''
import os

import pytest


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check, settings):
    """There are at least the minimum number of recent backups."""
    check.record(5, settings.backups_min)
    assert 5 >= settings.backups_min, f"5 recent backups < {settings.backups_min}"


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 2")
def test_health_answers_healthy(check):
    """/health answers Healthy."""
    check.record("Healthy", "Healthy")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 1")
def test_not_applicable(check):
    """Skips."""
    pytest.skip("not applicable here")


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 2")
def test_health_not_degraded(check):
    """/health is not Degraded (a Degraded answer lowers the finding to a warning); Degraded with MINI_DEGRADED."""
    degraded = os.environ.get("MINI_DEGRADED") == "1"
    check.record("Degraded" if degraded else "Healthy", "Healthy")
    if degraded:
        check.lower_to_warning()
    assert not degraded, "/health answered Degraded"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.parametrize("path", ["/health", "/info"])
@pytest.mark.manual("Health Check Endpoints Reference: /health")
def test_endpoint_answers_within_time(check, path):
    """Answers in time; /info does not answer (no response time)."""
    timings = {"connect_s": 0.002, "total_s": 0.25} if path == "/health" else {"connect_s": None, "total_s": None}
    check.record(timings, 1.0, unit="s")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 1")
def test_resources_in_base_units(check):
    """Records a size, percentages (a key naming its own unit: hours) and a plain count."""
    check.record({"/": 41.5, "age_h": 2}, 80, unit="pct")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Key Performance Metrics: Database Performance")
def test_database_size(check):
    """Records bytes."""
    check.record(3 * 1024**2, 500 * 1024**2, unit="bytes")
'''
IMPORTED = '''
import sys


def pytest_unconfigure(config):
    with open(config.rootpath / "imported.txt", "w") as f:
        f.write(str("prometheus_client" in sys.modules))
'''
TWO_TARGETS = '''
[targets.prod]
[targets.staging]
backups_min = 99
'''


@pytest.fixture
def mini(mini_project, tmp_path):
    """run(**env) of a mini project with a passing, a failing (backups_min = 99) and a skipped check."""
    run_pytest = mini_project(CHECKS, conftest_extra=IMPORTED)
    (tmp_path / "targets.toml").write_text(TWO_TARGETS)

    def run(**env):
        return run_pytest("-m", "daily", env={"DIGITALME_ALERTS": "off", **env})
    return run


BACKUPS = "tests_mini/test_checks.py::test_enough_recent_backups"
HEALTH = "tests_mini/test_checks.py::test_health_answers_healthy"


def test_prometheus_file_of_a_single_target_run(mini, tmp_path):
    """One target: success 1 for the passing check and 0 for the failing one at its severity, the failing one's
    value, the run's status (warning: 1), timestamp and duration; target empty; a skipped check has no series."""
    (tmp_path / "prom").mkdir()  # node_exporter's folder: it exists (a missing one is not made: a typo would hide)
    started = time.time()
    run = mini(DIGITALME_PROMETHEUS_DIR=str(tmp_path / "prom"), DIGITALME_BACKUPS_MIN="99")
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    path = tmp_path / "prom" / "digitalme_daily.prom"
    found = samples(path)
    labels = {"target": "", "selection": "daily"}
    assert value(found, "digitalme_check_success", check=HEALTH, severity="critical", **labels) == 1
    assert value(found, "digitalme_check_success", check=BACKUPS, severity="warning", **labels) == 0
    assert value(found, "digitalme_check_value", check=BACKUPS, measure="", **labels) == 5
    assert not [k for k in found if dict(k[1]).get("check", "").endswith("test_not_applicable")], found
    assert not [k for k in found if k[0].startswith("digitalme_check_value") and dict(k[1])["check"] == HEALTH], found
    assert value(found, "digitalme_run_status", selection="daily") == 1
    assert value(found, "digitalme_target_status", **labels) == 1
    assert started <= value(found, "digitalme_run_timestamp_seconds", selection="daily") <= time.time()
    assert 0 < value(found, "digitalme_run_duration_seconds", selection="daily") < time.time() - started
    assert sorted(p.name for p in path.parent.iterdir()) == ["digitalme_daily.prom"], "a temporary file was left"
    assert (tmp_path / "imported.txt").read_text() == "True"

    run = mini(DIGITALME_PROMETHEUS_DIR=str(tmp_path / "prom"))  # all passing now: the file is replaced
    assert run.returncode == 0, run
    found = samples(path)
    assert value(found, "digitalme_check_success", check=BACKUPS, severity="warning", **labels) == 1
    assert value(found, "digitalme_run_status", selection="daily") == 0
    assert value(found, "digitalme_target_status", **labels) == 0


def test_prometheus_series_keep_their_identity_and_use_base_units(mini, tmp_path):
    """A check lowered from critical to warning (a Degraded /health) keeps its series, ``severity="critical"``
    (the declared one), and says the applied one in ``digitalme_check_applied_severity`` (1 warning, 2 critical);
    recorded numbers are in base units by their unit (seconds, bytes, a ratio for a percent, a dict's entry by
    its key's own unit); the endpoint's response time is ``digitalme_endpoint_response_seconds``, none for an
    endpoint that did not answer; every metric name is as Prometheus' conventions want it."""
    (tmp_path / "prom").mkdir()
    path = tmp_path / "prom" / "digitalme_daily.prom"
    labels = {"target": "", "selection": "daily"}
    degraded = "tests_mini/test_checks.py::test_health_not_degraded"
    series = {}
    for flag in ("1", "0"):  # Degraded (lowered, failing), then Healthy (passing)
        run = mini(DIGITALME_PROMETHEUS_DIR=str(tmp_path / "prom"), MINI_DEGRADED=flag)
        assert "Traceback" not in run.stdout + run.stderr, run
        assert run.check("test_health_not_degraded")["severity"] == ("warning" if flag == "1" else "critical")
        found = samples(path)
        series[flag] = {k for k in found if dict(k[1]).get("check") == degraded}
        assert value(found, "digitalme_check_success", check=degraded, severity="critical", **labels) == (
            0 if flag == "1" else 1)
        assert value(found, "digitalme_check_applied_severity", check=degraded, **labels) == (1 if flag == "1" else 2)
    assert series["1"] == series["0"], f"the lowered check's series changed: {series['1'] ^ series['0']}"

    found = samples(path)
    resources, database = (f"tests_mini/test_checks.py::{name}" for name in ("test_resources_in_base_units",
                                                                             "test_database_size"))
    assert value(found, "digitalme_check_value_ratio", check=resources, measure="/", **labels) == 0.415
    assert value(found, "digitalme_check_value_seconds", check=resources, measure="age_h", **labels) == 7200
    assert value(found, "digitalme_check_value_bytes", check=database, measure="", **labels) == 3 * 1024**2
    timing = "tests_mini/test_checks.py::test_endpoint_answers_within_time[/health]"
    assert value(found, "digitalme_check_value_seconds", check=timing, measure="total_s", **labels) == 0.25
    assert value(found, "digitalme_endpoint_response_seconds", endpoint="/health", **labels) == 0.25
    assert not [k for k in found if k[0] == "digitalme_endpoint_response_seconds"
                and dict(k[1])["endpoint"] == "/info"], "an endpoint that did not answer has a response time"
    names = {k[0] for k in found}
    assert names == {"digitalme_check_success", "digitalme_check_applied_severity", "digitalme_check_value",
                     "digitalme_check_value_seconds", "digitalme_check_value_ratio", "digitalme_check_value_bytes",
                     "digitalme_endpoint_response_seconds", "digitalme_target_status", "digitalme_run_status",
                     "digitalme_run_timestamp_seconds", "digitalme_run_duration_seconds"}, names
    assert all(re.fullmatch(r"digitalme_[a-z_]+", name) and not re.search(r"_(ms|pct|percent|h|days)$", name)
               for name in names), names


def test_prometheus_file_of_a_two_target_run(mini, tmp_path):
    """Two targets (staging with backups_min = 99): each check's series per target, the target label its name and
    the check label without it, as a single-target run names it; each target's status; the run's status is the
    worst (warning)."""
    (tmp_path / "prom").mkdir()
    run = mini(DIGITALME_PROMETHEUS_DIR=str(tmp_path / "prom"), DIGITALME_TARGETS=str(tmp_path / "targets.toml"))
    assert run.returncode == 1 and "Traceback" not in run.stdout, run
    found = samples(tmp_path / "prom" / "digitalme_daily.prom")
    for target, backups, status in (("prod", 1, 0), ("staging", 0, 1)):
        labels = {"target": target, "selection": "daily"}
        assert value(found, "digitalme_check_success", check=HEALTH, severity="critical", **labels) == 1
        assert value(found, "digitalme_check_success", check=BACKUPS, severity="warning", **labels) == backups
        assert value(found, "digitalme_check_value", check=BACKUPS, measure="", **labels) == 5
        assert value(found, "digitalme_endpoint_response_seconds", endpoint="/health", **labels) == 0.25
        assert value(found, "digitalme_target_status", **labels) == status
    assert len([k for k in found if k[0] == "digitalme_check_success"]) == 2 * 7, found
    assert value(found, "digitalme_run_status", selection="daily") == 1
    single = {(k[0], frozenset((n, v) for n, v in k[1] if n != "target")) for k in samples_of_single(mini, tmp_path)}
    fleet = {(k[0], frozenset((n, v) for n, v in k[1] if n != "target")) for k in found}
    assert single == fleet, f"series differ between single and fleet mode beyond the target: {single ^ fleet}"


def samples_of_single(mini, tmp_path):
    """The series of the same checks run without a targets file (staging's backups_min), to compare names."""
    (tmp_path / "prom-single").mkdir()
    run = mini(DIGITALME_PROMETHEUS_DIR=str(tmp_path / "prom-single"), DIGITALME_BACKUPS_MIN="99")
    assert run.returncode == 1, run
    return samples(tmp_path / "prom-single" / "digitalme_daily.prom")


def test_prometheus_is_not_imported_and_nothing_written_without_the_setting(mini, tmp_path):
    """Start-up cost: without DIGITALME_PROMETHEUS_DIR, prometheus_client is never imported."""
    run = mini()
    assert run.returncode == 0, run
    assert (tmp_path / "imported.txt").read_text() == "False"
    assert not list(tmp_path.rglob("*.prom"))


@pytest.mark.parametrize("where", ["missing", "a file"])
def test_prometheus_folder_that_cannot_be_written_is_one_line_and_changes_nothing_else(mini, tmp_path, where):
    """A folder that cannot be written: one line naming it, no traceback, the exit code, results file and record
    as without the setting."""
    folder = tmp_path / "no-such-folder"
    if where == "a file":
        folder = tmp_path / "a-file"
        folder.write_text("not a folder")
    run = mini(DIGITALME_PROMETHEUS_DIR=str(folder), DIGITALME_BACKUPS_MIN="99")
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr, run
    lines = [line for line in run.stdout.splitlines() if "Prometheus" in line]
    assert lines == [f"DigitalMe: Prometheus file not written: {folder} cannot be written "
                     f"({'No such file or directory' if where == 'missing' else 'Not a directory'}); the run's other "
                     f"outputs are unaffected"], lines
    assert run.results["status"] == "warning" and (run.report_dir / "latest.html").exists(), run
    assert re.search(r"^DigitalMe: WARNING - 1 failed of \d+ checks \(1 warning\)", run.stdout, re.MULTILINE), run


def test_a_run_in_which_no_check_ran_writes_no_prometheus_file(mini_project, tmp_path):
    """`-m` matching nothing (a schedule with no check in this project) leaves the file as it was: its timestamp
    goes stale, as for a run that never happened, instead of a fresh "ok"; one line says why."""
    (tmp_path / "prom").mkdir()
    run = mini_project(CHECKS)("-m", "monthly", env={"DIGITALME_ALERTS": "off",
                                                   "DIGITALME_PROMETHEUS_DIR": str(tmp_path / "prom")})
    assert run.returncode == 5 and "Traceback" not in run.stdout, run
    assert not list((tmp_path / "prom").iterdir())
    assert "DigitalMe: Prometheus file not written: no check ran (selection 'monthly')" in run.stdout, run
