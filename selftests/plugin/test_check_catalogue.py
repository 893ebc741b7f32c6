"""The check catalogue (docs/reference/checks.md) is the checks pytest collects, byte for byte, and what it says of
each check is what the check declares; the whole of ``scripts/docs_reference.py --check`` passes on the committed
pages. (A pytest collection in a subprocess: a plugin test.)"""

import subprocess
import sys

import pytest

from conftest import PYTHON, REPO, run_pytest

sys.path.insert(0, str(REPO / "scripts"))
from docs_catalogue import checks_page, collected_checks  # noqa: E402
from docs_reference import PAGES, stale  # noqa: E402
from plugins.configuration.manual import label_of  # noqa: E402
from plugins.configuration.schedules import SCHEDULES  # noqa: E402
from plugins.configuration.settings import BY_NAME  # noqa: E402
from test_docs_reference import assert_tables_fit  # noqa: E402


@pytest.fixture(scope="module")
def checks():
    return collected_checks()


def test_the_check_catalogue_is_the_collected_checks_byte_for_byte(checks):
    diff = stale(PAGES[1], checks_page(checks))
    assert not diff, (f"{PAGES[1]} differs from the checks: regenerate it with `make reference` "
                      f"(scripts/docs_reference.py) and commit it\n{diff}")


def test_the_catalogue_is_tables_github_and_mkdocs_read_alike(checks):
    assert_tables_fit(checks_page(checks))


def test_the_catalogue_lists_every_check_with_what_it_declares(checks, tmp_path):
    """Every check a plain run collects is in the catalogue with the same id (the results file's), and the
    change gate's too, which a plain run leaves out; each with its severity, schedules, manual lines and title."""
    listed = run_pytest(REPO, ["--collect-only", "-q"], {}, tmp_path / "reports")
    assert listed.returncode == 0, listed
    plain_ids = [line for line in listed.stdout.splitlines() if "::" in line]
    ids = [check["id"] for check in checks]
    assert len(ids) == len(set(ids)) >= 50
    assert set(plain_ids) < set(ids), set(plain_ids) - set(ids)
    assert {check["schedules"] == ["change"] for check in checks if check["id"] not in plain_ids} == {True}
    for check in checks:
        assert check["severity"] in ("critical", "warning") and check["schedules"], check
        assert set(check["schedules"]) <= set(SCHEDULES) and check["manual"] and check["title"], check
        assert set(check["thresholds"]) <= set(BY_NAME) and "{" not in check["title"], check


def test_a_checks_row_says_what_its_source_says(checks):
    """One check read by hand: the row has its markers, its title at the default, its threshold settings."""
    memory = next(c for c in checks if c["id"] == "tests_resources/test_host.py::test_host_memory_below_threshold")
    assert memory == {
        "id": "tests_resources/test_host.py::test_host_memory_below_threshold",
        "module": "tests_resources/test_host.py", "module_doc": memory["module_doc"],
        "title": "Host memory in use is below 85 %.", "severity": "warning", "level3": None,
        "manual": label_of(["Resource Monitoring: Memory Usage", "Warning Alerts: Memory usage >85%"]),
        "schedules": ["daily", "resources"], "measured": "The manual's `free -h`.", "thresholds": ["memory_max_pct"]}
    assert memory["module_doc"].startswith("Resource Monitoring (every 4 hours)")
    restore = [c for c in checks if c["id"].endswith("::test_newest_backup_restores")]
    assert [(c["severity"], c["level3"]) for c in restore] == [("critical", "data loss")]
    backups = next(c for c in checks if c["id"].endswith("::test_enough_recent_backups"))
    assert backups["thresholds"] == ["backups_min", "backup_window_days"]


def test_check_mode_passes_on_the_committed_pages():
    run = subprocess.run([PYTHON, str(REPO / "scripts" / "docs_reference.py"), "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and not run.stdout, run.stdout + run.stderr
