"""Faults injected into the sandbox, caught by tests_security/ (what an auditor and an attacker both look at).

Every fault is real: a certificate swapped for an expiring or expired one, a control file turning headers, HSTS
or a leak on, modes changed in the container, the .env edited, the container recreated privileged, with the
Docker socket or as root, TLS 1.0/1.1 accepted again, a data folder bind-mounted from an open host folder, apt
lists dated back in the container (pointed at with --hosts). One exception: pending host security updates are
proven by their parsing (unit/test_security_findings.py: their failing path depends on what the machine running the
tests has installed).
"""

import json
import os
import re
import shutil

import pytest

from sandbox import CONTAINER, HTTP_PORT, HTTPS_PORT
from conftest import assert_caught, assert_passed
from test_alerts import receiver  # noqa: F401 (receiver is a fixture)

pytestmark = pytest.mark.sandbox
TLS = "tests_security/test_tls.py"
EXPOSURE = "tests_security/test_http_exposure.py"
HARDENING = "tests_security/test_container_hardening.py"
SECRETS = "tests_security/test_deployment_secrets.py"
HTTPS = rf"127\.0\.0\.1:{HTTPS_PORT}"
DB = "/app/data/digitalme.db"


def everything_written(run):
    """The run's stdout, stderr and every file it wrote (results JSON, HTML report)."""
    texts = [run.stdout, run.stderr]
    texts += [path.read_text(errors="replace") for path in run.report_dir.rglob("*") if path.is_file()]
    return "\n".join(texts)


# --- the certificate ------------------------------------------------------------------------------

def test_certificate_with_20_days_left_is_a_warning_only(healthy_sandbox, suite):
    healthy_sandbox.make_certificate(days=20)
    run = suite(f"{TLS}::test_certificate_valid_for_warning_days", f"{TLS}::test_certificate_valid_for_critical_days")
    check = assert_caught(run, "test_certificate_valid_for_warning_days", "warning",
                          rf"^certificate of {HTTPS} has (19\.\d|20) days left \(renew it; valid until .*\) "
                          r"\(required: at least 30 days\)$")
    assert 19 < check["value"] <= 20 and check["threshold"] == 30
    assert_passed(run, "test_certificate_valid_for_critical_days")


def test_certificate_with_3_days_left_is_critical(healthy_sandbox, suite):
    healthy_sandbox.make_certificate(days=3)
    run = suite(f"{TLS}::test_certificate_valid_for_critical_days", f"{TLS}::test_certificate_valid_for_warning_days")
    assert_caught(run, "test_certificate_valid_for_critical_days", "critical",
                  rf"^certificate of {HTTPS} has (2\.\d|3) days left \(valid until .*subject CN=localhost.*\) "
                  r"\(required: at least 7 days\)$")
    assert_caught(run, "test_certificate_valid_for_warning_days", "warning", r"has (2\.\d|3) days left .*\(required: at least 30 days\)$")
    assert run.results["status"] == "critical"


def test_expired_certificate_is_critical(healthy_sandbox, suite):
    healthy_sandbox.make_certificate(days=-2, not_before_days=30)
    run = suite(f"{TLS}::test_certificate_valid_for_critical_days", f"{TLS}::test_certificate_valid_for_warning_days")
    check = assert_caught(run, "test_certificate_valid_for_critical_days", "critical",
                          rf"^certificate of {HTTPS} expired (1\.9|2|2\.0) days ago \(valid until .*\) "
                          r"\(required: at least 7 days left\)$")
    assert check["value"] < 0
    assert_caught(run, "test_certificate_valid_for_warning_days", "warning", r"days left \(expired; .*\(required: at least 30 days\)$")


def test_certificate_for_another_name_than_the_domain_is_a_warning(healthy_sandbox, suite):
    """Checked on the deployment's host (https://127.0.0.1), the name users reach is the .env's DOMAIN."""
    original = healthy_sandbox.env_file.read_text()
    try:
        healthy_sandbox.env_file.write_text(original.replace("DOMAIN=localhost", "DOMAIN=digitalme.example.com"))
        run = suite(f"{TLS}::test_certificate_matches_host_name")
    finally:
        healthy_sandbox.env_file.write_text(original)
    check = assert_caught(run, "test_certificate_matches_host_name", "warning",
                          r"^certificate presented for digitalme.example.com \(from DOMAIN in .*deployment.env\) "
                          r"is valid for localhost, 127.0.0.1, not digitalme.example.com "
                          r"\(required: valid for digitalme.example.com\)$")
    assert check["value"]["name"] == "digitalme.example.com"


