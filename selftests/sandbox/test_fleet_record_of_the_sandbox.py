"""The record (plugins/outputs/record/) and the history (plugins/outputs/history/) of a real fleet run: the
selftest sandbox under two names (one held to 99 backups, so it fails), opened in headless Chromium: a summary per
target, the table grouped by target, each target's settings (secrets masked), and each target's status over time.
What needs many runs, on a mini project: plugin/test_fleet_record.py."""

import html
import json
import re

import pytest

from sandbox import targets_file
from test_baseline import BUSY_TEST_MACHINE
from test_record import browse, chromium  # noqa: F401 (chromium is a fixture: Debian's headless Chromium)
from test_fleet_record import INDEX


SECRET = "FLEET-SECRET-4242-do-not-print"


def summary_rows(record):
    """{target: (status, failing-checks cell)} of the record's per-target summary."""
    table = record[record.index('id="digitalme-targets"'):].split("</table>")[0]
    rows = re.findall(r'<tr id="target-([^"]+)"[^>]*>.*?<b [^>]*>(\w+)</b>.*?</td>((?:<td[^>]*>.*?</td>)*)</tr>',
                      table)
    return {name: (status, cells.rsplit("<td", 1)[-1]) for name, status, cells in rows}


@pytest.mark.sandbox
def test_a_fleet_record_and_history_show_each_target(healthy_sandbox, suite, tmp_path, chromium):  # noqa: F811
    """A two-target run: each target's summary with its status, the table grouped by target with the failing
    check under its target, each target's settings without its secret, and each target's status in the history.
    """
    path = targets_file(tmp_path, healthy_sandbox.settings_env, prod={},
                        staging={"backups_min": 99, "webhook_secret": SECRET})
    run = suite("-m", "daily", DIGITALME_TARGETS=str(path), **BUSY_TEST_MACHINE)
    results = run.results
    assert set(results.get("targets", {})) == {"prod", "staging"}, run
    backups = {c["target"]: c for c in results["checks"] if "test_enough_recent_backups" in c["id"]}
    assert backups["staging"]["outcome"] == "failed" and backups["prod"]["outcome"] == "passed", backups
    severity = backups["staging"]["severity"]
    assert results["targets"]["staging"] in ("critical", severity), results["targets"]

    record = (run.report_dir / "latest.html").read_text()
    assert SECRET not in record, "a target's webhook secret is in the record"
    rows = summary_rows(record)
    assert {name: status for name, (status, _) in rows.items()} == {
        name: status.upper() for name, status in results["targets"].items()}, rows
    assert re.search(rf"<li><b [^>]*>{severity.upper()}</b> [^<]*<small>\(check: [^<;]*; test_enough_recent_backups\[staging\], "
                     r"failed\)</small></li>", rows["staging"][1]), rows["staging"]
    assert "test_enough_recent_backups" not in rows["prod"][1], rows["prod"]
    failing = record[record.index('id="digitalme-failing"'):].split("</ol>")[0]
    assert re.search(rf'{severity.upper()}</b> <span class="target">\[staging\]</span> [^<]*<small>\(check: [^<;]*; [^<;]*'
                     r"::test_enough_recent_backups\[staging\];", failing), failing

    data = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', record).group(1)))
    environment = data["environment"]
    assert "Target" not in environment and set(environment["Targets"]) == {"prod", "staging"}, environment
    assert "backups_min=99" in environment["Targets"]["staging"], environment["Targets"]
    assert "backups_min=3" in environment["Targets"]["prod"], environment["Targets"]
    assert "webhook_secret=***" in environment["Targets"]["staging"], environment["Targets"]

    # The table as an auditor sees it: rendered by pytest-html's script in a real browser, grouped by target.
    dom = browse(run.report_dir / "latest.html", "fleet-record")
    assert re.search(r'<th class="sortable[^"]*" data-column-type="target"', dom), "no Target column"
    shown = re.findall(r'<td class="col-target"><span hidden="">[^<]*</span>([^<]*)</td>\s*'
                       r'<td class="col-testId">[^<]*::(\w+)\[([^\]]+)\]</td>', dom)
    assert len(shown) == len(results["checks"]), f"{len(shown)} rows for {len(results['checks'])} checks"
    # The row's target is the one in its test id (``[staging]``, ``[staging-/health]``).
    wrong = [s for s in shown if not (s[2] == s[0] or s[2].startswith(s[0] + "-"))]
    assert not wrong, f"rows whose Target is not their test's: {wrong}"
    order = [target for target, _, _ in shown]
    assert order == sorted(order, key=["prod", "staging"].index), f"not grouped by target: {order}"
    failed = [row for row in re.findall(r'<tr class="collapsible"[^>]*>(.*?)</tr>', dom, re.S)
              if "test_enough_recent_backups[" in row]
    assert any("Failed" in row and ">staging</td>" in row for row in failed), failed

    index = (run.report_dir / INDEX).read_text()
    assert SECRET not in index
    for name, status in results["targets"].items():
        assert re.search(rf'<tr id="target-{name}"><th scope="row">{name}</th><td><b class="status"[^>]*>'
                         rf"{status.upper()}</b>", index), f"{name} {status} not in the history's targets"
    backups_chart = index[index.index("<b>Recent backups</b>"):].split("</figcaption>")[0]
    assert "prod" in backups_chart and "staging" in backups_chart and "(threshold 99)" in backups_chart, \
        backups_chart
    health_chart = index[index.index("<b>/health response time</b>"):].split("</figure>")[0]
    for name in ("prod", "staging"):  # the check's id is [prod-/health]: still the /health trend, per target
        assert re.search(rf"<title>{name}: [^<]* UTC: [\d.]+ s</title>", health_chart), health_chart[:800]
