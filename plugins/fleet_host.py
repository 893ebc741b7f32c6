"""Registered only for a fleet run (plugins/targets.py): each target's host checks run on that target's ``host``.

It replaces testinfra's ``host`` fixture, which ``--hosts`` parametrises for the whole run; without a targets
file testinfra's own is used, unchanged.
"""

import pytest


@pytest.fixture(scope="session")
def host(target, pytestconfig):
    """The target's host (its ``host`` setting, else this machine), as testinfra's ``host``."""
    from plugins.targets import testinfra_host
    return testinfra_host(pytestconfig, target.settings)