def test_host_name_check_skips_for_localhost(healthy_sandbox, suite):
    run = suite(f"{TLS}::test_certificate_matches_host_name")
    check = run.check("test_certificate_matches_host_name")
    assert check["outcome"] == "skipped" and "localhost" in check["message"], check


def test_tls_checks_skip_where_https_does_not_apply(healthy_sandbox, suite):
    run = suite(TLS, DIGITALME_HTTPS_URL="")
    assert run.returncode == 0, run
    for entry in run.results["checks"]:
        assert entry["outcome"] == "skipped" and "DIGITALME_HTTPS_URL is empty" in entry["message"], entry


# --- protocol versions and HTTPS enforcement -------------------------------------------------------

def test_sandbox_refuses_tls_1_0_and_1_1(healthy_sandbox, suite):
    run = suite(f"{TLS}::test_old_tls_versions_refused")
    check = assert_passed(run, "test_old_tls_versions_refused")
    assert check["value"] == {"TLS 1.0": "refused", "TLS 1.1": "refused"}


def test_tls_1_0_and_1_1_accepted_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("tls_min", "1.0")
    run = suite(f"{TLS}::test_old_tls_versions_refused")
    check = assert_caught(run, "test_old_tls_versions_refused", "warning",
                          rf"^127.0.0.1:{HTTPS_PORT} accepts TLS 1.0 and TLS 1.1: TLS 1.0 handshake completed.* "
                          r"\(required: TLS 1.0 and 1.1 refused\)$")
    assert check["value"] == {"TLS 1.0": "accepted", "TLS 1.1": "accepted"}


def test_no_hsts_and_no_redirect_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("no_hsts")
    run = suite(f"{TLS}::test_https_enforced")
    assert_caught(run, "test_https_enforced", "warning",
                  rf"^http://127\.0\.0\.1:{HTTP_PORT}/health is served over plain HTTP .*no redirect to HTTPS\) and "
                  rf"https://{HTTPS}/health sends no Strict-Transport-Security \(required: a redirect to HTTPS, or HSTS "
                  r"with max-age > 0\)$")


# --- headers and disclosure -----------------------------------------------------------------------

def test_missing_security_headers_are_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("headers_off")
    run = suite(f"{EXPOSURE}::test_security_headers_present")
    check = assert_caught(run, "test_security_headers_present", "warning",
                          rf"^http://127\.0\.0\.1:{HTTP_PORT}/health lacks X-Content-Type-Options, X-Frame-Options, "
                          r"Content-Security-Policy, Referrer-Policy; ")
    assert f"https://127.0.0.1:{HTTPS_PORT}/health lacks" in check["message"]


def test_version_revealing_server_header_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.control("server_header")
    run = suite(f"{EXPOSURE}::test_security_headers_present")
    check = assert_caught(run, "test_security_headers_present", "warning",
                          r"sends Server: 'Kestrel/8\.0\.8 \(Debian\)' \(reveals the version\)")
    assert "lacks" not in check["message"]


def test_leaked_api_key_is_critical_and_never_printed(healthy_sandbox, suite):
    secret = re.search(r"^ANTHROPIC_API_KEY=(.*)$", healthy_sandbox.env_file.read_text(), re.MULTILINE).group(1)
    healthy_sandbox.control("leak")
    run = suite(f"{EXPOSURE}::test_endpoints_expose_no_secrets", "--tb=long", "-rA")
    check = assert_caught(run, "test_endpoints_expose_no_secrets", "critical",
                          rf"^1 secret\(s\) exposed: http://127\.0\.0\.1:{HTTP_PORT}/info exposes "
                          r"configuration.anthropicApiKey: sk-ant-\*\*\*")
    assert check["value"][f"http://127.0.0.1:{HTTP_PORT}/info"] == 1
    written = everything_written(run)
    assert secret not in written, "the leaked API key's value was printed or written by the run"
    assert secret[len("sk-ant-"):][:12] not in written, "part of the leaked API key's value was printed"


# --- logs -----------------------------------------------------------------------------------------

