"""Issue 15's manual lines: a renewed certificate and a pulled image actually in use, and the Prometheus file.

Every fault is made for real on the sandbox: a newer certificate written into its certificate folder while the app
keeps serving the one it loaded (as Kestrel does, until `docker-compose restart`), and an image built under the
container's own tag after the container started (a tag of this session's own: the shared
``digitalme-sandbox:latest`` is never moved). The Prometheus file is parsed with ``prometheus_client``'s own parser.
"""

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import assert_caught, assert_passed
from sandbox import CONTAINER, HTTPS_PORT

TLS = "tests_security/test_tls.py"
NEWEST = f"{TLS}::test_served_certificate_is_newest_on_disk"
PULLED = "tests_security/test_container_hardening.py::test_running_image_is_the_pulled_one"
HTTPS = rf"127\.0\.0\.1:{HTTPS_PORT}"
RESTART_HINT = (r"the renewal was not picked up; restart the app \(docker-compose restart\) "
                r"\(required: the file's certificate served\)$")


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


# --- the served certificate is the newest on disk -----------------------------------------------------

@pytest.mark.sandbox
def test_certificate_renewed_on_disk_without_restart_is_a_warning_until_the_restart(healthy_sandbox, suite, tmp_path):
    """Monthly 1: `certbot renew`, then `docker-compose restart` "to pick up new certificates". The certificate
    file is renewed while the app keeps serving the one it loaded: a warning that says to restart, whichever way
    the file is found (the PEM under /https by default, a PFX named by the .env's SSL_CERT_PATH or by
    DIGITALME_CERT_FILE); after `docker-compose restart` it passes."""
    run = suite(NEWEST)
    check = assert_passed(run, "test_served_certificate_is_newest_on_disk")
    assert check["value"]["file"] == "/https/digitalme.crt", check["value"]
    healthy_sandbox.control("cert_pinned")  # the app now serves the certificate it has, as Kestrel does
    time.sleep(1.1)  # a later second: the renewed certificate's dates are later, as certbot's would be
    healthy_sandbox.make_certificate(days=90)  # renewed on disk: 90 days, Let's Encrypt's (the served one: 365)
    (tmp_path / "prom").mkdir()
    run = suite(NEWEST, "-m", "daily", DIGITALME_PROMETHEUS_DIR=str(tmp_path / "prom"))
    check = assert_caught(run, "test_served_certificate_is_newest_on_disk", "warning",
                          rf"^/https/digitalme\.crt holds a newer certificate \(issued .*\) than {HTTPS} serves "
                          rf"\(issued .*\): {RESTART_HINT}")
    assert check["value"]["served"]["sha256"] != check["value"]["on disk"]["sha256"], check["value"]
    assert "(from the default folder /https)" in check["evidence"]["certificates"], check["evidence"]
    found = samples(tmp_path / "prom" / "digitalme_daily.prom")
    assert value(found, "digitalme_check_success", check=check["id"], severity="warning", target="",
                 selection="daily") == 0
    assert value(found, "digitalme_run_status", selection="daily") == 1

    # The same renewal as Kestrel's PFX, named by the .env's SSL_CERT_PATH, then by DIGITALME_CERT_FILE.
    pfx = write_pfx(healthy_sandbox.certs_dir)
    try:
        renewal_as_pfx_then_restart(healthy_sandbox, suite, tmp_path)
    finally:
        pfx.unlink()


def renewal_as_pfx_then_restart(healthy_sandbox, suite, tmp_path):
    env_file = tmp_path / "with-cert-path.env"
    env_file.write_text(healthy_sandbox.env_file.read_text() + "SSL_CERT_PATH=/https/renewed.pfx\n")
    env_file.chmod(0o600)
    run = suite(NEWEST, DIGITALME_ENV_FILE=str(env_file))
    check = assert_caught(run, "test_served_certificate_is_newest_on_disk", "warning",
                          rf"^/https/renewed\.pfx holds a newer certificate .*{RESTART_HINT}")
    assert f"(from SSL_CERT_PATH in {env_file})" in check["evidence"]["certificates"], check["evidence"]
    run = suite(NEWEST, DIGITALME_CERT_FILE="/https/renewed.pfx")
    check = assert_caught(run, "test_served_certificate_is_newest_on_disk", "warning",
                          rf"^/https/renewed\.pfx holds a newer certificate .*{RESTART_HINT}")
    assert "(from DIGITALME_CERT_FILE)" in check["evidence"]["certificates"], check["evidence"]

    healthy_sandbox.compose("restart")  # the manual's `docker-compose restart`: the app loads the renewed file
    healthy_sandbox.wait_healthy()
    run = suite(NEWEST)
    check = assert_passed(run, "test_served_certificate_is_newest_on_disk")
    assert check["value"]["served"]["sha256"] == check["value"]["on disk"]["sha256"], check["value"]
    run = suite(NEWEST, DIGITALME_CERT_FILE="/https/renewed.pfx")
    assert_passed(run, "test_served_certificate_is_newest_on_disk")


@pytest.mark.sandbox
def test_certificate_file_that_is_not_there_could_not_be_checked(healthy_sandbox, suite):
    """A DIGITALME_CERT_FILE that is not in the container is not a comparison: could not be checked, saying where."""
    run = suite(NEWEST, DIGITALME_CERT_FILE="/https/absent.pem")
    assert_caught(run, "test_served_certificate_is_newest_on_disk", "warning",
                  rf"^could not be checked: reading /https/absent\.pem in {CONTAINER}: no such file or folder",
                  outcome="error")


