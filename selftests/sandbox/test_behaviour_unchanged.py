"""Behaviour unchanged (issue 24, a refactor): the exit code, the results file, the record, the alerts as a
webhook receives them, the history line and the terminal's last lines of a daily, a fleet and a failing run are
the same as the suite made before its plugins were restructured.

Each scenario's outputs are normalised (see ``Normaliser``: times, durations, hashes, ports, temporary paths and
values measured at the moment become placeholders; structure, ids, outcomes, severities and messages stay) and
compared with its snapshot in ``snapshots/behaviour/<scenario>.json`` (kept beside this file: move them
together). The committed snapshots were made from commit 552d075, the code before the restructuring. A run that
differs fails with a diff of each differing part.

The suite is driven only from the outside (subprocess runs through the ``mini_project`` and ``suite`` fixtures,
webhooks on a receiver on 127.0.0.1): nothing here imports a plugin module, so it keeps working while the modules
move. Regenerate the snapshots, only for a change of behaviour that is meant, with ``cd selftests &&
UPDATE_SNAPSHOTS=1 ../.venv/bin/pytest -q sandbox/test_behaviour_unchanged.py`` and commit them with it.
"""

import datetime as dt
import json
import textwrap
import time
from pathlib import Path

import pytest

from behaviour_capture import Normaliser, Receiver, assert_as_before, capture

SECRET = "behaviour-signing-secret-0123"


@pytest.fixture
def receiver():
    server = Receiver(SECRET)
    yield server
    server.stop()


def alerting_env(receiver, **extra):
    """Alerts on, to the receiver (warnings to their own route), signed, with a heartbeat; never held."""
    return {"COLUMNS": "80",  # pytest's terminal width: its summary lines are cut to it
            "DIGITALME_ALERTS": "on", "DIGITALME_MAINTENANCE_WINDOW": "off",
            "DIGITALME_WEBHOOK_URL": receiver.url("/hook/all"),
            "DIGITALME_WEBHOOK_URL_WARNING": receiver.url("/hook/warning"),
            "DIGITALME_WEBHOOK_SECRET": SECRET, "DIGITALME_HEARTBEAT_URL": receiver.url("/ping"),
            "DIGITALME_ALERT_BUDGET_S": "10", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", **extra}


def next_second():
    """Wait for the next UTC second: two runs never share a stamp (the second would be named ``..._2``)."""
    now = int(time.time())
    while int(time.time()) == now:
        time.sleep(0.02)


# --- the failing run: a mini project of marked checks, run twice into one report folder -----------------------------
# The second run finds the same critical failure again (a streak of 2, its alert not repeated), the warning passing
# (resolved) and a new warning (/health Degraded); both runs have an error, a skip, a waived failure and a secret.
# At 552d075 that secret was masked in the results, record and alerts, but pytest's own failure lines in the terminal
# showed it (README "Alerts" says it never appears there). The one change to the snapshots since: those two terminal
# lines now read "***" (plugins/outcomes/build.py scrubs the message pytest prints of the settings' secrets).

FAILING = '''
    import os

    import pytest

    SECOND = os.environ.get("BEHAVIOUR_RUN") == "2"


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(check):
        """Disk use below 80 %."""
        check.record({"/": 91.5, "/data": 12.0}, 80, unit="pct", trend="disk-use", trend_title="Disk use",
                     trend_of=max)
        check.attach("df -P", "Filesystem 1024-blocks Used Capacity Mounted on\\n/dev/vda 1000 915 91% /")
        assert False, "/ is 91.5 % used (required: below 80 %)"


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Memory Usage")
    def test_memory(check):
        """Memory use below 85 %."""
        used = 40.0 if SECOND else 90.2
        check.record(used, 85, unit="pct")
        assert used < 85, f"memory is {used:g} % used (required: below 85 %)"


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 2")
    def test_health(check):
        """/health answers 200 "Healthy" ("Degraded" is a warning)."""
        answer = "Degraded" if SECOND else "Healthy"
        check.record({"status": 200, "body": answer}, "200 Healthy")
        if answer == "Degraded":
            check.lower_to_warning()
        assert answer == "Healthy", f"/health answered 200 {answer!r} (required: 200 Healthy)"


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 5")
    def test_enough_recent_backups(check):
        """At least 3 backups within 7 days."""
        check.record(4, 3, trend="recent-backups", trend_title="Recent backups")


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Key Performance Metrics: Database Performance")
    def test_database_size(check):
        """The database is below 1.0 GiB."""
        check.record(12 * 1024**2, 1024**3, unit="bytes", trend="database-size", trend_title="Database size")


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 2")
    def test_response_time(check):
        """/health answers within 1 s."""
        check.record({"connect_s": 0.0004, "first_byte_s": 0.021, "total_s": 0.0253}, 1.0, unit="s",
                     trend="health-response-time", trend_title="/health response time", trend_of="total_s")


    @pytest.fixture
    def docker_answer():
        raise ConnectionError("the Docker daemon did not answer (connection refused)")


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_containers_running(docker_answer):
        """Every declared service has a running container."""


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 4")
    def test_certificate_name():
        """The certificate names the host users reach."""
        pytest.skip("the HTTPS URL's host 127.0.0.1 is localhost (a loopback name): not judged from here")


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Troubleshooting Guide: Log patterns")
    def test_errors_in_logs(check):
        """At most 10 error entries in the last day."""
        check.record(12, 10)
        assert False, "12 error entries in the last day (required: at most 10)"


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Troubleshooting Guide: Log patterns")
    def test_answer_leaks(check):
        """No answer carries a credential."""
        assert False, ("/info answers " + os.environ["DIGITALME_WEBHOOK_SECRET"] + " in its body "
                       "(required: no credential)")
'''

WAIVERS = '''
    [[waiver]]
    check = "tests_mini/test_checks.py::test_errors_in_logs"
    reason = "a noisy client is being fixed"
    owner = "ops@example.com"
    expires = {expires}
    message = '^12 error entries'
'''


def waivers(folder):
    expires = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)
    path = folder / "waivers.toml"
    path.write_text(textwrap.dedent(WAIVERS.format(expires=expires.isoformat())))
    return path


