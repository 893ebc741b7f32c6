"""A waiver end to end on the real suite: the sandbox held to 99 backups, the backup check's finding waived leaves the
run OK (exit 0, no alert) and its entry and record name the waiver; the same run without the waiver fails. The
waivers' rules: unit/test_waivers_file.py and plugin/test_waivers.py."""

import re

import pytest

from test_waivers import DRY_RUN, day, waivers_file

@pytest.mark.sandbox
def test_a_real_finding_waived_on_the_sandbox(healthy_sandbox, suite, tmp_path):
    """The sandbox held to 99 backups: the backup check's finding, waived, leaves the run OK (exit 0, no alert)
    and its entry and record name the waiver; the same run without the waiver fails."""
    path = waivers_file(tmp_path, f'''
        [[waiver]]
        check = "tests_backup/test_backups.py::test_enough_recent_backups"
        reason = "the backup job moves to the new host on Monday"
        owner = "sysadmin@your-domain.com"
        expires = {day(14)}
        message = "in the last 7 days [(]required: at least 99[)]$"
        ''')
    args = ("-k", "test_enough_recent_backups")
    settings = {"DIGITALME_BACKUPS_MIN": "99", **DRY_RUN}
    waived = suite(*args, DIGITALME_WAIVERS=str(path), **settings)
    assert waived.returncode == 0, waived
    check = waived.check("test_enough_recent_backups")
    assert check["outcome"] == "waived" and check["waiver"]["state"] == "applied", check
    assert re.search(r"backup\(s\) in the last 7 days \(required: at least 99\)$", check["message"]), check
    assert waived.results["status"] == "ok" and not waived.results["alerts"], waived.results
    assert "the backup job moves to the new host on Monday" in (waived.report_dir / "latest.html").read_text()
    failed = suite(*args, **settings)
    assert failed.returncode == 1 and failed.check("test_enough_recent_backups")["outcome"] == "failed", failed
