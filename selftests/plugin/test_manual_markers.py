"""Each check names the manual lines it enforces in a ``manual`` marker: every check line of the manual is enforced
by a check and every check names a line; the list in plugins/configuration/manual.py is the manual's, compared with the manual
where it is at hand; a check naming no line, or one that is not there, stops the run at collection."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import REPO, run_pytest
from plugins.configuration.manual import CHECK_LINES, GUIDES, MANUAL, SECTIONS

# Writes {check id: the lines its marker names} of every collected check, before -m or anything deselects one.
DUMP = '''
import json, os
import pytest
from plugins.configuration.markers import manual_lines_of

@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(items):
    with open(os.environ["MANUAL_DUMP"], "w") as f:
        json.dump({item.nodeid: manual_lines_of(item) for item in items}, f)
    yield
'''


def manual_text():
    """The manual: $OPERATIONS_MANUAL, or shared/reference/ beside a folder above the repository; else skip."""
    candidates = [Path(os.environ["OPERATIONS_MANUAL"])] if os.environ.get("OPERATIONS_MANUAL") else []
    candidates += [folder / "shared" / "reference" / MANUAL for folder in REPO.parents]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        pytest.skip(f"{MANUAL} is not at hand (set OPERATIONS_MANUAL to its path)")
    return found.read_text()


def text_under(document, heading):
    """The text from ``heading`` (a line of the document) to the next heading of its kind."""
    lines = document.splitlines()
    assert heading in lines, f"{heading!r} is not a line of {MANUAL}"
    start = lines.index(heading) + 1
    ends = r"^#{2,3} " if heading.startswith("#") else r"^#{2,3} |^\*\*[^\d].*:\*\*$"
    end = next((i for i in range(start, len(lines)) if re.match(ends, lines[i])), len(lines))
    return "\n".join(lines[start:end])


def section_text(document, section):
    text = document
    for heading in section.heading:
        text = text_under(text, heading)
    return text


def test_every_check_line_of_the_manual_is_enforced_and_every_check_names_one(tmp_path):
    """The real suite's checks, as collected: each names at least one check line, and each check line of the
    manual (and of the guides it names) is named by at least one check."""
    (tmp_path / "manual_dump.py").write_text(DUMP)
    dump = tmp_path / "checks.json"
    run = run_pytest(REPO, ["--collect-only", "-q", "-p", "manual_dump"],
                     {"PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}", "MANUAL_DUMP": str(dump)}, tmp_path / "reports")
    assert run.returncode == 0, run
    checks = json.loads(dump.read_text())
    assert len(checks) >= 50, sorted(checks)
    unnamed = sorted(check for check, lines in checks.items() if not lines or set(lines) - set(CHECK_LINES))
    assert not unnamed, f"checks naming no check line: {unnamed}"
    enforced = {line for lines in checks.values() for line in lines}
    assert not set(CHECK_LINES) - enforced, f"check lines no check enforces: {sorted(set(CHECK_LINES) - enforced)}"


def test_the_list_of_sections_is_the_manuals():
    """Every ### heading of the manual is a section of the list (with its lines, or the reason it holds none);
    every numbered step and named item the manual has under a heading is in the list with the manual's words,
    and every line of the list is found there; the two guides are the ones the manual names."""
    document = manual_text()
    headings = {line for line in document.splitlines() if line.startswith("### ")}
    assert headings == {section.heading[0] for section in SECTIONS}, headings ^ {s.heading[0] for s in SECTIONS}
    for section in SECTIONS:
        text = section_text(document, section)
        assert section.lines or section.not_checked, section.name
        found = {(m.group(1), m.group(2)) for m in re.finditer(section.items, text, re.MULTILINE)}
        listed = {(line.item, line.text) if line.item.isdigit() else (line.item, "") for line in section.lines}
        assert found <= listed, f"{section.name}: in the manual, not in the list: {sorted(found - listed)}"
        missing = [line.text for line in section.lines if line.text not in text]
        assert not missing, f"{section.name}: in the list, not under {section.heading} in the manual: {missing}"
        if section.lines and section.lines[0].item.isdigit():
            assert found == listed, f"{section.name}: numbered steps differ: {sorted(found ^ listed)}"
    last = document.strip().splitlines()[-1]
    assert all(guide.heading[0] in last for guide in GUIDES), last


CHECKS = '''
import pytest


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 2", "Critical Alerts: Health Check Failure")
def test_health(check):
    """/health answers Healthy."""
    check.record("Healthy", "Healthy")
'''
WRONG = '''

@pytest.mark.warning
@pytest.mark.monthly
def test_forgot_manual(check):
    """No manual marker."""


@pytest.mark.warning
@pytest.mark.monthly
@pytest.mark.manual("Monthly 2")
def test_old_name(check):
    """The old free-text name."""


@pytest.mark.warning
@pytest.mark.change
@pytest.mark.manual("Standard Restart 3")
def test_an_action(check):
    """A step that acts on production."""
'''
UNCLASSIFIED = '''

@pytest.mark.daily
@pytest.mark.manual("Morning Health Check 1")
def test_unclassified(check):
    """No severity."""
'''


def test_the_results_file_shows_the_lines_the_marker_names(mini_project):
    """The results file's ``manual``: each line the marker names, a numbered step with the manual's words."""
    run = mini_project(CHECKS)("-m", "daily", env={"DIGITALME_ALERTS": "off"})
    assert run.returncode == 0, run
    assert run.check("test_health")["manual"] == ("Morning Health Check 2 (Verify application health); "
                                                  "Critical Alerts: Health Check Failure")


def test_a_check_naming_no_line_or_one_not_in_the_manual_is_a_collection_error(mini_project):
    """Exit 4 before any check, even under a -m that would deselect them: each wrong check named, an old name
    with the line meant, an action step refused as not a check line, an unclassified one in the same error; no
    traceback."""
    run = mini_project(CHECKS + WRONG)("-m", "daily", env={"DIGITALME_ALERTS": "off"})
    assert run.returncode == 4 and "Traceback" not in run.stdout + run.stderr, run
    assert "every check needs one manual marker naming the manual's lines it enforces" in run.stderr, run
    assert "tests_mini/test_checks.py::test_forgot_manual (0 manual markers, naming no line)" in run.stderr, run
    assert ("tests_mini/test_checks.py::test_old_name names 'Monthly 2' (did you mean 'Monthly Maintenance 2'?), "
            "not a check line of the manual") in run.stderr, run
    assert "test_an_action names 'Standard Restart 3'" in run.stderr, run
    assert "test_health" not in run.stderr, run
    run = mini_project(CHECKS + WRONG + UNCLASSIFIED)("-m", "daily", env={"DIGITALME_ALERTS": "off"})
    assert run.returncode == 4, run
    assert "test_unclassified (severity markers: none, schedule markers: ['daily'])" in run.stderr, run
    assert "test_forgot_manual (0 manual markers" in run.stderr, run  # both rules' findings in one error
    assert not (run.report_dir / "latest.json").exists(), "a results file was written"
