"""Troubleshooting's five-minute checklist and Monthly Maintenance 3: what the app's logs say.

``docker-compose logs --tail=100``, ``docker-compose logs --since 720h | grep -i "slow\\|timeout\\|performance"``.
Patterns are the troubleshooting guide's, matched against whole log entries (plugins/probes/logs.py): the
console logger writes each entry as ``<level>: <Category>[<EventId>]`` and indented lines, so one failed
request is one error, not two lines.
"""

import re

import pytest

from plugins.probes.logs import ReportedEntries, entries
from plugins.configuration.markers import selection_of

CRITICAL_PATTERN = re.compile(r"OutOfMemoryException|StackOverflowException|AccessViolationException|FATAL")
PERFORMANCE_PATTERN = re.compile(r"slow|timeout|performance", re.IGNORECASE)
SHOWN_ENTRIES = 20


def count(n, what="entry"):
    return f"{n} {what if n == 1 else what[:-1] + 'ies'}"


def shown(found):
    return "\n".join(entry.shown() for entry in found[-SHOWN_ENTRIES:])


def is_critical(entry):
    """Logged at crit (ASP.NET's "requires immediate attention"), or naming one of the manual's critical patterns."""
    return entry.level == "crit" or entry.matches(CRITICAL_PATTERN)


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
@pytest.mark.manual("Troubleshooting Guide: Five-minute checklist", "Troubleshooting Guide: Log patterns")
def test_no_critical_pattern_in_recent_logs(app_logs, settings, target, pytestconfig, check):
    """No crit entry, OutOfMemoryException, StackOverflowException, AccessViolationException or FATAL in the last 100 log lines.

    The troubleshooting guide's "no critical errors in the last 100 log lines".
    An entry that an earlier run of the same schedule reported is listed as such, not reported on every run.
    """
    schedule = selection_of(pytestconfig)
    found = [entry for entry in entries(app_logs(tail=100)) if is_critical(entry)]
    reported = ReportedEntries(settings.report_dir, schedule, target.name)
    new, earlier = reported.sort_out(found, CRITICAL_PATTERN)
    check.record({"new": len(new), "reported before": len(earlier)}, {"new": 0})
    if reported.problem:
        check.attach("reported entries not remembered", reported.problem)
    check.attach("new critical entries", shown(new))
    if earlier:
        check.attach(f"critical entries an earlier {schedule!r} run reported",
                     "\n".join(f"(first reported {when}) {entry.shown()}" for entry, when in earlier[-SHOWN_ENTRIES:]))
    assert not new, (f"{count(len(new), 'new critical entry')} in the last 100 log lines, "
                     f"e.g. {new[-1].one_line[:160]!r} (required: none)")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Emergency Restart 3", "Troubleshooting Guide: Log patterns")
def test_errors_in_last_day_within_limit(app_logs, settings, check):
    """Error entries (logged at fail or crit) in the last 24 h of logs are at most {log_errors_max}.

    The manual's `docker-compose logs --tail=50 digitalme` (check logs for errors); the
    troubleshooting guide's `ERROR|Exception|fail:`, judged by the entry's level where the logger wrote one.
    """
    found = [entry for entry in entries(app_logs(since_h=24)) if entry.is_error]
    check.record(len(found), settings.log_errors_max)
    check.attach("error entries", shown(found))
    assert len(found) <= settings.log_errors_max, (
        f"{count(len(found), 'error entry')} in the last 24 h; latest: {found[-1].one_line[:160]!r} "
        f"(required: at most {settings.log_errors_max})")


@pytest.mark.warning
@pytest.mark.monthly
@pytest.mark.manual("Monthly Maintenance 3")
def test_performance_lines_in_last_month_within_limit(app_logs, settings, check):
    """Entries naming slow, timeout or performance in the last 720 h of logs are at most {log_slow_max}.

    The manual's `docker-compose logs --since 720h | grep -i "slow\\|timeout\\|performance"`.
    """
    found = [entry for entry in entries(app_logs(since_h=720)) if entry.matches(PERFORMANCE_PATTERN)]
    check.record(len(found), settings.log_slow_max)
    check.attach("matching entries", shown(found))
    assert len(found) <= settings.log_slow_max, (
        f"{count(len(found), 'slow/timeout/performance entry')} in the last 720 h; "
        f"latest: {found[-1].one_line[:160]!r} (required: at most {settings.log_slow_max})")
