"""What the security checks find in what they read, no sandbox needed: credentials in a log entry, secrets in a JSON
body and in headers, each masked; pending security updates and stale apt lists from apt-get's simulation as Debian
and Ubuntu print it (the failing path the sandbox cannot show: it depends on the machine running the tests). The
faults themselves, for real: sandbox/test_faults_security.py."""

import json


def test_secrets_in_names_each_kind_once_masked():
    """The credentials finding's words for what an entry holds: the redaction module's patterns, the prefix and
    the mask, each kind once (a key logged twice in one entry is one finding)."""
    from plugins.secrets import secrets_in
    text = ("info: DigitalMe.Services.ClaudeApiService[1001]\n      x-api-key: sk-ant-api03-Zq8xWv7Ut6Sr5 again "
            "sk-ant-api03-Zq8xWv7Ut6Sr5; Data Source=/app/data/digitalme.db;Password=Hunt3r2-Pw")
    assert secrets_in(text) == ["Anthropic API key sk-ant-***", "connection-string password Password=***"]
    assert secrets_in("info: Microsoft.Hosting.Lifetime[14]\n      Now listening on: http://[::]:80") == []


def test_security_updates_are_read_from_apt_simulation():
    """The failing path's parsing, on `apt-get -s dist-upgrade` output as Debian and Ubuntu print it, kernel
    updates that `upgrade` keeps back (a new package) included."""
    from plugins.probes import apt
    simulation = (
        "NOTE: This is only a simulation!\n"
        "      apt-get needs root privileges for real execution.\n"
        "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
        "Calculating upgrade...\n"
        "The following NEW packages will be installed:\n  linux-image-6.1.0-28-amd64\n"
        "The following packages will be upgraded:\n  libssl3 linux-image-amd64 openssl tzdata\n"
        "4 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n"
        "Inst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/oldstable-security [amd64])\n"
        "Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/oldstable-security [amd64])\n"
        "Inst linux-image-amd64 [6.1.115-1] (6.1.119-1 Debian-Security:12/oldstable-security [amd64])\n"
        "Inst tzdata [2025b-0+deb12u1] (2025b-0+deb12u2 Debian:12.12/oldstable [all])\n"
        "Inst libc6 [2.35-0ubuntu3.8] (2.35-0ubuntu3.9 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])\n"
        "Conf libssl3 (3.0.17-1~deb12u3 Debian-Security:12/oldstable-security [amd64])\n"
        "Conf linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/oldstable-security [amd64])\n")
    assert [p for p, _ in apt.security_updates(simulation)] == [
        "libssl3", "linux-image-6.1.0-28-amd64", "linux-image-amd64", "libc6"]
    # What `apt-get -s upgrade` says of the same kernel update: kept back, no Inst line, no origin to judge.
    kept_back = ("The following packages have been kept back:\n  linux-image-amd64\n"
                 "0 upgraded, 0 newly installed, 0 to remove and 1 not upgraded.\n")
    assert apt.security_updates(kept_back) == []
    assert apt.security_updates("Reading package lists...\n0 upgraded, 0 newly installed\n") == []
    assert apt.apt_lists_too_old("", 1_000_000) == "apt lists were never updated (/var/lib/apt/lists is empty)"
    assert apt.apt_lists_too_old(str(1_000_000 - 9 * 86400), 1_000_000) == "apt lists are 9 days old"
    assert apt.apt_lists_too_old(str(1_000_000 - 86400), 1_000_000) == ""


def test_secrets_are_found_and_masked():
    from plugins.probes import exposure
    body = json.dumps({"version": "1.0", "configuration": {"anthropicApiKey": "sk-ant-api03-abcdefghijklmnop",
                                                           "jwtKey": "some-long-signing-key-value-xyz",
                                                           "passwordHash": "***", "db": "Data Source=x;Password=hunter2;"},
                       "systemInfo": {"workingSet": 123, "tokenCount": 5}})
    findings = exposure.find_secrets(body)
    assert findings == ["configuration.anthropicApiKey: sk-ant-***", "configuration.jwtKey: ***",
                        "configuration.db: connection-string password Password=***"]
    assert not any(s in " ".join(findings) for s in ("abcdefghijklmnop", "some-long", "hunter2"))
    assert exposure.find_secrets("Healthy") == []
    assert exposure.find_secrets('{"anthropicApiKey": ""}') == []


def test_secrets_in_headers_are_found_and_masked_except_the_clients_own_cookie():
    from plugins.probes.exposure import find_secrets_in_headers
    headers = {"content-type": "application/json", "x-debug-auth": "Bearer abcdefghijklmnopqrstuvwx",
               "set-cookie": "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl; HttpOnly"}
    findings = find_secrets_in_headers(headers)
    assert findings == ["header x-debug-auth: bearer token Bearer ***"], findings
    assert "abcdefghijklmnop" not in " ".join(findings)