def test_a_failing_run_is_as_before(mini_project, receiver, tmp_path):
    """Two failing runs into one report folder: exit codes, results, alerts and heartbeat as received, record,
    history line, Prometheus file and terminal lines as before."""
    run = mini_project(FAILING)
    env = alerting_env(receiver, DIGITALME_WAIVERS=str(waivers(tmp_path)), DIGITALME_PROMETHEUS_DIR=str(tmp_path))
    norm = Normaliser({tmp_path / "reports": "<reports>", tmp_path: "<project>", **receiver.literals})
    captured, starts = {}, []
    for n in (1, 2):
        done = run("-m", "daily", env={**env, "BEHAVIOUR_RUN": str(n)})
        starts.append(json.loads((done.report_dir / "latest.json").read_text())["started_at"])
        captured[f"run {n}"] = capture(done, norm, receiver.take(), starts, prometheus=tmp_path)
        next_second()
    assert_as_before("failing", captured)


# --- the fleet run: a mini project, two targets, staging failing and alerting to its own webhook -------------------

FLEET = '''
    import pytest


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 5")
    def test_enough_recent_backups(check, settings):
        """At least {backups_min} backups within {backup_window_days} days."""
        check.record(5, settings.backups_min, trend="recent-backups", trend_title="Recent backups")
        assert 5 >= settings.backups_min, (
            f"5 backup(s) in the last {settings.backup_window_days:g} days (required: at least {settings.backups_min})")


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Key Performance Metrics: Database Performance")
    def test_database_size_below_limit(check, settings):
        """The database is below {db_size_max}."""
        check.record(12 * 1024**2, settings.db_size_max, unit="bytes", trend="database-size",
                     trend_title="Database size")
        assert 12 * 1024**2 < settings.db_size_max, (
            f"the database takes 12.0 MiB (required: below {settings.db_size_max} bytes)")


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.parametrize("endpoint", ["/health", "/info"])
    @pytest.mark.manual("Morning Health Check 2")
    def test_endpoint_answers(check, endpoint):
        """The endpoint answers 200."""
        check.record(200, 200)
'''

TARGETS = '''
    [defaults]
    backup_window_days = 7
    [targets.prod]
    base_url = "http://127.0.0.1:9"
    [targets.staging]
    base_url = "http://127.0.0.1:9"
    backups_min = 99
    backup_window_days = 2.5
    db_size_max = "10MiB"
    webhook_url = "{staging_hook}"
'''


