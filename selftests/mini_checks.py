"""The mini projects' alerting checks, in pieces (a test file joins those it needs with :func:`checks`): each breaks
on an environment variable (``FAIL_DISK``, ``FAIL_MEMORY``, ``HEALTH=Degraded``...), so one project serves a
test's every run. Source text, indented as the test files write it (``mini_project`` dedents)."""

HEADER = '''
    import os

    import pytest
'''

DISK = '''

    @pytest.mark.critical
    @pytest.mark.monitor
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(check):
        """Disk use below 80%"""
        used = 91 if os.environ.get("FAIL_DISK") else 40
        check.record(used, 80)
        assert used < 80, f"/ is {used}% used (required: below 80%)"
'''

MEMORY = '''

    @pytest.mark.warning
    @pytest.mark.monitor
    @pytest.mark.manual("Resource Monitoring: Memory Usage")
    def test_memory(check):
        """Memory use below 85%"""
        assert not os.environ.get("FAIL_MEMORY"), "memory is 90% used (threshold 85%)"
'''

MEMORY_RECORDED = '''

    @pytest.mark.warning
    @pytest.mark.monitor
    @pytest.mark.manual("Resource Monitoring: Memory Usage")
    def test_memory(check):
        """Memory use below 85%"""
        used = 90 if os.environ.get("FAIL_MEMORY") else 50
        check.record(used, 85)
        assert used < 85, f"memory is {used}% used (required: below 85%)"
'''

LOGS = '''

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.parametrize("n", range(4))
    @pytest.mark.manual("Troubleshooting Guide: Log patterns")
    def test_log(n):
        """Log errors within limits"""
        assert not os.environ.get("FAIL_LOGS"), f"log {n}: 12 errors (threshold 10)"
'''

HEALTH = '''

    @pytest.mark.critical
    @pytest.mark.monitor
    @pytest.mark.manual("Morning Health Check 2")
    def test_health(check):
        """/health answers Healthy"""
        answer = os.environ.get("HEALTH", "Healthy")
        if answer == "Degraded":
            check.lower_to_warning()
        assert answer == "Healthy", f"/health answered {answer}"
'''

LEAKY = '''

    @pytest.mark.critical
    @pytest.mark.monitor
    @pytest.mark.manual("Troubleshooting Guide: Log patterns")
    def test_leaky():
        """A check whose message carries a secret"""
        assert not os.environ.get("FAIL_LEAKY"), "answer mentions " + os.environ.get("DIGITALME_WEBHOOK_SECRET", "")
'''


def integrity(schedule, level3=False):
    """The integrity check, run by ``schedule``; with ``level3``, an emergency (data loss)."""
    emergency = '\n    @pytest.mark.emergency("data loss")' if level3 else ""
    return f'''

    @pytest.mark.critical{emergency}
    @pytest.mark.{schedule}
    @pytest.mark.manual("Weekly Maintenance 2")
    def test_integrity():
        """The database passes its integrity check"""
        assert not os.environ.get("FAIL_INTEGRITY"), "integrity_check: 1 error (required: ok)"
'''


def checks(*pieces):
    """One test module's source: the imports, then ``pieces`` in order."""
    return HEADER + "".join(pieces)
