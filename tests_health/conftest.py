"""The post-change gate (tests_health/test_change.py): run only when asked for, and its wait counted in its timeout."""

import os
import re

import pytest

from plugins.configuration.markers import schedules_of

WAIT_FIXTURE = "after_change"  # tests_health/test_change.py: waits up to DIGITALME_CHANGE_WAIT_S for healthy
GATE = "change"


def run_timeout_s(config):
    """Each check's timeout as pytest-timeout resolves it, from its documented sources in their order: ``--timeout``,
    then ``PYTEST_TIMEOUT``, then the ``timeout`` ini key; None or 0: timeouts are off (also with ``-p no:timeout``).
    pytest-timeout has already refused an invalid value."""
    if not config.pluginmanager.hasplugin("timeout"):
        return None
    sources = (config.getoption("timeout"), os.environ.get("PYTEST_TIMEOUT"), config.getini("timeout") or None)
    return next((float(value) for value in sources if value is not None), None)


def asked_for_gate(config):
    """``-m`` names the change gate, or its module is named on the command line."""
    return bool(re.search(rf"\b{GATE}\b", config.option.markexpr or "")) or any(
        "test_change.py" in arg for arg in config.args)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Leave out the checks that only the gate runs unless it was asked for: a plain `pytest` runs every schedule,
    and the gate judges a change that was just made (a fresh pre-change backup, no error since the start)."""
    if not asked_for_gate(config):
        left_out = [item for item in items if schedules_of(item) == [GATE]]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if schedules_of(item) != [GATE]]
    # Whichever check of the gate runs first waits in its setup, which pytest-timeout counts: each gets the wait
    # (DIGITALME_CHANGE_WAIT_S of its target) on top of the run's timeout.
    base = run_timeout_s(config)
    if not base:
        return  # timeouts are off: none is added
    from plugins.configuration.targets import target_of, targets_of
    for item in items:
        if WAIT_FIXTURE in getattr(item, "fixturenames", ()):
            wait_s = targets_of(config)[target_of(item)].settings.change_wait_s
            item.add_marker(pytest.mark.timeout(base + wait_s))

