"""The published schemas (docs/schemas/, issue 26): their reference pages are what scripts/docs_schemas.py makes of
them, byte for byte; their versions and kinds are the code's; and the validation every selftest's results files
and payloads go through (selftests/schema_check.py) does fail on a drifted document, naming where."""

import copy
import importlib.util
import json
import subprocess
import urllib.request

import pytest

import schema_check
from conftest import REPO

RESULTS, ALERT = schema_check.RESULTS, schema_check.ALERT


def schema(name):
    return json.loads((schema_check.SCHEMAS / name).read_text())


def generator():
    spec = importlib.util.spec_from_file_location("docs_schemas", REPO / "scripts" / "docs_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_pages_are_what_the_schemas_make():
    for path, text in generator().pages().items():
        assert path.exists(), f"{path.relative_to(REPO)} is missing: run scripts/docs_schemas.py"
        written = path.read_text()
        if written != text:
            lines = list(zip(written.splitlines(), text.splitlines()))
            n, (was, now) = next(((i, pair) for i, pair in enumerate(lines) if pair[0] != pair[1]),
                                 (len(lines), ("(end)", "(end)")))
            pytest.fail(f"{path.relative_to(REPO)} differs from what the schemas make, first at line {n + 1}:\n"
                        f"  written: {was[:200]!r}\n  made:    {now[:200]!r}\nrun scripts/docs_schemas.py",
                        pytrace=False)


def test_the_check_mode_names_a_stale_page(tmp_path, monkeypatch, capsys):
    docs = generator()
    stale = tmp_path / "results-file.md"
    stale.write_text("an old page\n")
    monkeypatch.setattr(docs, "REPO", tmp_path)
    monkeypatch.setattr(docs, "PAGES", {RESULTS: stale, ALERT: tmp_path / "alert-payload.md"})
    assert docs.main(["--check"]) == 1
    assert "results-file.md, alert-payload.md" in capsys.readouterr().err
    assert stale.read_text() == "an old page\n", "--check wrote a page"


def test_the_schemas_are_draft_2020_12_and_say_what_every_field_means():
    from jsonschema import Draft202012Validator
    for name in (RESULTS, ALERT):
        document = schema(name)
        Draft202012Validator.check_schema(document)
        undescribed = [where for where, node in objects(document) for field, spec in node["properties"].items()
                       if not (spec.get("description") or "").strip() and not where.startswith("$defs/")
                       or not (spec.get("description") or referenced(document, spec)).strip()]
        assert not undescribed, f"{name}: fields without a description: {undescribed}"


def objects(document):
    """(where, node) of the document and every ``$defs`` entry with properties (not a variant's constraints)."""
    found = [("", document)]
    found += [(f"$defs/{name}", node) for name, node in document.get("$defs", {}).items()
              if "properties" in node and "title" in node and "type" in node]
    return found


def referenced(document, spec):
    ref = spec.get("$ref", "")
    return document["$defs"][ref.rsplit("/", 1)[1]].get("description", "") if ref.startswith("#/$defs/") else ""


def test_the_schema_versions_are_the_ones_the_code_writes():
    from plugins.outputs import results
    from plugins.outputs.alerting import records
    written = schema(RESULTS)["properties"]
    assert written["schema_version"]["const"] == results.SCHEMA_VERSION
    assert written["schema"]["const"] == results.SCHEMA == int(results.SCHEMA_VERSION.split(".")[0])
    assert schema(ALERT)["properties"]["schema_version"]["const"] == records.SCHEMA_VERSION


def test_the_schemas_kinds_are_the_codes():
    """A severity, an outcome, a schedule or a waiver state added to the code shows here, not first to a consumer."""
    from plugins.configuration.markers import SEVERITIES
    from plugins.configuration.schedules import SCHEDULES
    from plugins.outcomes import waivers
    from plugins.outcomes.run import OUTCOMES
    defs = schema(RESULTS)["$defs"]
    check = defs["check"]["properties"]
    assert defs["severity"]["enum"] == list(SEVERITIES) == schema(ALERT)["properties"]["severity"]["enum"]
    assert check["outcome"]["enum"] == list(OUTCOMES)
    assert defs["counts"]["required"] == list(OUTCOMES)
    assert check["schedules"]["items"]["enum"] == list(SCHEDULES)
    assert defs["waiver_state"]["properties"]["state"]["enum"] == [waivers.APPLIED, waivers.EXPIRED,
                                                                   waivers.NOT_NEEDED, waivers.UNUSED]


# --- the validation fails on drift ----------------------------------------------------------------------------

def payload(**changed):
    """A firing alert as the suite sends it."""
    sent = {"schema_version": "1.0", "severity": "critical", "service": "DigitalMe", "status": "firing",
            "message": "/ is 91 % used (required: below 80 %); check: Disk use below 80 %",
            "timestamp": "2026-12-08T09:00:12+00:00", "check": "tests_resources/test_host.py::test_disk",
            "title": "/ is 91 % used", "target": "http://localhost", "fingerprint": "0123456789abcdef" * 2,
            "report": "/srv/reports/20261208T090000Z-daily.html", "value": {"/": 91.0}, "threshold": 80}
    return {k: v for k, v in {**sent, **changed}.items() if v is not DROP}


DROP = object()


def results_file():
    """A results file of one failed check and its alert, as the suite writes it."""
    check = {"id": "tests_resources/test_host.py::test_disk", "title": "Disk use below 80 %",
             "manual": "Resource Monitoring: Disk Usage", "severity": "critical", "declared_severity": "critical",
             "schedules": ["daily"], "outcome": "failed", "message": "/ is 91 % used (required: below 80 %)",
             "duration_s": 0.02, "value": {"/": 91.0}, "threshold": 80, "evidence": {}, "target": None,
             "unit": "pct", "level3": None, "waiver": None, "failing_since": "2026-12-08T09:00:00+00:00",
             "failing_runs": 1, "new_finding": True, "blocked_by": None, "trend": None}
    alert = {"payload": payload(), "target": None, "state": "sent", "reason": "", "route": "critical",
             "delivered": True, "attempts": 1, "last_error": None, "from_outbox": False, "from_held": False,
             "from_spool": False, "held_at": None}
    return {"schema": 1, "schema_version": "1.0", "started_at": "2026-12-08T09:00:00+00:00",
            "finished_at": "2026-12-08T09:00:12+00:00", "selection": "daily",
            "target": {"base_url": "http://localhost"},
            "status": "critical", "counts": {"passed": 0, "failed": 1, "skipped": 0, "error": 0, "waived": 0,
                                             "not checked": 0},
            "checks": [check], "waivers": [], "alerts": [alert], "heartbeat": None, "alert_state": None,
            "files": {"json": "/srv/reports/20261208T090000Z-daily.json",
                      "html": "/srv/reports/20261208T090000Z-daily.html"},
            "chain": {"previous": None, "previous_sha256": None, "records": {}}}


def drifted(change):
    document = results_file()
    change(document)
    return document


RESULTS_DRIFTS = {  # a change a consumer would trip over -> where the complaint must point
    "status renamed": (lambda d: d.update(verdict=d.pop("status")), "(the document)"),
    "a new status value": (lambda d: d.update(status="degraded"), "['status']"),
    "a count as text": (lambda d: d["counts"].update(failed="1"), "['counts']['failed']"),
    "an outcome the schema does not know": (lambda d: d["checks"][0].update(outcome="flaky"),
                                            "['checks'][0]['outcome']"),
    "a check field dropped": (lambda d: d["checks"][0].pop("failing_since"), "['checks'][0]"),
    "a local time": (lambda d: d.update(started_at="2026-12-08 10:00:00"), "['started_at']"),
    "a fleet file without its targets' settings": (lambda d: d.update(targets={"prod": "critical"}), "(the document)"),
    "an alert record without its route": (lambda d: d["alerts"][0].pop("route"), "['alerts'][0]"),
    "a payload without its version": (lambda d: d["alerts"][0]["payload"].pop("schema_version"),
                                      "['alerts'][0]['payload']"),
}


def test_a_results_file_as_the_suite_writes_it_matches():
    assert schema_check.problems(results_file(), RESULTS) == []
    assert schema_check.problems(payload(), ALERT) == []


@pytest.mark.parametrize("drift", RESULTS_DRIFTS)
def test_a_drifted_results_file_fails_naming_where(drift, tmp_path):
    change, where = RESULTS_DRIFTS[drift]
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(drifted(change)))
    with pytest.raises(schema_check.SchemaMismatch) as raised:
        schema_check.assert_results_files(tmp_path)  # the hook every subprocess run of the suite goes through
    said = str(raised.value)
    assert f"results file {path} does not match docs/schemas/{RESULTS}" in said and f"at {where}" in said, said


