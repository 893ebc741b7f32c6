"""Secrets never leak, from the real suite against the sandbox: its log holds the target's secrets (keys, tokens,
passwords, a private key), the run is as verbose as it gets (-vv -rA --tb=long --showlocals, junit.xml), alerts on;
no output, file or webhook payload holds one, and the evidence shows each masked. The same on mini projects, and
the masking as functions: plugin/test_secrets.py."""

import json

import pytest

from test_alerts import receiver  # noqa: F401 (receiver is a fixture)
from test_secrets import (HEARTBEAT_TOKEN, MASK_MARK, PEM_SECOND_LINE, SIGNING_SECRET, TARGET_SECRETS, WEBHOOK_TOKEN,
                          files_written)


@pytest.mark.sandbox
def test_secrets_in_the_targets_log_and_settings_reach_no_output_at_full_verbosity(healthy_sandbox, suite, receiver,
                                                                                   tmp_path):
    for kind, (text, _, _) in TARGET_SECRETS.items():
        first, *rest = text.split("\n")  # a PEM block's lines go on the entry's indented continuation lines
        healthy_sandbox.log_entry("crit", "DigitalMe.Services.ClaudeService[0]", f"FATAL {kind}: {first}", rest)
    webhook, heartbeat = receiver.url("/hook/" + WEBHOOK_TOKEN), receiver.url("/ping/" + HEARTBEAT_TOKEN)
    junit = tmp_path / "junit.xml"
    run = suite("tests_health/test_logs.py::test_no_critical_pattern_in_recent_logs", "-vv", "-rA", "--tb=long",
                "--showlocals", f"--junitxml={junit}", DIGITALME_ALERTS="on", DIGITALME_WEBHOOK_URL=webhook,
                DIGITALME_WEBHOOK_SECRET=SIGNING_SECRET, DIGITALME_HEARTBEAT_URL=heartbeat,
                NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    check = run.check("test_no_critical_pattern_in_recent_logs")
    assert run.returncode == 1 and check["outcome"] == "failed", run
    [payload] = receiver.payloads("/hook/" + WEBHOOK_TOKEN)
    places = {"stdout": run.stdout, "stderr": run.stderr, "webhook payload": json.dumps(payload, ensure_ascii=False),
              **{str(p): text for p, text in files_written(tmp_path).items()}}
    assert str(junit) in places and any(p.endswith(".html") for p in places), sorted(places)
    secrets = [webhook, heartbeat, WEBHOOK_TOKEN, HEARTBEAT_TOKEN, SIGNING_SECRET, PEM_SECOND_LINE,
               *(hidden for _, hidden, _ in TARGET_SECRETS.values())]
    leaks = [f"{secret!r} in {where}" for where, text in places.items() for secret in secrets if secret in text]
    assert not leaks, "secret leaked: " + "; ".join(leaks)
    evidence = check["evidence"]["new critical entries"]
    missing = [shown for _, _, shown in TARGET_SECRETS.values() if shown not in evidence]
    assert not missing, f"masked prefixes {missing} not in the evidence:\n{evidence}"
    assert MASK_MARK in check["message"] and MASK_MARK in payload["message"], (check["message"], payload["message"])
