"""Log entries written into the sandbox's log stream, as ASP.NET's console logger writes them, judged by
tests_health/test_logs.py: entries counted, not lines; startup warnings not errors; a critical entry reported
once per schedule."""

import pytest

from sandbox import CONTAINER
from conftest import assert_caught, assert_passed

pytestmark = pytest.mark.sandbox
LOGS = "tests_health/test_logs.py"
CRITICAL = f"{LOGS}::test_no_critical_pattern_in_recent_logs"
ERRORS = f"{LOGS}::test_errors_in_last_day_within_limit"
SLOW = f"{LOGS}::test_performance_lines_in_last_month_within_limit"


@pytest.fixture
def healthy_sandbox(healthy_sandbox):
    """The healthy sandbox with a log of its own start only: earlier scenarios leave entries (a database write
    that failed while the file was moved aside) that would change these counts, and recreating clears them."""
    healthy_sandbox.recreate_on_restore = True
    healthy_sandbox.restore()
    return healthy_sandbox


def failed_request(sandbox, n):
    """A failed request as the app logs it: two lines, the second naming the exception."""
    sandbox.log_entry("fail", "DigitalMe.Controllers.ChatController[0]",
                      f"Request {n} failed: System.InvalidOperationException: Claude API answered 500")


def test_six_failed_requests_are_six_errors_within_a_limit_of_ten(healthy_sandbox, suite):
    """12 lines, 6 entries: the limit of 10 holds (counting lines read 12 > 10)."""
    for n in range(6):
        failed_request(healthy_sandbox, n)
    run = suite(ERRORS, DIGITALME_LOG_ERRORS_MAX="10")
    check = assert_passed(run, "test_errors_in_last_day_within_limit")
    assert check["value"] == 6, check
    assert check["evidence"]["error entries"].count("Request ") == 6


def test_errors_in_the_last_day_beyond_the_limit_are_a_warning(healthy_sandbox, suite):
    for n in range(3):
        failed_request(healthy_sandbox, n)
    run = suite(ERRORS, DIGITALME_LOG_ERRORS_MAX="2")
    assert_caught(run, "test_errors_in_last_day_within_limit", "warning",
                  r"^3 error entries in the last 24 h; latest: 'fail: DigitalMe\.Controllers\.ChatController\[0\] "
                  r"Request 2 failed: System\.InvalidOperationException.* \(required: at most 2\)$")


def test_startup_warnings_are_neither_errors_nor_critical(healthy_sandbox, suite):
    """Every start logs two DataProtection warn entries (and Lifetime info): after two starts, zero errors."""
    healthy_sandbox.docker("restart", "--time", "1", CONTAINER)
    healthy_sandbox.wait_healthy()
    logs = healthy_sandbox.docker("logs", CONTAINER).stdout
    for header in ("warn: Microsoft.AspNetCore.DataProtection.Repositories.FileSystemXmlRepository[60]\n      Storing keys",
                   "warn: Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager[35]\n      No XML encryptor",
                   "info: Microsoft.Hosting.Lifetime[14]\n      Now listening on: ",
                   "info: Microsoft.Hosting.Lifetime[0]\n      Application started."):
        assert logs.count(header) >= 2, f"the sandbox does not log {header!r} at every start:\n{logs[-2000:]}"
    run = suite(ERRORS, CRITICAL, SLOW, DIGITALME_LOG_ERRORS_MAX="0", DIGITALME_LOG_SLOW_MAX="0")
    assert assert_passed(run, "test_errors_in_last_day_within_limit")["value"] == 0
    assert_passed(run, "test_no_critical_pattern_in_recent_logs")
    assert_passed(run, "test_performance_lines_in_last_month_within_limit")


def test_critical_entry_is_a_finding_once_per_schedule(healthy_sandbox, suite):
    """First monitor run: critical. Second monitor run: reported before, passes. First daily run: critical."""
    healthy_sandbox.log_entry("crit", "DigitalMe.Program[0]", "FATAL: injected by the selftest")
    first = suite(CRITICAL, "-m", "monitor")
    check = assert_caught(first, "test_no_critical_pattern_in_recent_logs", "critical",
                          r"^1 new critical entry in the last 100 log lines, "
                          r"e\.g\. 'crit: DigitalMe\.Program\[0\] FATAL: injected by the selftest' \(required: none\)$")
    assert "FATAL: injected by the selftest" in check["evidence"]["new critical entries"]
    assert (first.report_dir / "state" / "log-entries-monitor.json").is_file()

    again = suite(CRITICAL, "-m", "monitor")
    check = assert_passed(again, "test_no_critical_pattern_in_recent_logs")
    assert check["value"] == {"new": 0, "reported before": 1}, check
    earlier = check["evidence"]["critical entries an earlier 'monitor' run reported"]
    assert "(first reported 20" in earlier and "FATAL: injected by the selftest" in earlier

    daily = suite(CRITICAL, "-m", "daily")
    assert_caught(daily, "test_no_critical_pattern_in_recent_logs", "critical", r"^1 new critical entry ")


def test_entries_are_matched_on_their_continuation_lines_and_category(healthy_sandbox, suite):
    """An OutOfMemoryException in a stack trace is found and named with its entry's level and category; an
    entry whose category names performance counts once."""
    healthy_sandbox.log_entry("fail", "Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware[1]",
                              "An unhandled exception has occurred while executing the request.",
                              stack=("System.OutOfMemoryException: Insufficient memory to continue the execution.",
                                     "   at DigitalMe.Services.ConversationService.LoadHistory(Int32 id)"))
    for n in range(3):
        healthy_sandbox.log_entry("warn", "DigitalMe.Services.PerformanceMonitor[0]",
                                  f"Request {n} POST /api/chat took 2300 ms")
    run = suite(CRITICAL, SLOW, DIGITALME_LOG_SLOW_MAX="2")
    check = assert_caught(run, "test_no_critical_pattern_in_recent_logs", "critical",
                          r"^1 new critical entry in the last 100 log lines, e\.g\. "
                          r"'fail: Microsoft\.AspNetCore\.Diagnostics\.ExceptionHandlerMiddleware\[1\] An unhandled")
    assert "at DigitalMe.Services.ConversationService.LoadHistory" in check["evidence"]["new critical entries"]
    assert_caught(run, "test_performance_lines_in_last_month_within_limit", "warning",
                  r"^3 slow/timeout/performance entries in the last 720 h; latest: "
                  r"'warn: DigitalMe\.Services\.PerformanceMonitor\[0\] Request 2 POST /api/chat took 2300 ms' "
                  r"\(required: at most 2\)$")


def test_entry_logged_at_crit_is_critical_whatever_it_says(healthy_sandbox, suite):
    """ASP.NET's Critical level is "a failure that requires immediate attention", the manual's critical."""
    healthy_sandbox.log_entry("crit", "Microsoft.AspNetCore.Server.Kestrel[0]", "Unable to start Kestrel.",
                              stack=("System.IO.IOException: Failed to bind to address http://[::]:80: address already in use.",))
    run = suite(CRITICAL)
    assert_caught(run, "test_no_critical_pattern_in_recent_logs", "critical",
                  r"^1 new critical entry .* e\.g\. 'crit: Microsoft\.AspNetCore\.Server\.Kestrel\[0\] Unable to start Kestrel\.")