def test_a_suite_run_fails_on_the_drifted_file_it_wrote_not_on_one_a_test_left_before(tmp_path):
    """SuiteRun (every subprocess run of the suite in the selftests): the files written by the run are held to the
    schema; a file that was there before and unchanged (a test's own stand-in for an old or tampered file) is not."""
    from conftest import SuiteRun
    done = subprocess.CompletedProcess(["pytest"], 1, "", "")
    old = tmp_path / "20261201T090000Z-daily.json"
    old.write_text(json.dumps({"schema": 1, "selection": "daily", "status": "ok"}))
    before = schema_check.results_files(tmp_path)
    (tmp_path / "latest.json").write_text(json.dumps(results_file()))
    assert SuiteRun(done, tmp_path, before).report_dir == tmp_path
    (tmp_path / "latest.json").write_text(json.dumps(drifted(lambda d: d.update(status="degraded"))))
    with pytest.raises(schema_check.SchemaMismatch, match=r"latest.json does not match .*\n  at \['status'\]"):
        SuiteRun(done, tmp_path, before)


PAYLOAD_DRIFTS = {
    "the manual's field renamed": payload(severity=DROP, level_name="critical"),
    "an unknown severity": payload(severity="info"),
    "a version the schema does not describe": payload(schema_version="2.0"),
    "a short fingerprint": payload(fingerprint="abc"),
    "a summary that names a check": payload(check="summary", value="3 checks"),
    "a resolved whose title is the finding": payload(status="resolved"),
    "an escalation without its clock": payload(level=3, escalation=True),
}