def test_auth_failures_beyond_the_limit_are_a_warning_with_tokens_masked(healthy_sandbox, suite):
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWxmdGVzdCJ9.c2VsZnRlc3Qtc2lnbmF0dXJl"
    healthy_sandbox.log_line("warn: DigitalMe.Auth[0] Unauthorized request to /api/chat from 203.0.113.7")
    healthy_sandbox.log_line("warn: DigitalMe.Auth[0] Forbidden: user 3 may not read conversation 1")
    healthy_sandbox.log_line(f"warn: DigitalMe.Auth[0] Invalid JWT token {token} from 203.0.113.7")
    run = suite(f"{EXPOSURE}::test_auth_failures_in_last_day_within_limit", DIGITALME_LOG_AUTH_FAILURES_MAX="2")
    check = assert_caught(run, "test_auth_failures_in_last_day_within_limit", "warning",
                          r"^3 authentication-failure line\(s\) in the last 24 h; latest: .*Invalid JWT token "
                          r"eyJ\*\*\* from 203.0.113.7.* \(required: at most 2\)$")
    assert "Unauthorized request" in check["evidence"]["matching lines (secrets masked)"]
    assert token not in everything_written(run)


CREDENTIALS = f"{EXPOSURE}::test_no_credentials_in_app_logs"
NO_PROXY = {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}


def test_credentials_the_app_logs_are_a_warning_once_per_entry_never_shown(healthy_sandbox, suite, receiver):
    """A log of the container's start passes. The app logging its API key and a connection string's password: a
    warning naming each entry by time and logger category, the values masked in the terminal, results file, HTML
    record and alert. The next daily run does not report the same entries again."""
    healthy_sandbox.recreate_on_restore = True
    healthy_sandbox.restore()  # a log of its own start only: earlier scenarios leave entries
    clean = suite(CREDENTIALS, "-m", "daily")
    assert assert_passed(clean, "test_no_credentials_in_app_logs")["value"] == {"new": 0, "reported before": 0}

    key = re.search(r"^ANTHROPIC_API_KEY=(.*)$", healthy_sandbox.env_file.read_text(), re.MULTILINE).group(1)
    healthy_sandbox.app_logs_secret("api_key")
    healthy_sandbox.app_logs_secret("password")
    run = suite(CREDENTIALS, "-m", "daily", "-vv", "--tb=long", "-rA", DIGITALME_ALERTS="on",
                DIGITALME_WEBHOOK_URL=receiver.url(), **NO_PROXY)
    at = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    check = assert_caught(run, "test_no_credentials_in_app_logs", "warning",
                          rf"^2 log entries of the last 24 h hold credentials: {at} info: "
                          r"DigitalMe\.Services\.ClaudeApiService\[1001\]: Anthropic API key sk-ant-\*\*\*; "
                          rf"{at} info: Microsoft\.EntityFrameworkCore\.Infrastructure\[10403\]: connection-string "
                          r"password Password=\*\*\* \(required: no credentials in the app's log\)$")
    assert check["value"] == {"new": 2, "reported before": 0}, check
    [payload] = receiver.payloads()
    assert "ClaudeApiService[1001]" in json.dumps(payload), payload
    written = everything_written(run) + json.dumps(payload)
    assert any(p.suffix == ".html" for p in run.report_dir.rglob("*")), "no record was written"
    for secret in (key, key[len("sk-ant-"):][:12], "sandbox-db-Pa55word-7f3e"):
        assert secret not in written, f"{secret[:6]}... was printed, written or alerted by the run"

    again = suite(CREDENTIALS, "-m", "daily")
    check = assert_passed(again, "test_no_credentials_in_app_logs")
    assert check["value"] == {"new": 0, "reported before": 2}, check
    assert "(first reported 20" in check["evidence"]["entries an earlier 'daily' run reported"], check


# --- the container --------------------------------------------------------------------------------

def test_world_writable_database_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.exec(f"chmod o+w {DB}")
    try:
        run = suite(f"{HARDENING}::test_data_files_not_exposed")
    finally:
        healthy_sandbox.exec(f"chmod o-w {DB}*")  # SQLite gives a new -wal/-shm the database's mode
    check = assert_caught(run, "test_data_files_not_exposed", "warning",
                          rf"^[12] of \d+ data file\(s\) writable by group or others in {CONTAINER}: "
                          rf"06[0-7]6 digitalme {DB}(; 06[0-7]6 digitalme {DB}-wal)? \(required: none writable by "
                          r"group or others, none readable by other users\)$")
    assert DB in check["value"]["writable by group/others"]


def test_world_readable_database_in_a_named_volume_is_not_exposed(healthy_sandbox, suite):
    """0644 (what umask 022 gives) inside a named volume: under /var/lib/docker (0710 root), no other host user
    reaches it."""
    mode = healthy_sandbox.exec(f"stat -c %a {DB}").stdout.strip()
    healthy_sandbox.exec(f"chmod 0644 {DB}")
    try:
        run = suite(f"{HARDENING}::test_data_files_not_exposed")
    finally:
        healthy_sandbox.exec(f"chmod {mode} {DB}")
    check = assert_passed(run, "test_data_files_not_exposed")
    assert check["value"] == {"writable by group/others": [], "readable by other host users": {}}, check


