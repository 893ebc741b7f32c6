"""Secrets never leak: the suite's own (webhook URLs and secret, heartbeat URL) at any verbosity, the target's
(keys, tokens, passwords, private keys in its logs and answers) in any message, value, evidence, alert, results
file or record, and the .env's values never leave the host. The real suite against the sandbox at full verbosity:
sandbox/test_secrets_at_full_verbosity.py."""

import json

import pytest

from test_alerts import receiver  # noqa: F401 (receiver is a fixture)

WEBHOOK_TOKEN = "T0KEN-wh-7c1d9e"
HEARTBEAT_TOKEN = "HB-T0KEN-3a8f2b"
SIGNING_SECRET = "s1gning-s3cret-5e6f"

CHECK_USING_SETTINGS = '''
    import pytest

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(settings, check):
        """Disk use below the limit"""
        hook = settings.webhook_url  # a local holding a secret, as --showlocals would print it
        used = 91
        check.record(used, settings.disk_max_pct)
        assert used < settings.disk_max_pct, f"/ is {used}% used (required: below {settings.disk_max_pct}%)"
'''


def files_written(root):
    """Every file a run left under ``root`` (results, record, alert state, outbox, junit.xml), but the project."""
    return {path: path.read_text(errors="replace") for path in root.rglob("*")
            if path.is_file() and "tests_mini" not in path.parts and path.name not in ("conftest.py", "pytest.ini")}