@pytest.mark.parametrize("drift", PAYLOAD_DRIFTS)
def test_a_drifted_payload_fails_at_the_receiver(drift):
    """What the selftests' webhook receivers do with each POST they get: a drifted payload is a mismatch naming
    the request."""
    problem = schema_check.payload_problem("POST", "/hook/x", json.dumps(PAYLOAD_DRIFTS[drift]).encode())
    assert problem and problem.startswith(f"POST /hook/x does not match docs/schemas/{ALERT}"), problem


def test_the_webhook_receiver_fails_the_test_on_a_drifted_payload():
    from test_alerts import Receiver
    receiver = Receiver(foreign=("/am",))
    try:
        for path, body in (("/hook/a", payload()), ("/hook/b", payload(severity="info")), ("/am", {"alerts": []})):
            request = urllib.request.Request(receiver.url(path), data=json.dumps(body).encode(), method="POST")
            urllib.request.urlopen(request, timeout=5).close()
        with pytest.raises(schema_check.SchemaMismatch) as raised:
            receiver.payloads()
        assert "POST /hook/b does not match" in str(raised.value) and "/hook/a" not in str(raised.value)
        assert "/am" not in str(raised.value), "a path of another format was held to the payload's schema"
    finally:
        receiver.mismatches.clear()
        receiver.stop()


def test_the_behaviour_snapshots_receiver_fails_on_a_drifted_payload():
    from behaviour_capture import Receiver
    request = {"method": "POST", "path": "/hook/all", "body": json.dumps(payload(status="fired")).encode(),
               "signature": None}
    with pytest.raises(schema_check.SchemaMismatch, match=r"(?s)POST /hook/all does not match .*\['status'\]"):
        Receiver.alert_of(request, "secret")


def test_every_variant_the_code_makes_matches():
    """The payloads' kinds side by side: a Level 3 finding, an escalation, a resolved on the emergency route, a
    fleet's flood summary to the emergency route."""
    level3 = payload(level=3, level3="data loss")
    escalation = payload(level=3, escalation=True, first_alerted="2026-12-08T08:00:00+00:00",
                         first_critical="2026-12-08T08:00:00+00:00")
    resolved = payload(status="resolved", title="resolved: Disk use below 80 %", level=3,
                       message="resolved: Disk use below 80 %", value=40.0)
    summary = payload(check="summary", title="12 checks failed on prod", value=12, threshold=10, level=3,
                      target_name="prod", message="12 checks failed on prod: a; b; c; d; e and 7 more")
    for sent in (level3, escalation, resolved, summary):
        assert schema_check.problems(sent, ALERT) == [], sent
    mixed = copy.deepcopy(escalation)
    mixed["level3"] = "data loss"  # a Level 3 finding is never also an escalation: one per episode
    assert schema_check.problems(mixed, ALERT)
