"""The manual's renewed certificate and pulled image are actually in use (Monthly 1, Weekly 3).

Every fault is made for real on the sandbox: a newer certificate written into its certificate folder while the app
keeps serving the one it loaded (as Kestrel does, until `docker-compose restart`), and an image built under the
container's own tag after the container started (a tag of this session's own: the shared
``digitalme-sandbox:latest`` is never moved)."""

import re
import time

import pytest

from conftest import assert_caught, assert_passed
from sandbox import CONTAINER, HTTPS_PORT
from test_prometheus_file import samples, value

TLS = "tests_security/test_tls.py"
NEWEST = f"{TLS}::test_served_certificate_is_newest_on_disk"
PULLED = "tests_security/test_container_hardening.py::test_running_image_is_the_pulled_one"
HTTPS = rf"127\.0\.0\.1:{HTTPS_PORT}"
RESTART_HINT = (r"the renewal was not picked up; restart the app \(docker-compose restart\) "
                r"\(required: the file's certificate served\)$")


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