@pytest.mark.parametrize("flags", [
    ["-v"], ["-vv"], ["-rA"], ["--tb=long"], ["--tb=short"], ["--tb=native"], ["--showlocals"],
    ["-vv", "--tb=long"], ["-vv", "--tb=native"], ["-vv", "-rA", "--tb=long", "--showlocals"],
    ["-v", "--tb=short", "--showlocals"],
], ids=" ".join)
def test_no_webhook_url_secret_or_heartbeat_url_at_any_verbosity(mini_project, receiver, tmp_path, flags):
    webhook, heartbeat = receiver.url("/hook/" + WEBHOOK_TOKEN), receiver.url("/ping/" + HEARTBEAT_TOKEN)
    junit = tmp_path / "out" / "junit.xml"
    run = mini_project(CHECK_USING_SETTINGS)(*flags, f"--junitxml={junit}", env={
        "DIGITALME_WEBHOOK_URL": webhook, "DIGITALME_WEBHOOK_SECRET": SIGNING_SECRET,
        "DIGITALME_HEARTBEAT_URL": heartbeat, "DIGITALME_MAINTENANCE_WINDOW": "off",
        "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    assert run.returncode == 1, run
    assert receiver.posts("/hook/" + WEBHOOK_TOKEN), "the alert was not sent: the secrets were not in use"
    assert junit.exists() and run.check("test_disk")["outcome"] == "failed"
    outputs = {"stdout": run.stdout, "stderr": run.stderr, **{str(p): text for p, text in files_written(tmp_path).items()}}
    assert any(str(path).endswith(".html") for path in outputs), "no record was written"
    leaks = [f"{secret!r} in {where}" for where, text in outputs.items()
             for secret in (webhook, heartbeat, WEBHOOK_TOKEN, HEARTBEAT_TOKEN, SIGNING_SECRET) if secret in text]
    assert not leaks, "secret leaked: " + "; ".join(leaks)
    if any(flag.startswith("--tb=") for flag in flags):
        assert "Settings(" in run.stdout, "the traceback no longer shows the settings: this test proves nothing"


# The target's secrets, each with the part that must never be shown and the masked prefix that is shown instead.
PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\nggSjAgEAAoIBAQC7pemKeyLine2xyz\n"
       "-----END PRIVATE KEY-----")
TARGET_SECRETS = {
    "Anthropic key": ("ANTHROPIC_API_KEY=sk-ant-api03-Zq8xWv7Ut6Sr5", "api03-Zq8xWv7Ut6Sr5", "sk-ant-***"),
    "JWT": ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMtdXNlci0xIn0.c2lnbmF0dXJlLXBhcnQtOTk",
            "eyJzdWIiOiJvcHMtdXNlci0xIn0", "eyJ***"),
    "bearer": ("Authorization: Bearer b3arerTokenValue0123456789", "b3arerTokenValue0123456789", "Bearer ***"),
    "connection string": ("Server=db;User Id=sa;Password=Hunt3r2-Pw;", "Hunt3r2-Pw", "Password=***"),
    "URL credentials": ("postgres://admin:S3cretPw9@db.internal:5432/app", "S3cretPw9", "postgres://***"),
    "PEM block": (PEM, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw", "-----BEGIN PRIVATE KEY-----***"),
}
PEM_SECOND_LINE = "ggSjAgEAAoIBAQC7pemKeyLine2xyz"
MASK_MARK = "***"

CHECK_QUOTING_THE_TARGET = '''
    import json, os

    import pytest

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Troubleshooting Guide: Log patterns")
    def test_log(check):
        """No critical pattern in the logs"""
        lines = json.loads(os.environ["TARGET_LINES"])
        check.record({"lines": lines}, "none of " + lines[0])
        check.attach("log lines", "\\n".join(lines))
        assert not lines, "FATAL lines in the log: " + " | ".join(lines)
'''


def test_secrets_from_the_target_are_masked_in_results_record_and_alerts(mini_project, receiver, tmp_path):
    lines = [f"FATAL {kind}: {text}" for kind, (text, _, _) in TARGET_SECRETS.items()]
    run = mini_project(CHECK_QUOTING_THE_TARGET)("-v", env={
        "TARGET_LINES": json.dumps(lines), "DIGITALME_WEBHOOK_URL": receiver.url(),
        "DIGITALME_MAINTENANCE_WINDOW": "off", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    assert run.returncode == 1, run
    [payload] = receiver.payloads()
    check = run.check("test_log")
    places = {"stdout": run.stdout, "webhook payload": json.dumps(payload, ensure_ascii=False),
              **{str(p): text for p, text in files_written(tmp_path).items()}}
    assert any(p.endswith(".html") for p in places) and any(p.endswith("latest.json") for p in places)
    leaks = [f"{kind} ({hidden!r}) in {where}" for where, text in places.items()
             for kind, (_, hidden, _) in TARGET_SECRETS.items() for part in (hidden, PEM_SECOND_LINE) if part in text]
    assert not leaks, "target secret leaked: " + "; ".join(leaks)
    for kind, (_, _, shown) in TARGET_SECRETS.items():
        assert shown in check["message"], f"{kind}: {shown!r} not in the message {check['message']!r}"
        assert shown in payload["message"], f"{kind}: {shown!r} not in the alert {payload['message']!r}"
        assert shown in check["evidence"]["log lines"] and shown in json.dumps(check["value"], ensure_ascii=False)
    assert "-----END PRIVATE KEY-----" not in check["evidence"]["log lines"], "the PEM block was not masked whole"


@pytest.mark.parametrize("text, expected", [
    ("x -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nQUJD+/ZGVm==\n-----END RSA PRIVATE KEY----- y",
     "x -----BEGIN RSA PRIVATE KEY-----*** y"),
    ("cut -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\nAAAA (line limit)",
     "cut -----BEGIN OPENSSH PRIVATE KEY-----***(line limit)"),
    ("sk-ant-*** masked before; Bearer ***; Password=***",
     "sk-ant-*** masked before; Bearer ***; Password=***"),
])
def test_redact_masks_whole_pem_blocks_and_is_idempotent(text, expected):
    from plugins.secrets import redact
    assert redact(text) == expected
    assert redact(redact(text)) == expected


# --- the deployment's .env: names and lengths only -------------------------------------------------

NASTY_ENV = "\r\n".join([
    "# full-line comment SECRET=commentvalue",
    "",
    "  export ANTHROPIC_API_KEY=\"sk-ant-api03-quotedvalue123\"",
    "JWT_KEY='single-quoted-jwt-value-longer-than-32'",
    "DOMAIN=digitalme.example.com # the public name",
    "PLAIN=plainvalue12 # trailing comment here",
    "HASH=abc#notacomment",
    "MULTI=\"first-line-of-multi",
    "CONT_KEY=continuation-value-xyz",
    "",
    "last-line-of-multi\"",
    "SQ_MULTI='one-sq",
    "TWO=two-secret-x'",
    "ESC=\"has \\\"escaped\\\" quotes=val\"",
    "QUOTED_COMMENT=\"quoted-value-q\" # comment-q",
    "not a key line=not-a-key-value",
    "EMPTY=",
    "",
])
ENV_KEYS = {"ANTHROPIC_API_KEY": 27, "JWT_KEY": 38, "DOMAIN": 21, "PLAIN": 12, "HASH": 15,
            "MULTI": 19 + 1 + 31 + 1 + 0 + 1 + 18, "SQ_MULTI": 6 + 1 + 16, "ESC": 26, "QUOTED_COMMENT": 14, "EMPTY": 0}
ENV_VALUE_PARTS = ("commentvalue", "quotedvalue", "sk-ant", "single-quoted", "plainvalue", "trailing", "notacomment",
                   "first-line", "CONT_KEY", "continuation", "last-line", "one-sq", "TWO", "two-secret", "escaped",
                   "quoted-value-q", "comment-q", "not a key", "not-a-key", "the public name")


class RecordingHost:
    """testinfra's local host, keeping every command's output: what would leave a remote host."""

    def __init__(self):
        import testinfra
        self.host, self.outputs = testinfra.get_host("local://"), []

    def run(self, command):
        result = self.host.run(command)
        self.outputs.append(result.stdout + result.stderr)
        return result


def test_env_summary_returns_key_names_lengths_and_domain_only(tmp_path):
    env_file = tmp_path / "nasty.env"
    env_file.write_bytes(NASTY_ENV.encode())
    env_file.chmod(0o600)
    from plugins.probes.env import read_env_facts
    host = RecordingHost()
    facts = read_env_facts(host, str(env_file))
    assert facts.key_lengths == ENV_KEYS
    assert facts.domain == "digitalme.example.com" and facts.mode == 0o600 and facts.readable
    output = "".join(host.outputs)
    shown = [part for part in ENV_VALUE_PARTS if part in output]
    assert not shown, f"parts of .env values left the host: {shown}\n{output}"
