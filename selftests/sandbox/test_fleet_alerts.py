"""Alerts in fleet mode, from the outside: real runs of the suite with a targets file whose targets are all this
session's sandbox, webhooks on a real receiver on 127.0.0.1. One check is enough: test_enough_recent_backups
fails on a target whose backups_min is 99 and passes on the others (the sandbox keeps a few recent backups)."""

import hashlib
import hmac
import json

import pytest

from test_alerts import receiver, window_around_now  # noqa: F401 (fixtures)

BACKUPS = "tests_backup/test_backups.py::test_enough_recent_backups"
TOKENS = {"prod": "T0KEN-prod-4b1e9a", "staging": "T0KEN-stag-7c2f3d", "dev": "T0KEN-dev-9d8e1f"}
SECRETS = {"prod": "s1gn-prod-a1b2c3", "staging": "s1gn-stag-d4e5f6", "dev": "s1gn-dev-0a9b8c"}
FAILING = {"backups_min": 99}  # the sandbox has fewer recent backups than that: the check fails (warning)
NO_PROXY = {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}


def hook_path(name, route="all"):
    """The receiver's path for one target's webhook: it carries that target's token, as real webhook URLs do."""
    return f"/{name}/{route}/{TOKENS[name]}"


def write_targets(path, targets):
    """A targets file: ``{name: {setting: value}}``, every target on the sandbox (the environment's settings)."""
    lines = []
    for name, own in targets.items():
        lines.append(f"[targets.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in own.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def fleet_alerts(healthy_sandbox, suite, tmp_path):
    """``fleet_alerts(targets, *args, **env)``: one run of the backups check on each target of ``targets``, alerts
    on; its results read at once (the next run replaces latest.json)."""
    def run(targets, *args, **env):
        path = write_targets(tmp_path / "targets.toml", targets)
        result = suite(BACKUPS, *args, DIGITALME_TARGETS=path, DIGITALME_ALERTS="on", **NO_PROXY, **env)
        assert "Traceback" not in result.stdout + result.stderr, result
        result.doc = result.results
        return result
    return run


@pytest.fixture
def own_webhook(receiver):
    """``own_webhook(name, **settings)``: a target's settings with its own webhook on the receiver (its own path)
    and its own signing secret; ``own_webhook.url(name, route)`` another of its webhooks."""
    def settings(name, **more):
        return {"webhook_url": receiver.url(hook_path(name)), "webhook_secret": SECRETS[name], **more}
    settings.url = lambda name, route: receiver.url(hook_path(name, route))
    return settings


def signed_by(post, secret):
    return post["headers"].get("X-DigitalMe-Signature") == "sha256=" + hmac.new(
        secret.encode(), post["body"], hashlib.sha256).hexdigest()


@pytest.mark.sandbox
def test_each_targets_alert_names_it_and_goes_to_its_own_webhook(fleet_alerts, receiver, own_webhook,
                                                                 healthy_sandbox):
    """Two targets failing the same check are two alerts, each naming its target (``target_name``, its own URL in
    ``target``) and fingerprinted apart, each posted only to its own target's webhook, signed with its secret.

    Manual: Alerting (a webhook per deployment); issue 13 "Alerts carry the target in payload and fingerprint".
    """
    base_url = healthy_sandbox.settings_env["DIGITALME_BASE_URL"]
    staging_url = base_url.replace("127.0.0.1", "localhost")  # another URL to the same sandbox
    result = fleet_alerts({"prod": own_webhook("prod", **FAILING),
                           "staging": own_webhook("staging", base_url=staging_url, **FAILING),
                           "dev": own_webhook("dev")})
    assert result.returncode == 1, result
    prod, staging = receiver.posts(hook_path("prod")), receiver.posts(hook_path("staging"))
    assert len(prod) == 1 and len(staging) == 1 and not receiver.posts(hook_path("dev")), (
        f"expected one alert on prod's and staging's webhook and none on dev's, got "
        f"{[(r['path'], json.loads(r['body'])['check']) for r in receiver.posts()]}")
    assert len(receiver.posts()) == 2, f"posts beside the targets' webhooks: {[r['path'] for r in receiver.posts()]}"
    for post, name, url in ((prod[0], "prod", base_url), (staging[0], "staging", staging_url)):
        payload = json.loads(post["body"])
        assert payload["target_name"] == name and payload["target"] == url, f"{name}'s alert names {payload}"
        assert payload["check"] == f"{BACKUPS}[{name}]" and payload["status"] == "firing", payload
        assert signed_by(post, SECRETS[name]), f"{name}'s alert is not signed with {name}'s own secret"
    fingerprints = {json.loads(p["body"])["fingerprint"] for p in prod + staging}
    assert len(fingerprints) == 2, f"prod's and staging's alerts share a fingerprint: {fingerprints}"
    records = {(a["target"], a["state"], a["route"]) for a in result.doc["alerts"]}
    assert records == {("prod", "sent", "warning"), ("staging", "sent", "warning")}, result.doc["alerts"]
    assert "DigitalMe alerts: 2 sent [prod: 1 sent; staging: 1 sent]" in result.stdout, result
    record = (result.report_dir / "latest.html").read_text()
    alerts_table = record[record.index("digitalme-alerts"):].split("/table")[0]
    assert "Target" in alerts_table and "staging" in alerts_table, "the record's Alerts table names no target"


@pytest.mark.sandbox
def test_per_severity_webhooks_are_per_target(fleet_alerts, receiver, own_webhook):
    """A target's webhook_url_warning takes its warning alerts; another target's common webhook_url takes its own.

    Manual: Alerting (critical and warning channels), per deployment.
    """
    prod = own_webhook("prod", webhook_url_warning=own_webhook.url("prod", "warning"),
                       webhook_url_critical=own_webhook.url("prod", "critical"), **FAILING)
    fleet_alerts({"prod": prod, "staging": own_webhook("staging", **FAILING)})
    routed = sorted((r["path"], json.loads(r["body"])["target_name"]) for r in receiver.posts())
    assert routed == [(hook_path("prod", "warning"), "prod"), (hook_path("staging"), "staging")], routed


@pytest.mark.sandbox
def test_repeat_and_resolve_are_each_targets_own(fleet_alerts, receiver, own_webhook):
    """Each target keeps its own alert state: prod (repeat interval 0s) is alerted again while staging, recovered,
    gets its resolved on its own webhook, with the fingerprint of its firing alert.

    Manual: Alerting ("resolved" when the check passes again; repeat intervals), per deployment.
    """
    fleet_alerts({"prod": own_webhook("prod", **FAILING), "staging": own_webhook("staging", **FAILING)})
    fleet_alerts({"prod": own_webhook("prod", alert_repeat_warning="0s", **FAILING),
                  "staging": own_webhook("staging")})
    prod, staging = receiver.payloads(hook_path("prod")), receiver.payloads(hook_path("staging"))
    assert [p["status"] for p in prod] == ["firing", "firing"], f"prod's webhook heard {prod}"
    assert [p["status"] for p in staging] == ["firing", "resolved"], f"staging's webhook heard {staging}"
    assert staging[1]["fingerprint"] == staging[0]["fingerprint"] != prod[0]["fingerprint"], (staging, prod)
    assert staging[1]["target_name"] == "staging" and staging[1]["check"] == f"{BACKUPS}[staging]", staging[1]


@pytest.mark.sandbox
def test_a_targets_maintenance_window_holds_only_its_alerts(fleet_alerts, receiver, own_webhook):
    """A target inside its own maintenance window has its alert held; the other target's goes out at once.

    Manual: the maintenance window (Sun 02:00-04:00), per deployment.
    """
    result = fleet_alerts({"prod": own_webhook("prod", maintenance_window=window_around_now(), **FAILING),
                           "staging": own_webhook("staging", **FAILING)})
    states = {(a["target"], a["state"]) for a in result.doc["alerts"]}
    assert states == {("prod", "held"), ("staging", "sent")}, result.doc["alerts"]
    assert [p["target_name"] for p in receiver.payloads()] == ["staging"], receiver.payloads()


@pytest.mark.sandbox
def test_a_flood_sends_one_summary_per_target_to_its_own_webhook(fleet_alerts, receiver, own_webhook):
    """Beyond alerts_max_per_run in the run, each target concerned gets one summary naming it, on its own webhook.

    Manual: Alerting (no alert storms).
    """
    result = fleet_alerts({"prod": own_webhook("prod", **FAILING), "staging": own_webhook("staging", **FAILING)},
                          DIGITALME_ALERTS_MAX_PER_RUN="1")
    for name in ("prod", "staging"):
        [summary] = receiver.payloads(hook_path(name))
        assert summary["check"] == "summary" and summary["target_name"] == name, summary
        assert summary["message"].startswith(f"1 checks failed on {name}: "), summary
    assert sorted((a["target"], a["state"]) for a in result.doc["alerts"]) == [
        ("prod", "sent"), ("prod", "summarised"), ("staging", "sent"), ("staging", "summarised")], result.doc["alerts"]


@pytest.mark.sandbox
def test_no_targets_webhook_or_secret_is_written_or_printed(fleet_alerts, receiver, own_webhook, tmp_path):
    """Every target's webhook URLs and signing secret, used or not, stay out of stdout, stderr, the results file,
    the record and the alert state, at full verbosity.

    Manual: Security (secrets never in logs or reports).
    """
    targets = {"prod": own_webhook("prod", alert_repeat_warning="0s", **FAILING), "staging": own_webhook("staging"),
               "dev": own_webhook("dev", webhook_url_critical=own_webhook.url("dev", "critical"))}
    result = fleet_alerts(targets, "-vv", "-rA", "--tb=long", "--showlocals")
    dry = fleet_alerts(targets, "--alerts", "dry-run")
    assert receiver.posts(hook_path("prod")) and result.doc["alerts"], "no alert went out: the secrets were not used"
    shown = "DigitalMe alert (dry-run, prod's warning webhook): "
    assert any(line.startswith(shown) for line in dry.stdout.splitlines()), f"no line {shown!r}: {dry!r}"
    places = {"stdout": result.stdout + dry.stdout, "stderr": result.stderr + dry.stderr,
              **{str(p): p.read_text(errors="replace") for p in (tmp_path / "reports").rglob("*") if p.is_file()}}
    assert any(p.endswith(".html") for p in places) and any(p.endswith("state.json") for p in places), sorted(places)
    leaks = [f"{name}'s {secret!r} in {where}" for where, text in places.items() for name in TOKENS
             for secret in (TOKENS[name], SECRETS[name]) if secret in text]
    assert not leaks, "secret leaked: " + "; ".join(leaks)
