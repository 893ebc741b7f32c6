"""The Apprise channel (DIGITALME_NOTIFY[_CRITICAL|_WARNING|_EMERGENCY]) from the outside: mini projects run in a
subprocess and notify real servers on 127.0.0.1: an SMTP server (aiosmtpd) with STARTTLS on a test certificate and
AUTH for ``mailtos://``/``mailto://``, and an HTTP receiver for ``json://``; or a port where nothing listens."""

import datetime as dt
import email
import email.policy
import http.server
import ipaddress
import json
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from mini_checks import DISK, MEMORY_RECORDED, checks, integrity

CHECKS = checks(DISK, MEMORY_RECORDED, integrity("monitor", level3=True))

# the plain mailto:// server takes AUTH without TLS on purpose (aiosmtpd warns of it)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER, PASSWORD = "alerts@your-domain.com", "Sm7p-pa55w0rd-4e2f"
TOKEN = "T0KEN-1a2b3c4d5e6f"


# --- the servers -------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certificate_files(folder):
    """A self-signed certificate for 127.0.0.1 (its own CA): (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Mailbox:
    """An SMTP server on 127.0.0.1 that takes mail only after AUTH with USER/PASSWORD (and, with ``tls``, only
    after STARTTLS): every message it accepted, parsed."""

    def __init__(self, tls_files=None):
        import ssl
        self.messages, self.logins = [], []
        kwargs = {"authenticator": self.authenticate, "auth_required": True}
        if tls_files:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, tls_files))
            kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:
            kwargs.update(auth_require_tls=False)
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        good = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        self.logins.append((mechanism, good, session.ssl is not None))
        return AuthResult(success=good)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"to": envelope.rcpt_tos, "tls": session.ssl is not None,
                              "subject": str(message["subject"]), "body": body_text(message)})
        return "250 OK"

    def url(self, to, scheme="mailto"):
        # mailtos:// is STARTTLS unless mode=ssl: this server takes nothing before it
        return f"{scheme}://{USER.replace('@', '%40')}:{PASSWORD}@127.0.0.1:{self.port}?from=ops@your-domain.com&to={to}"

    def to(self, address):
        return [m for m in self.messages if address in m["to"]]

    def stop(self):
        self.controller.stop()


def body_text(message):
    part = message.get_body(preferencelist=("plain", "html")) or message
    return part.get_content()


class JsonReceiver:
    """An HTTP receiver on 127.0.0.1 (``port``: a given one): every JSON body POSTed to it, by path."""

    def __init__(self, port=0):
        self.posts = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json_url(self):
        return f"json://127.0.0.1:{self.port}/notify/{TOKEN}"

    def bodies(self, path=f"/notify/{TOKEN}"):
        return [body for p, body in self.posts if p == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailbox():
    server = Mailbox()
    yield server
    server.stop()


@pytest.fixture
def tls_mailbox(tmp_path):
    server = Mailbox(certificate_files(tmp_path))
    server.ca_file = tmp_path / "smtp-cert.pem"
    yield server
    server.stop()


@pytest.fixture
def receiver():
    server = JsonReceiver()
    yield server
    server.stop()


@pytest.fixture
def notifying(mini_project):
    """``notifying(*args, **env)``: one run of the mini project (its results read at once)."""
    run = mini_project(CHECKS)

    def go(*args, **env):
        environment = {"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_ALERT_BUDGET_S": "8",
                       "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        environment.update({k: str(v) for k, v in env.items()})
        result = run(*args, env=environment)
        result.doc = result.results if (result.report_dir / "latest.json").exists() else None
        return result
    return go


def alerts_of(result, **match):
    return [a for a in result.doc["alerts"] if all(a.get(k) == v for k, v in match.items())]


def outbox_of(result):
    path = result.report_dir / "state" / "alerts" / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- the tests ---------------------------------------------------------------------------------

def test_a_failing_check_notifies_each_url_once_and_a_recovery_resolves_on_each(notifying, tls_mailbox, receiver):
    urls = f"{tls_mailbox.url('engineering@your-domain.com', 'mailtos')}  {receiver.json_url()}"
    env = {"DIGITALME_NOTIFY": urls, "SSL_CERT_FILE": tls_mailbox.ca_file}
    first = notifying(**env, FAIL_DISK="1")
    assert first.returncode == 1, first
    [mail], [posted] = tls_mailbox.messages, receiver.bodies()
    assert mail["tls"] and [(good, over_tls) for _, good, over_tls in tls_mailbox.logins] == [(True, True)]
    assert mail["to"] == ["engineering@your-domain.com"]
    assert mail["subject"].startswith("[CRITICAL] DigitalMe http://localhost: / is 91% used"), mail
    for body in (mail["body"], posted["message"]):
        assert "Value: 91; threshold: 80" in body and "Manual: Resource Monitoring: Disk Usage" in body
        assert "Since: " in body and "Record: " in body and ".html" in body
    assert posted["title"] == mail["subject"] and posted["type"] == "failure"
    [record] = alerts_of(first, state="sent")
    assert record["route"] == "critical" and record["attempts"] == 2

    again = notifying(**env, FAIL_DISK="1")  # within the repeat interval: nobody hears it twice
    assert len(tls_mailbox.messages) == 1 and len(receiver.bodies()) == 1
    assert alerts_of(again, state="suppressed")

    recovered = notifying(**env)
    assert recovered.returncode == 0, recovered
    assert [m["subject"] for m in tls_mailbox.messages[1:]] == [
        "[RESOLVED] DigitalMe http://localhost: Disk use below 80%"]
    [resolved] = receiver.bodies()[1:]
    assert resolved["title"].startswith("[RESOLVED]") and resolved["type"] == "success"
    assert alerts_of(recovered, state="sent")[0]["payload"]["status"] == "resolved"


def test_each_level_goes_to_its_own_addresses_per_the_escalation_matrix(notifying, mailbox):
    result = notifying(DIGITALME_NOTIFY_WARNING=mailbox.url("sysadmin@your-domain.com"),
                       DIGITALME_NOTIFY_CRITICAL=mailbox.url("engineering@your-domain.com"),
                       DIGITALME_NOTIFY_EMERGENCY=mailbox.url("emergency@your-domain.com"),
                       FAIL_MEMORY="1", FAIL_INTEGRITY="1")
    assert result.returncode == 1, result
    [warning] = mailbox.to("sysadmin@your-domain.com")
    [critical] = mailbox.to("engineering@your-domain.com")
    [emergency] = mailbox.to("emergency@your-domain.com")
    assert warning["subject"].startswith("[WARNING] DigitalMe http://localhost: memory is 90% used")
    assert critical["subject"].startswith("[CRITICAL] DigitalMe http://localhost: integrity_check: 1 error")
    assert emergency["subject"].startswith("[EMERGENCY] DigitalMe http://localhost: integrity_check: 1 error")
    assert "Level 3" in emergency["body"] and not mailbox.to("nobody")
    assert all(login[1] for login in mailbox.logins)


def test_a_url_that_is_down_keeps_the_alert_in_the_outbox_and_the_next_run_delivers_it(notifying, mailbox):
    port = free_port()  # nothing listens here in the first run
    json_url = f"json://127.0.0.1:{port}/notify/{TOKEN}"
    env = {"DIGITALME_NOTIFY": f"{mailbox.url('sysadmin@your-domain.com')} {json_url}"}
    first = notifying(**env, FAIL_DISK="1")
    [queued] = alerts_of(first, state="queued")
    assert queued["reason"].startswith("1 of 2 Apprise URLs: not sent: "), queued
    assert len(outbox_of(first)) == 1 and len(mailbox.messages) == 1
    assert "DigitalMe alerts: 1 queued (1 of 2 Apprise URLs: not sent: A Connection error" in first.stdout, first

    receiver = JsonReceiver(port)
    try:
        second = notifying(**env, FAIL_DISK="1")
    finally:
        receiver.stop()
    [delivered] = alerts_of(second, from_outbox=True)
    assert delivered["state"] == "sent", delivered
    [posted] = receiver.bodies()
    assert posted["title"].startswith("[CRITICAL] DigitalMe http://localhost: / is 91% used")
    assert len(mailbox.messages) == 1, "the URL that had the alert heard it again"
    assert outbox_of(second) == []


def test_a_webhook_and_apprise_urls_both_hear_each_alert(notifying, receiver):
    webhook = f"http://127.0.0.1:{receiver.port}/hook/{TOKEN}"
    result = notifying(DIGITALME_WEBHOOK_URL=webhook, DIGITALME_NOTIFY=receiver.json_url(), FAIL_DISK="1")
    [record] = alerts_of(result, state="sent")
    assert {name: answer["state"] for name, answer in record["channels"].items()} == {"webhook": "sent",
                                                                                      "notify": "sent"}, record
    assert len(receiver.bodies(f"/hook/{TOKEN}")) == 1 and len(receiver.bodies()) == 1


def test_a_url_apprise_cannot_parse_stops_the_run_before_any_check_masked(notifying, receiver):
    result = notifying(DIGITALME_NOTIFY=f"{receiver.json_url()} nosuchservice://{TOKEN}@host/{PASSWORD}")
    assert result.returncode == 4, result
    assert "DIGITALME_NOTIFY=*** (from environment DIGITALME_NOTIFY)" in result.stderr, result
    assert "URL 2 of 2 (nosuchservice://***) is not a URL Apprise can parse" in result.stderr
    output = result.stdout + result.stderr
    assert TOKEN not in output and PASSWORD not in output and "Traceback" not in output
    assert result.doc is None and receiver.posts == []


def test_no_apprise_url_or_password_reaches_the_results_record_state_or_terminal(notifying, mailbox):
    down = f"json://127.0.0.1:{free_port()}/notify/{TOKEN}"
    urls = f"{mailbox.url('sysadmin@your-domain.com')} {down}"
    runs = [notifying(DIGITALME_NOTIFY=urls, FAIL_DISK="1", DIGITALME_ALERT_BUDGET_S="3"),
            notifying("--alerts", "dry-run", DIGITALME_NOTIFY=urls, FAIL_MEMORY="1"),
            notifying(DIGITALME_NOTIFY=f"mailto://{USER.replace('@', '%40')}:wrong-{PASSWORD}@127.0.0.1:"
                      f"{mailbox.port}?from=ops@your-domain.com&to=x@your-domain.com", FAIL_MEMORY="1")]
    assert alerts_of(runs[0], state="queued") and alerts_of(runs[1], state="dry-run")
    assert alerts_of(runs[2], state="queued")[0]["reason"].startswith("1 of 1 Apprise URLs: not sent")
    written = [r.stdout + r.stderr for r in runs]
    written += [p.read_text(errors="replace") for p in runs[0].report_dir.rglob("*") if p.is_file()]
    for text in written:
        assert TOKEN not in text and PASSWORD not in text and "Sm7p" not in text


def test_a_run_without_apprise_urls_never_imports_apprise(mini_project, tmp_path):
    marker = tmp_path / "imported.txt"
    run = mini_project(CHECKS, conftest_extra=f'''
        def pytest_unconfigure(config):
            import sys
            open({str(marker)!r}, "w").write(str("apprise" in sys.modules))
    ''')
    result = run(env={"FAIL_DISK": "1", "DIGITALME_MAINTENANCE_WINDOW": "off"})
    assert result.returncode == 1, result
    assert marker.read_text() == "False"


def test_each_targets_own_apprise_urls_hear_only_its_alerts_titled_with_its_name(notifying, receiver, tmp_path):
    targets = tmp_path / "targets.toml"
    targets.write_text(f'[targets.prod]\nnotify = "{receiver.json_url()}"\n\n'
                       f'[targets.staging]\nbase_url = "http://127.0.0.2"\n')
    result = notifying(DIGITALME_TARGETS=targets, FAIL_DISK="1")
    assert result.returncode == 1, result
    [posted] = receiver.bodies()
    assert posted["title"] == "[CRITICAL] DigitalMe prod: / is 91% used", posted
    assert [a["state"] for a in alerts_of(result, target="staging")] == ["unrouted"]
    assert TOKEN not in result.stdout + result.stderr and "Warning" not in result.stderr, result


def test_an_alert_one_channel_missed_is_retried_on_that_channel_only(notifying, receiver):
    port = free_port()  # the webhook's receiver: down in the first run
    env = {"DIGITALME_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook/{TOKEN}", "DIGITALME_NOTIFY": receiver.json_url(),
           "DIGITALME_ALERT_BUDGET_S": "3"}
    first = notifying(**env, FAIL_DISK="1")
    [queued] = alerts_of(first, state="queued")
    assert {name: answer["state"] for name, answer in queued["channels"].items()} == {"webhook": "queued",
                                                                                      "notify": "sent"}, queued
    assert queued["reason"].startswith("webhook: receiver unreachable"), queued
    assert [item["channels"] for item in outbox_of(first)] == [["webhook"]], "owed to the webhook only"
    webhook = JsonReceiver(port)
    try:
        second = notifying(**env, FAIL_DISK="1")
    finally:
        webhook.stop()
    assert alerts_of(second, from_outbox=True)[0]["state"] == "sent"
    assert len(webhook.bodies(f"/hook/{TOKEN}")) == 1 and len(receiver.bodies()) == 1


def test_notify_hears_level_3_besides_critical_and_its_resolved_once(notifying, receiver):
    env = {"DIGITALME_NOTIFY": receiver.json_url()}
    notifying(**env, FAIL_INTEGRITY="1")
    titles = sorted(body["title"] for body in receiver.bodies())
    assert titles == ["[CRITICAL] DigitalMe http://localhost: integrity_check: 1 error",
                      "[EMERGENCY] DigitalMe http://localhost: integrity_check: 1 error"], titles
    recovered = notifying(**env)
    assert [body["title"] for body in receiver.bodies()[2:]] == [
        "[RESOLVED] DigitalMe http://localhost: The database passes its integrity check"]
    assert {a["state"] for a in recovered.doc["alerts"]} == {"sent"}