def test_world_readable_database_in_a_reachable_bind_mount_is_a_warning(healthy_sandbox, suite):
    """The data folder bind-mounted from a host folder that every user may enter (o+x all the way down): the app
    creates its database there, 0644, and any user of the host can read it."""
    import tempfile
    folder = tempfile.mkdtemp(prefix="digitalme-bind-")
    try:
        os.chmod(folder, 0o755)
        os.chown(folder, 10001, 10001)  # the image's digitalme user, so that the app can create its database
        healthy_sandbox.recreate_with(f"services:\n  digitalme:\n    volumes:\n      - {folder}:/app/data\n")
        healthy_sandbox.exec(f"chmod 0644 {DB}")
        run = suite(f"{HARDENING}::test_data_files_not_exposed")
    finally:
        healthy_sandbox.restore()  # back on the named volume before the folder goes
        shutil.rmtree(folder, ignore_errors=True)
    check = assert_caught(run, "test_data_files_not_exposed", "warning",
                          rf"^[1-3] of \d+ data file\(s\) readable by any user of the host \(o\+r, and every folder "
                          rf"above open to others, o\+x\): 0644 {DB} at {folder}/digitalme.db "
                          rf"\(bind mount\)(; 0644 {DB}-(wal|shm) at {folder}/digitalme.db-(wal|shm) \(bind mount\))* "
                          r"\(required: none writable by group or others, none readable by other users\)$")
    assert DB in check["value"]["readable by other host users"]
    assert not any(path.startswith("/app/backups/") for path in check["value"]["readable by other host users"])


def test_data_folder_that_cannot_be_entered_is_not_checked_as_missing(healthy_sandbox, suite):
    """`stat` refused (the folder made root's, 0700): "could not be checked" with stat's reason, not "missing"."""
    healthy_sandbox.control("writer_paused")  # the app would log failed writes meanwhile
    healthy_sandbox.recreate_on_restore = True
    mode = healthy_sandbox.exec("stat -c '%a %U' /app/data").stdout.split()
    healthy_sandbox.exec("chown root /app/data && chmod 0700 /app/data")
    try:
        run = suite("tests_backup/test_database.py::test_database_file_exists",
                    f"{HARDENING}::test_data_files_not_exposed")
    finally:
        healthy_sandbox.exec(f"chown {mode[1]} /app/data && chmod {mode[0]} /app/data")
    for name, severity in (("test_database_file_exists", "critical"), ("test_data_files_not_exposed", "warning")):
        assert_caught(run, name, severity, rf"^could not be checked: {DB} in {CONTAINER} could not be looked at: "
                                           rf"stat: cannot statx? '{DB}': Permission denied$", outcome="error")


def test_privileged_container_is_critical(healthy_sandbox, suite):
    healthy_sandbox.recreate_with("services:\n  digitalme:\n    privileged: true\n")
    run = suite(f"{HARDENING}::test_container_not_privileged_and_no_docker_socket")
    assert_caught(run, "test_container_not_privileged_and_no_docker_socket", "critical",
                  rf"^{CONTAINER} runs privileged \(HostConfig.Privileged true\) \(required: not privileged, no Docker "
                  r"socket mounted\)$")


def test_docker_socket_mount_is_critical(healthy_sandbox, suite):
    healthy_sandbox.recreate_with(
        "services:\n  digitalme:\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n")
    run = suite(f"{HARDENING}::test_container_not_privileged_and_no_docker_socket")
    assert_caught(run, "test_container_not_privileged_and_no_docker_socket", "critical",
                  rf"^{CONTAINER} mounts the Docker socket \(/(var/)?run/docker.sock -> /var/run/docker.sock\) "
                  r"\(required: not privileged, no Docker socket mounted\)$")


def test_app_running_as_root_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.recreate_with("services:\n  digitalme:\n    user: root\n")
    run = suite(f"{HARDENING}::test_app_runs_as_non_root")
    check = assert_caught(run, "test_app_runs_as_non_root", "warning",
                          rf"^PID 1 of {CONTAINER} runs as uid 0 \(root; Config.User 'root'\) \(required: a non-root user\)$")
    assert check["value"] == {"Config.User": "root", "PID 1 uid": 0}


