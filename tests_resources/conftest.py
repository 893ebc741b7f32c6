"""The host's figures for Resource Monitoring (plugins/probes/host.py), per host of testinfra's ``host``.

``host`` is the target's testinfra host (plugins/configuration/targets.py), so ``--hosts ssh://user@prod`` (or a target's ``host``)
runs these checks on the production host.
"""

import pytest


@pytest.fixture(scope="module")
def host_facts(host, host_facts_by_host):
    """This host's figures, read once per run in the background (see conftest.py)."""
    facts = host_facts_by_host.get(host.backend.get_pytest_id())
    if facts is None:  # a host the background read did not know of: read it now
        from plugins.probes.host import HostFacts
        facts = HostFacts(host)
    if isinstance(facts, Exception):
        raise facts
    return facts
