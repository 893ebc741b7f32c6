"""Findings first on the real sandbox broken many ways at once: each failing check's message, each alert's title and
message, and each line of the record's failing list lead with what was found (conftest.assert_findings_first);
the titles state the values the run was held to. The form itself and the titles of a fleet:
plugin/test_findings_first.py."""

import pytest

from conftest import assert_caught


# What breaks at once: /health Unhealthy (Docker's health follows), and thresholds the healthy sandbox cannot meet.
STRICT = {"DIGITALME_BACKUPS_MIN": "99", "DIGITALME_DISK_MAX_PCT": "0.5", "DIGITALME_MEMORY_MAX_PCT": "0.5",
          "DIGITALME_CONTAINER_MEMORY_MAX": "1MiB", "DIGITALME_DB_SIZE_MAX": "1KiB", "DIGITALME_CERT_WARN_DAYS": "3650",
          "DIGITALME_IMAGE_MAX_AGE_DAYS": "0.00001", "DIGITALME_DB_FREE_PCT_MAX": "0"}


@pytest.mark.sandbox
def test_a_broken_sandbox_reports_every_finding_first(healthy_sandbox, suite):
    """Every schedule but the change gate, against a sandbox broken many ways at once: each failing check's message,
    each alert's title and message, and each line of the record's failing list lead with what was found; the
    titles state the values this run was held to."""
    healthy_sandbox.control("health", "Unhealthy")
    healthy_sandbox.wait_for("{{.State.Health.Status}}", "unhealthy")
    run = suite("-m", "not change", DIGITALME_ALERTS="dry-run", **STRICT)
    assert_caught(run, "test_health_answers_healthy", "critical",
                  r"^/health answered 503 'Unhealthy' in [\d.]+ s \(required: 200 Healthy\)$")
    failing = [c for c in run.results["checks"] if c["outcome"] in ("failed", "error")]
    assert len(failing) >= 10, [c["id"] for c in failing]
    titles = {c["id"].split("::")[-1].split("[")[0]: c["title"] for c in run.results["checks"]}
    assert titles["test_enough_recent_backups"] == "At least 99 backups within 7 days.", titles
    assert titles["test_filesystems_below_disk_threshold"].startswith("Every real filesystem is below 0.5 % "), titles
    assert titles["test_container_memory_below_limit"] == "The app container's memory is below 1.0 MiB.", titles
    alerts = [a["payload"] for a in run.results["alerts"] if a["payload"]["status"] == "firing"]
    assert alerts, run.results["alerts"]
    by_title = set(titles.values())
    assert not [p["title"] for p in alerts if p["title"] in by_title], "an alert's title is a check's title"
    assert_caught(run, "test_app_container_healthy", "critical",
                  r"health is 'unhealthy' after \d+ failing probe\(s\); last probe: .* \(required: healthy\)$")