def test_a_fleet_run_is_as_before(mini_project, receiver, tmp_path):
    """One run of two targets (staging failing a critical check, alerted on its own webhook, and a warning, on the
    run's warning route): exit code, results, alerts as received, record, history line, Prometheus file and
    terminal lines as before."""
    run = mini_project(FLEET)
    targets = tmp_path / "targets.toml"
    targets.write_text(textwrap.dedent(TARGETS.format(staging_hook=receiver.url("/hook/staging"))))
    done = run("-m", "daily", env=alerting_env(receiver, DIGITALME_TARGETS=str(targets),
                                                DIGITALME_PROMETHEUS_DIR=str(tmp_path)))
    norm = Normaliser({tmp_path / "reports": "<reports>", tmp_path: "<project>", **receiver.literals})
    starts = [json.loads((done.report_dir / "latest.json").read_text())["started_at"]]
    assert_as_before("fleet", capture(done, norm, receiver.take(), starts, prometheus=tmp_path))


# --- the daily run: the real suite against the healthy session sandbox ----------------------------------------------

# Checks whose values are measured at the moment (timings, ages, memory, disk, load, sizes the app changes by
# writing, the backups the session's sandbox has made so far, the certificate's days left and hash): only their
# shape is compared.
MEASURED_NOW = ("test_endpoint_answers_within_time", "test_enough_recent_backups", "test_newest_backup_fresh",
                "test_no_backup_dated_in_the_future",
                "test_database_recently_written", "test_database_file_exists", "test_database_size_below_limit",
                "test_certificate_valid_for_warning_days", "test_certificate_valid_for_critical_days",
                "test_served_certificate_is_newest_on_disk", "test_container_memory_below_limit",
                "test_host_memory_below_threshold", "test_filesystems_below_disk_threshold",
                "test_memory_available_in_container", "test_load_in_container_below_threshold")
# The machine-wide CPU check judges the machine these tests share with other sessions: it may pass in one run and
# fail in the next, so it is left out.
CPU = "tests_resources/test_host.py::test_cpu_below_threshold_sustained"
# Thresholds a loaded test machine could cross (its own memory and disk, the sandbox's answers under load): raised,
# so that the run is healthy wherever the selftests run. They are settings: the snapshot shows them as set here.
ROOMY = {"DIGITALME_RESPONSE_TIME_MAX_S": 30, "DIGITALME_MEMORY_MAX_PCT": 95, "DIGITALME_DISK_MAX_PCT": 95,
         "DIGITALME_CPU_MAX_PCT": 100}


def sandbox_literals(sandbox):
    """What names this session's sandbox, by placeholders: its HTTP and HTTPS ports (each its own: a value keyed by
    port keeps both keys), its compose project and its folder (certificates, .env)."""
    env = sandbox.settings_env
    ports = {"<http-port>": env["DIGITALME_BASE_URL"], "<https-port>": env["DIGITALME_HTTPS_URL"]}
    return {**{url.split("//")[1].rstrip("/"): "127.0.0.1:" + name for name, url in ports.items()},
            env["DIGITALME_COMPOSE_PROJECT"]: "<sandbox-project>",
            str(Path(env["DIGITALME_ENV_FILE"]).parent): "<sandbox-folder>"}


@pytest.mark.sandbox
def test_a_daily_run_is_as_before(healthy_sandbox, suite, receiver, tmp_path):
    """``-m daily`` of the real suite on the healthy sandbox, alerting and pinging the heartbeat: exit code,
    results, what the receiver got (the heartbeat only), record, history line, Prometheus file and terminal lines
    as before; values measured now by their shape, evidence by its names."""
    done = suite("-m", "daily", "--deselect", CPU, DIGITALME_PROMETHEUS_DIR=tmp_path, **ROOMY,
                 **alerting_env(receiver))
    norm = Normaliser({tmp_path / "reports": "<reports>", tmp_path: "<tmp>", **receiver.literals,
                       **sandbox_literals(healthy_sandbox)},
                      volatile=MEASURED_NOW, evidence="names", measured_series=("digitalme_endpoint_response_seconds",))
    starts = [json.loads((done.report_dir / "latest.json").read_text())["started_at"]]
    assert_as_before("daily", capture(done, norm, receiver.take(), starts, prometheus=tmp_path))
