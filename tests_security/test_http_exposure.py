"""What anyone on the network sees of the app: its response headers, what its endpoints disclose, and what its
logs say about attempts to get in.

Each check's ``manual`` marker names its lines: the deployment guide's security headers on every response
(X-Frame-Options, X-Content-Type-Options, CSP, Referrer-Policy, no ``Server`` header); Morning Health Check 2
(``curl -f http://localhost/info``); the troubleshooting guide's security log patterns
``Unauthorized|Forbidden|Invalid.*token|brute.*force|repeated.*failed|suspicious``, and credentials the app wrote
into its own log. A secret is never shown: a finding names where it is and a masked prefix (``sk-ant-***``).
"""

import re

import pytest

from plugins.probes import ProbeError
from plugins.probes.exposure import find_secrets, find_secrets_in_headers
from plugins.probes.logs import ReportedEntries, entries
from plugins.configuration.markers import selection_of
from plugins.secrets import redact, secrets_in

REQUIRED_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy")
VERSION_HEADERS = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version")
VERSION_NUMBER = re.compile(r"\d")
SHOWN = 20  # entries in the evidence
AUTH_FAILURE_PATTERN = re.compile(r"Unauthorized|Forbidden|Invalid.*token|brute.*force|repeated.*failed|suspicious",
                                  re.IGNORECASE)


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Deployment Guide: Security headers")
def test_security_headers_present(endpoints, check):
    """Every answer carries X-Content-Type-Options, X-Frame-Options, Content-Security-Policy and Referrer-Policy,
    and no header reveals the server's version.

    The deployment guide's security headers middleware (X-Frame-Options DENY, nosniff, CSP, Referrer-Policy;
    Kestrel `AddServerHeader = false`).
    """
    answered = {url: answer for url, answer in endpoints.answers.items() if answer.answered}
    if not answered:
        raise ProbeError("no endpoint answered: " + "; ".join(a.describe() for a in endpoints.answers.values()))
    problems, seen = [], {}
    for url, answer in answered.items():
        missing = [name for name in REQUIRED_HEADERS if not answer.headers.get(name.lower(), "").strip()]
        revealing = [f"{name}: {answer.headers[name.lower()]!r}" for name in ("Server", *VERSION_HEADERS)
                     if name.lower() in answer.headers
                     and (name != "Server" or VERSION_NUMBER.search(answer.headers[name.lower()]))]
        seen[url] = {"missing": missing, "revealing": revealing}
        if missing:
            problems.append(f"{url} lacks {', '.join(missing)}")
        if revealing:
            problems.append(f"{url} sends {'; '.join(revealing)} (reveals the version)")
    check.record(seen, {"required": list(REQUIRED_HEADERS), "version-revealing": "none"})
    assert not problems, ("; ".join(problems) + f" (required: {', '.join(REQUIRED_HEADERS)} on every answer, no "
                                                "header revealing the version)")


@pytest.mark.critical
@pytest.mark.emergency("security incident")
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 2", "Deployment Guide: Environment configuration")
def test_endpoints_expose_no_secrets(endpoints, check):
    """/info and the health endpoints expose no secrets (API keys such as sk-ant-..., passwords, connection
    strings, tokens) in their bodies or headers.

    The manual's `curl -f http://localhost/info`; .env keys `ANTHROPIC_API_KEY`, `JWT_KEY`: never shown.
    """
    answered = {url: answer for url, answer in endpoints.answers.items() if answer.answered}
    if not answered:  # nothing looked at is no finding of "no secrets"
        raise ProbeError("no endpoint answered: " + "; ".join(a.describe() for a in endpoints.answers.values()))
    unanswered = [answer.describe() for answer in endpoints.answers.values() if not answer.answered]
    if unanswered:
        check.attach("not looked at (no answer)", "\n".join(unanswered))
    found = {url: find_secrets(answer.body) + find_secrets_in_headers(answer.headers)
             for url, answer in answered.items()}
    check.record({url: len(findings) for url, findings in found.items()}, 0)
    leaks = [f"{url} exposes {finding}" for url, findings in found.items() for finding in findings]
    check.attach("findings (values masked)", "\n".join(leaks))
    assert not leaks, f"{len(leaks)} secret(s) exposed: " + "; ".join(leaks) + " (required: none)"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Troubleshooting Guide: Security log review")
def test_auth_failures_in_last_day_within_limit(app_logs, settings, check):
    """Authentication-failure lines (Unauthorized, Forbidden, invalid token, brute force, repeated failed,
    suspicious) in the last 24 h of logs are at most {log_auth_failures_max}.

    The troubleshooting guide's security patterns `grep -i "Unauthorized\\|Forbidden\\|Invalid.*token\\|brute.*force"`;
    Escalation Level 3 on a suspected breach.
    """
    found = [redact(e.one_line) for e in entries(app_logs(since_h=24)) if e.matches(AUTH_FAILURE_PATTERN)]
    check.record(len(found), settings.log_auth_failures_max)
    check.attach("matching lines (secrets masked)", "\n".join(found[-20:]))
    assert len(found) <= settings.log_auth_failures_max, (
        f"{len(found)} authentication-failure line(s) in the last 24 h; latest: {found[-1].strip()[:160]!r} "
        f"(required: at most {settings.log_auth_failures_max})")


def where_in_the_log(entry):
    """The entry as an operator finds it again: Docker's time, the logger's level, category and event id (never
    its text: that holds the credential)."""
    header = f"{entry.level}: {entry.category}[{entry.event_id}]" if entry.level else "a line outside the logger's format"
    return f"{entry.timestamp[:19] + 'Z' if entry.timestamp else 'no timestamp'} {header}"


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Troubleshooting Guide: Security log review", "Deployment Guide: Environment configuration")
def test_no_credentials_in_app_logs(app_logs, settings, target, pytestconfig, check):
    """No API key, password, token or private key written by the app into its log in the last 24 h; each entry
    holding one is reported once per schedule, by its time and logger category, its value masked.

    The troubleshooting guide's security log review (`docker-compose logs` for the security patterns); .env keys
    `ANTHROPIC_API_KEY`, `JWT_KEY`: never shown. A log that holds them shows them to everyone who reads the logs.
    """
    schedule = selection_of(pytestconfig)
    secrets = {entry: secrets_in(entry.text) for entry in entries(app_logs(since_h=24))}
    reported = ReportedEntries(settings.report_dir, schedule, target.name, finding="credentials")
    new, earlier = reported.sort_out([entry for entry, found in secrets.items() if found])

    def described(entry):
        return f"{where_in_the_log(entry)}: {', '.join(secrets[entry])}"

    check.record({"new": len(new), "reported before": len(earlier)}, {"new": 0})
    if reported.problem:
        check.attach("reported entries not remembered", reported.problem)
    check.attach("new entries holding credentials (values masked)", "\n".join(map(described, new[-SHOWN:])))
    if earlier:
        check.attach(f"entries an earlier {schedule!r} run reported", "\n".join(
            f"(first reported {when}) {described(entry)}" for entry, when in earlier[-SHOWN:]))
    one = len(new) == 1
    assert not new, (f"{len(new)} log entr{'y' if one else 'ies'} of the last 24 h hold{'s' if one else ''} "
                     "credentials: " + "; ".join(map(described, new[-5:]))
                     + " (required: no credentials in the app's log)")
