"""Troubleshooting's five-minute checklist and Monthly Maintenance 3: what the app's logs say.

``docker-compose logs --tail=100``, ``docker-compose logs --since 720h | grep -i "slow\\|timeout\\|performance"``.
Patterns are the troubleshooting guide's.
"""

import re

import pytest

CRITICAL_PATTERN = re.compile(r"OutOfMemoryException|StackOverflowException|AccessViolationException|FATAL")
ERROR_PATTERN = re.compile(r"ERROR|Exception|fail:")
PERFORMANCE_PATTERN = re.compile(r"slow|timeout|performance", re.IGNORECASE)


def matching(lines, pattern):
    return [line for line in lines if pattern.search(line)]


@pytest.mark.critical
@pytest.mark.monitor
@pytest.mark.daily
def test_no_critical_pattern_in_recent_logs(app_logs, check):
    """No OutOfMemoryException, StackOverflowException, AccessViolationException or FATAL in the last 100 log lines.

    Manual: Troubleshooting five-minute checklist, "no critical errors in the last 100 log lines".
    """
    found = matching(app_logs(tail=100), CRITICAL_PATTERN)
    check.record(len(found), 0)
    check.attach("matching lines", "\n".join(found[-20:]))
    assert not found, f"{len(found)} critical line(s) in the last 100 log lines, e.g. {found[-1].strip()[:160]!r}"


@pytest.mark.warning
@pytest.mark.daily
def test_errors_in_last_day_within_limit(app_logs, settings, check):
    """Error and exception lines in the last 24 h of logs are at most DIGITALME_LOG_ERRORS_MAX.

    Manual: Emergency Restart 3, `docker-compose logs --tail=50 digitalme` (check logs for errors).
    """
    found = matching(app_logs(since_h=24), ERROR_PATTERN)
    check.record(len(found), settings.log_errors_max)
    check.attach("matching lines", "\n".join(found[-20:]))
    assert len(found) <= settings.log_errors_max, (
        f"{len(found)} error line(s) in the last 24 h > {settings.log_errors_max}; latest: {found[-1].strip()[:160]!r}")


@pytest.mark.warning
@pytest.mark.monthly
def test_performance_lines_in_last_month_within_limit(app_logs, settings, check):
    """slow|timeout|performance lines in the last 720 h of logs are at most DIGITALME_LOG_SLOW_MAX.

    Manual: Monthly 3, `docker-compose logs --since 720h | grep -i "slow\\|timeout\\|performance"`.
    """
    found = matching(app_logs(since_h=720), PERFORMANCE_PATTERN)
    check.record(len(found), settings.log_slow_max)
    check.attach("matching lines", "\n".join(found[-20:]))
    assert len(found) <= settings.log_slow_max, (
        f"{len(found)} slow/timeout/performance line(s) in the last 720 h > {settings.log_slow_max}; "
        f"latest: {found[-1].strip()[:160]!r}")
