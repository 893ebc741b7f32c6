"""pytest-xdist: ``pytest -m daily -n 4`` makes the same outputs as a serial run, once (plugins/outcomes/run.py,
plugins/pipeline.py): the workers run the checks, the controller owns the run."""

import json
import re

import pytest

from test_alerts import receiver  # noqa: F401 (receiver is a fixture)
from test_prometheus_file import samples, value  # prometheus_client's parser of a .prom file

# Checks whose values are measured at the moment (timings, ages, memory, disk, CPU, the database's size with its
# -wal, which the app writes to): two runs never agree on them,
# so only the shape of their values (the same keys, numbers where numbers were) is compared.
MEASURED_NOW = ("test_endpoint_answers_within_time", "test_newest_backup_fresh", "test_no_backup_dated_in_the_future",
                "test_database_recently_written",
                "test_database_size_below_limit", "test_certificate_valid_for_warning_days",
                "test_certificate_valid_for_critical_days", "test_container_memory_below_limit",
                "test_host_memory_below_threshold", "test_filesystems_below_disk_threshold",
                "test_memory_available_in_container", "test_load_in_container_below_threshold")
# The machine-wide CPU check judges the machine these tests share with other sessions (test_baseline.py): it may
# pass in one run and fail in the next whatever the runner, so it is left out of the comparison.
NOT_COMPARED = "tests_resources/test_host.py::test_cpu_below_threshold_sustained"
SAME = ("id", "title", "manual", "severity", "declared_severity", "schedules", "outcome")


def shape(value):
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return value


def comparable(check):
    """What must be the same in both runs: everything but durations, and measured-now values only by shape."""
    now = check["id"].split("::")[-1].split("[")[0] in MEASURED_NOW
    same = {key: check[key] for key in SAME}
    same["evidence"] = sorted(check["evidence"])
    same["value"] = shape(check["value"]) if now else check["value"]
    same["threshold"] = check["threshold"]
    same["message"] = "" if now and check["outcome"] == "passed" else check["message"]
    return same


def outputs_of(folder):
    """(the results document, its files by kind): asserts each kind was written once."""
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    dated = {kind: [n for n in names if n.endswith("." + kind) and n[0].isdigit()] for kind in ("json", "html")}
    assert len(dated["json"]) == 1 and len(dated["html"]) == 1, f"expected one results file and one record: {names}"
    assert {"latest.json", "latest.html", "index.html"} <= set(names), names
    index = (folder / "index.html").read_text()
    assert index.count("<tr><td>") == 1, "the history should list this one run once"
    return json.loads((folder / dated["json"][0]).read_text()), dated


@pytest.mark.sandbox
def test_daily_under_xdist_writes_the_same_results_once_as_a_serial_run(healthy_sandbox, suite, receiver, tmp_path):
    """``-n 4`` against the sandbox: the same checks, outcomes, severities and values (measured-now ones by shape),
    one results file, one record and one history entry, each alert and the heartbeat sent once, the same
    Prometheus series (the real suite's: response times, the target's status, host checks without ``[local]``)."""
    runs = {}
    for name, flags in (("serial", []), ("xdist", ["-n", "4"])):
        folder = tmp_path / name
        env = {"DIGITALME_REPORT_DIR": folder, "DIGITALME_BACKUPS_MIN": 99, "DIGITALME_ALERTS": "on",
               "DIGITALME_WEBHOOK_URL": receiver.url(f"/hook/{name}"), "DIGITALME_MAINTENANCE_WINDOW": "off",
               "DIGITALME_HEARTBEAT_URL": receiver.url(f"/ping/{name}"), "NO_PROXY": "127.0.0.1",
               "DIGITALME_PROMETHEUS_DIR": folder}
        run = suite("-m", "daily", "--deselect", NOT_COMPARED, *flags, **env)
        assert run.returncode == 1, f"{name}: expected exit 1 (backups below the raised minimum): {run!r}"
        runs[name] = (run, *outputs_of(folder))
    (serial, serial_results, serial_files), (xdist, xdist_results, xdist_files) = runs["serial"], runs["xdist"]
    records = [(tmp_path / name / files["html"][0]).read_text() for name, files in (("serial", serial_files),
                                                                                    ("xdist", xdist_files))]
    cells = [len(re.findall(r"col-severity.{0,80}?font-weight:bold\\&#34;&gt;(?:critical|warning)&lt;", r))
             for r in records]
    assert cells[0] == cells[1] == len(serial_results["checks"]), f"rows with a severity (serial, xdist): {cells}"
    assert "gw3" in xdist.stdout or "4 workers" in xdist.stdout, f"the run did not use 4 workers: {xdist!r}"
    assert len(serial_results["checks"]) >= 20 and NOT_COMPARED not in str(serial_results), serial_results["counts"]
    assert [c["id"] for c in xdist_results["checks"]] == [c["id"] for c in serial_results["checks"]]
    pairs = zip(xdist_results["checks"], serial_results["checks"])
    differ = [f"xdist {mine}\nserial {theirs}" for mine, theirs in pairs if comparable(mine) != comparable(theirs)]
    assert not differ, "\n".join(differ)
    assert (xdist_results["status"], xdist_results["counts"]) == (serial_results["status"], serial_results["counts"])
    failing = [c["id"] for c in serial_results["checks"] if c["outcome"] in ("failed", "error")]
    assert any(i.endswith("test_enough_recent_backups") for i in failing), failing
    for name, (_, results, _) in runs.items():
        posted = [p["check"] for p in receiver.payloads(f"/hook/{name}")]
        assert sorted(posted) == sorted(failing), f"{name}: alerts posted {posted}, failing checks {failing}"
        assert [a["state"] for a in results["alerts"]] == ["sent"] * len(failing), results["alerts"]
        pings = [r["path"] for r in receiver.requests if r["method"] == "GET" and r["path"].startswith(f"/ping/{name}")]
        assert pings == [f"/ping/{name}/fail"], f"{name}: heartbeat pings {pings}"
    assert xdist.stdout.count("DigitalMe: WARNING") + xdist.stdout.count("DigitalMe: CRITICAL") == 1, xdist
    # The Prometheus file of the real suite (issue 23): the same series both ways, read by prometheus_client's parser
    series = {name: samples(tmp_path / name / "digitalme_daily.prom") for name in runs}
    assert set(series["serial"]) == set(series["xdist"]), set(series["serial"]) ^ set(series["xdist"])
    found, labels = series["serial"], {"target": "", "selection": "daily"}
    for endpoint in ("/health", "/health/ready", "/info"):
        assert 0 < value(found, "digitalme_endpoint_response_seconds", endpoint=endpoint, **labels) < 30
    status = {"ok": 0, "warning": 1, "critical": 2}[serial_results["status"]]
    assert value(found, "digitalme_target_status", **labels) == status == value(found, "digitalme_run_status",
                                                                               selection="daily") > 0
    memory = "tests_resources/test_host.py::test_host_memory_below_threshold"
    assert 0 < value(found, "digitalme_check_value_ratio", check=memory, measure="", **labels) < 1
    assert value(found, "digitalme_check_success", check=memory, severity="warning", **labels) in (0, 1)
    assert not [k for k in found if "[local]" in dict(k[1]).get("check", "")], "a host check's label names its host"
    assert not [k for k in found if re.search(r"_(ms|pct|percent|h|hours|days)$", k[0])], sorted({k[0] for k in found})
