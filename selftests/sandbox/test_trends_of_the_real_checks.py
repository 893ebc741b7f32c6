"""Every chart the history drew before trends were declared (plugins/outcomes/trends.py LEGACY: the nine trends once keyed by
check-function names) still gets its points, with the same caption and unit, from a run of the real checks against
the sandbox; and the numbers are those the old name-keyed table picked from the same values. The rest of the trends'
rules, on mini projects and as functions: plugin/test_trends.py."""

import json

from conftest import assert_passed

from plugins.outcomes import trends
from plugins.outputs.history import bookkeeping


LEGACY_CHECKS = [legacy.check.split("[")[0] for legacy in trends.LEGACY]


def test_every_chart_of_before_gets_its_points_from_the_real_checks(healthy_sandbox, suite):
    run = suite("-m", "daily or weekly or resources or change", "-k", " or ".join(LEGACY_CHECKS),
                "-p", "no:randomly")
    state = json.loads((run.report_dir / "state" / "history.json").read_text())
    index = (run.report_dir / "index.html").read_text()
    for legacy in trends.LEGACY:
        check = assert_passed(run, legacy.check)
        trend = legacy.trend
        assert check["trend"] is not None and check["trend"]["name"] == trend.name, check
        assert (check["trend"]["title"], check["trend"]["unit"]) == (trend.title, trend.unit), \
            f"{legacy.check}: the chart's caption or unit changed: {check['trend']}"
        assert check["trend"]["value"] == legacy.pick(check["value"]) and \
            trends.number(check["trend"]["value"]) is not None, f"{legacy.check}: not the series of before: {check}"
        assert state["points"][trend.name][""][-1][1] == check["trend"]["value"], (trend.name, state["points"])
        figure = index[index.index(f'aria-label="{trend.title}"'):].split("</svg>")[0]
        assert figure.count("<circle") == 1, f"{trend.title}: expected this run's point, got {figure[:400]}"
    assert index.count("<figure class=\"trend\">") == len(trends.LEGACY), "a chart no check declared"
    # the same results file as an earlier version wrote it (no "trend"): mapped by check id, the same values
    summary = bookkeeping.summarize("x.json", run.results)
    old = {**run.results, "checks": [{k: v for k, v in c.items() if k != "trend"} for c in run.results["checks"]]}
    assert bookkeeping.summarize("x.json", old)["values"] == summary["values"], (summary, old)
    assert set(summary["values"]) == {legacy.trend.name for legacy in trends.LEGACY}, summary["values"]