@pytest.mark.sandbox
def test_certificate_file_older_than_the_served_one_is_not_the_one_served(healthy_sandbox, suite):
    """A file holding an older certificate than the one served (the app serves another file): a warning that the
    configured file is not the one served, not a restart hint (a restart would serve the older one)."""
    assert_passed(suite(NEWEST), "test_served_certificate_is_newest_on_disk")  # the app has loaded the current one
    healthy_sandbox.control("cert_pinned")
    healthy_sandbox.make_certificate(days=300, not_before_days=30)  # issued 30 days ago: older than the served one
    run = suite(NEWEST)
    check = assert_caught(run, "test_served_certificate_is_newest_on_disk", "warning",
                          rf"^{HTTPS} serves a certificate \(valid until .*\) that is not the one in "
                          r"/https/digitalme\.crt \(from the default folder /https; valid until .*, not newer\): the "
                          r"file the app is configured with is not the one it serves")
    assert "restart" not in check["message"], check["message"]


def write_pfx(folder):
    """The sandbox's current certificate and key as ``renewed.pfx`` (no password, like a PFX exported for Kestrel
    without one), readable by the app's user."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    certificate = x509.load_pem_x509_certificate((folder / "digitalme.crt").read_bytes())
    key = serialization.load_pem_private_key((folder / "digitalme.key").read_bytes(), None)
    path = folder / "renewed.pfx"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"digitalme", key, certificate, None,
                                                           serialization.NoEncryption()))
    path.chmod(0o644)
    return path


def test_pfx_files_open_with_no_password_an_empty_one_or_kestrels_and_say_when_none_opens(tmp_path):
    """A PFX is read with no password, an empty one or Kestrel's from the container's environment; one that none
    opens is "could not be checked" naming the file (never the password); a CA certificate is not the server's."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from plugins.probes import ProbeError
    from plugins.probes.certificate_files import PFX_PASSWORD_ENV, newest_certificate_in, pfx_passwords

    def certificate(days, ca=False):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca" if ca else "localhost")])
        now = dt.datetime.now(dt.timezone.utc)
        built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                 .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                 .not_valid_after(now + dt.timedelta(days=days))
                 .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                 .sign(key, hashes.SHA256()))
        return key, built

    key, leaf = certificate(90)
    _, ca = certificate(3650, ca=True)
    inspected = {"Config": {"Env": ["A=1", f"{PFX_PASSWORD_ENV}=kestrel-pfx-password"]}}
    passwords = pfx_passwords(inspected)
    assert "kestrel-pfx-password" not in repr(passwords), repr(passwords)
    locked = pkcs12.serialize_key_and_certificates(b"x", key, leaf, [ca], serialization.BestAvailableEncryption(
        b"kestrel-pfx-password"))
    path, found = newest_certificate_in({"/https/app.pfx": locked}, passwords)
    assert path == "/https/app.pfx" and found.common_names == ("localhost",), found
    with pytest.raises(ProbeError) as error:
        newest_certificate_in({"/https/app.pfx": locked}, pfx_passwords({"Config": {"Env": []}}))
    assert "/https/app.pfx" in str(error.value) and "kestrel-pfx-password" not in str(error.value), error.value
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path, found = newest_certificate_in({"/https/chain.pem": ca.public_bytes(serialization.Encoding.PEM),
                                         "/https/fullchain.pem": chain, "/https/privkey.pem": key_pem})
    assert path == "/https/fullchain.pem" and found.common_names == ("localhost",), (path, found)
    assert newest_certificate_in({"/https/privkey.pem": key_pem}) is None
    path, found = newest_certificate_in({"/https/self-signed.pem": ca.public_bytes(serialization.Encoding.PEM)})
    assert path == "/https/self-signed.pem" and found.common_names == ("ca",), "self-signed CA:TRUE: the server's"


# --- the running image is the one pulled ---------------------------------------------------------------

@pytest.mark.sandbox
def test_image_rebuilt_under_the_same_tag_is_a_warning_until_up_d(healthy_sandbox, suite):
    """Weekly 3: `docker-compose pull`, then `docker-compose up -d`. An image built under the container's tag after
    it started: a warning naming both ids and `up -d`; after `up -d` it passes; a tag that names no image any
    more cannot be compared: could not be checked, saying so."""
    with healthy_sandbox.own_image() as tag:
        running = healthy_sandbox.inspect("{{.Image}}")
        assert_passed(suite(PULLED), "test_running_image_is_the_pulled_one")
        rebuilt = healthy_sandbox.rebuild_image(tag)
        assert rebuilt != running and healthy_sandbox.inspect("{{.Image}}") == running
        run = suite(PULLED)
        check = assert_caught(run, "test_running_image_is_the_pulled_one", "warning",
                              rf"^{CONTAINER} runs image {running[7:19]} but {re.escape(tag)} names {rebuilt[7:19]} "
                              r"now \(pulled or rebuilt since the container was created\): `docker-compose up -d` is "
                              rf"pending \(required: the image {re.escape(tag)} names\)$")
        assert check["value"] == {"running": running[7:19], tag: rebuilt[7:19]}, check["value"]

        healthy_sandbox.compose("up", "--detach", "--wait", "--wait-timeout", "90")  # the manual's `up -d`
        assert healthy_sandbox.inspect("{{.Image}}") == rebuilt
        assert_passed(suite(PULLED), "test_running_image_is_the_pulled_one")

        healthy_sandbox.rebuild_image(tag)  # a newer one again, then its tag removed: nothing to compare with
        healthy_sandbox.docker("image", "rm", tag)
        run = suite(PULLED)
        assert_caught(run, "test_running_image_is_the_pulled_one", "warning",
                      rf"^could not be checked: image reference {re.escape(tag)} of {CONTAINER} names no image on the "
                      r"Docker host now \(removed or untagged\)", outcome="error")


# --- Prometheus ------------------------------------------------------------------------------------------

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