def test_old_image_is_a_warning(healthy_sandbox, suite):
    run = suite(f"{HARDENING}::test_image_not_older_than_max_age", DIGITALME_IMAGE_MAX_AGE_DAYS="0.00001")
    check = assert_caught(run, "test_image_not_older_than_max_age", "warning",
                          r"^image digitalme-sandbox:latest \([0-9a-f]{12}\) was built [\d.e-]+ days ago "
                          r"\(\d{4}-\d\d-\d\d \d\d:\d\d UTC\): rebuild or pull it \(required: at most 1e-05 days ago\)$")
    assert check["value"] > 0.00001


def test_never_updated_apt_lists_are_a_warning(healthy_sandbox, suite):
    """Pointed (through testinfra's docker backend) at the sandbox container, whose image removed its apt lists."""
    run = suite(f"{HARDENING}::test_no_pending_security_updates", f"--hosts=docker://{CONTAINER}")
    assert_caught(run, "test_no_pending_security_updates", "warning",
                  r"^apt lists were never updated \(/var/lib/apt/lists is empty\): the weekly apt-get update is not "
                  r"running; pending security updates cannot be known \(required: apt lists at most 7 days old\)$")


def test_apt_lists_10_days_old_are_a_warning(healthy_sandbox, suite):
    """The same host with lists last updated 10 days ago (a list file dated back, as apt leaves it)."""
    healthy_sandbox.exec("touch -d '10 days ago' /var/lib/apt/lists/selftest_dists_stable_InRelease")
    healthy_sandbox.recreate_on_restore = True  # the container's own filesystem is back to the image's
    run = suite(f"{HARDENING}::test_no_pending_security_updates", f"--hosts=docker://{CONTAINER}")
    check = assert_caught(run, "test_no_pending_security_updates", "warning",
                          r"^apt lists are 10 days old: the weekly apt-get update is not running; "
                          r"pending security updates cannot be known \(required: apt lists at most 7 days old\)$")
    assert check["value"] == "apt lists are 10 days old"


# --- the deployment's .env --------------------------------------------------------------------------

@pytest.fixture
def env_content(healthy_sandbox):
    """The sandbox's .env, edited by the scenario; its content is put back afterwards (restore() resets its mode)."""
    original = healthy_sandbox.env_file.read_text()
    yield healthy_sandbox.env_file
    healthy_sandbox.env_file.write_text(original)


def test_env_file_readable_by_others_is_a_warning(healthy_sandbox, suite):
    healthy_sandbox.env_file.chmod(0o644)
    run = suite(f"{SECRETS}::test_env_file_protected_and_complete")
    check = assert_caught(run, "test_env_file_protected_and_complete", "warning",
                          r"^/.*/deployment.env is mode 0644 \(owner \w+\): readable by others \(required: no o\+r, e.g. 0600\)$")
    assert check["value"]["mode"] == "0644"


def test_short_jwt_key_is_a_warning_and_never_printed(env_content, suite):
    short = "tooShortKey-9f3"
    text = env_content.read_text()
    env_content.write_text(re.sub(r"^JWT_KEY=.*$", f"JWT_KEY={short}", text, flags=re.MULTILINE))
    run = suite(f"{SECRETS}::test_env_file_protected_and_complete")
    check = assert_caught(run, "test_env_file_protected_and_complete", "warning",
                          rf"^JWT_KEY is {len(short)} characters long \(required: JWT_KEY longer than 32 characters\)$")
    assert check["value"]["JWT_KEY length"] == len(short)
    written = everything_written(run)
    assert short not in written
    assert re.search(r"^ANTHROPIC_API_KEY=(.*)$", text, re.MULTILINE).group(1) not in written


def test_missing_api_key_is_a_warning(env_content, suite):
    env_content.write_text(re.sub(r"^ANTHROPIC_API_KEY=.*\n", "", env_content.read_text(), flags=re.MULTILINE))
    run = suite(f"{SECRETS}::test_env_file_protected_and_complete")
    assert_caught(run, "test_env_file_protected_and_complete", "warning",
                  r"^ANTHROPIC_API_KEY not set in /.*/deployment.env \(required: ANTHROPIC_API_KEY and JWT_KEY set\)$")


def test_env_check_skips_where_no_env_file_is_configured(healthy_sandbox, suite):
    run = suite(f"{SECRETS}::test_env_file_protected_and_complete", DIGITALME_ENV_FILE="")
    check = run.check("test_env_file_protected_and_complete")
    assert check["outcome"] == "skipped" and "DIGITALME_ENV_FILE is empty" in check["message"], check
