"""Findings first: what an operator reads of a failure (its message, its alert, its line in the record) starts with
what was found, then what was required; a check's title states the target's values, never a setting's name.

The form is ``<what was found> (required: <what the check requires>)``, or ``could not be checked: <what
happened>``; conftest.assert_findings_first holds every failing check of a run to it, and every fault scenario
(test_faults_*.py, through assert_caught) runs it.
"""

import ast

import pytest

from conftest import REPO, assert_findings_first, finding_first_problem
from plugins.configuration.markers import SETTING_FIELD, with_values
from plugins.configuration.settings import BY_NAME

CHECK_FOLDERS = ("tests_health", "tests_backup", "tests_resources", "tests_security")


def suite_checks():
    """(module file, function name, docstring's first line) of every check of the suite, read from the source (as
    the module is written; importing it would need the suite's markers)."""
    found = []
    for path in sorted(p for folder in CHECK_FOLDERS for p in (REPO / folder).glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = (ast.get_docstring(node) or "").strip()
                found.append((path.relative_to(REPO).as_posix(), node.name, doc.splitlines()[0] if doc else ""))
    return found


def test_no_title_names_a_setting():
    """Every check's title names thresholds by a {setting} field (filled with the target's value), never by its
    DIGITALME_ name; every field names a setting, so none is left unfilled."""
    checks = suite_checks()
    assert len(checks) >= 40, f"too few checks found: {len(checks)}"
    named = [(path, name, title) for path, name, title in checks if "DIGITALME_" in title]
    assert not named, f"titles naming a setting instead of its value: {named}"
    unknown = [(name, field) for _, name, title in checks for field in SETTING_FIELD.findall(title)
               if field not in BY_NAME]
    assert not unknown, f"title fields naming no setting: {unknown}"
    filled = {name: with_values(title, None) for _, name, title in checks}
    assert filled["test_enough_recent_backups"] == "At least 3 backups within 7 days.", filled
    assert filled["test_container_memory_below_limit"] == "The app container's memory is below 2.0 GiB.", filled
    assert filled["test_endpoint_answers_within_time"].startswith("The endpoint answers within 1 s "), filled
    assert not [title for title in filled.values() if "{" in title], filled


TITLE = "The app container's Docker health status is healthy (`starting` within its start period is not judged yet)."


@pytest.mark.parametrize("outcome, message, wrong", [
    ("failed", "digitalme-digitalme-1 health is 'unhealthy' after 3 failing probe(s); last probe: 'curl: (22)' "
               "(required: healthy)", False),
    ("error", "could not be checked: the Docker daemon did not answer (connection refused)", False),
    ("failed", TITLE + ": digitalme-digitalme-1 health is 'unhealthy'", True),  # the old alert: the title first
    ("failed", "digitalme-digitalme-1 health is 'unhealthy' after 3 failing probe(s)", True),  # no requirement
    ("failed", "2 backup(s) in the last 7 days < 3", True),  # the old form: a comparison, not the requirement
    ("failed", "expected 200 Healthy, /health answered 503 (required: 200 Healthy)", True),  # the requirement first
    ("error", "could not be checked: ", True),  # nothing found
])
def test_the_form_is_told_apart(outcome, message, wrong):
    """The checker the fault scenarios run fails a message that leads with the requirement or lacks it."""
    problem = finding_first_problem({"outcome": outcome, "message": message, "title": TITLE})
    assert bool(problem) == wrong, (message, problem)


MINI = '''
import pytest


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 5")
def test_enough_recent_backups(check, settings):
    """At least {backups_min} backups within {backup_window_days} days."""
    check.record(5, settings.backups_min)
    assert 5 >= settings.backups_min, (
        f"5 backup(s) in the last {settings.backup_window_days:g} days (required: at least {settings.backups_min})")
'''

MINI_TARGETS = '''
[targets.prod]
base_url = "http://127.0.0.1:9"
[targets.staging]
base_url = "http://127.0.0.1:9"
backups_min = 99
backup_window_days = 2.5
'''


def test_each_targets_title_states_its_own_values(mini_project, tmp_path):
    """One run, two targets: each target's title, alert and record line state that target's values."""
    run = mini_project(MINI)
    (tmp_path / "targets.toml").write_text(MINI_TARGETS)
    fleet = run("-m", "daily", env={"DIGITALME_TARGETS": str(tmp_path / "targets.toml"), "DIGITALME_ALERTS": "dry-run",
                                    "DIGITALME_MAINTENANCE_WINDOW": "off"})
    titles = {c["target"]: c["title"] for c in fleet.results["checks"]}
    assert titles == {"prod": "At least 3 backups within 7 days.", "staging": "At least 99 backups within 2.5 days."}, titles
    staging = fleet.check("test_enough_recent_backups[staging]")
    assert staging["message"] == "5 backup(s) in the last 2.5 days (required: at least 99)", staging
    [alert] = fleet.results["alerts"]
    assert alert["payload"]["title"] == "5 backup(s) in the last 2.5 days", alert
    assert alert["payload"]["message"] == ("5 backup(s) in the last 2.5 days (required: at least 99); "
                                           "check: At least 99 backups within 2.5 days."), alert
    assert_findings_first(fleet)
    single = run("-m", "daily", env={"DIGITALME_BACKUPS_MIN": "6", "DIGITALME_ALERTS": "dry-run"})
    assert single.check("test_enough_recent_backups")["title"] == "At least 6 backups within 7 days.", single
    assert_findings_first(single)
