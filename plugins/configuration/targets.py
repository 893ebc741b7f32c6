"""Targets: the deployments one run checks. One, from the settings, or a fleet, from a targets file
(``DIGITALME_TARGETS``, read by targets_file.py). Per-target values, the ``target`` fixture, stable check ids
(:func:`without_target`, :func:`current_id`) and the xdist scheduling by target: docs/design.md, "Targets and
stable check ids"; for operators: docs/fleet.md.
"""

import dataclasses
import os
import re

import pytest

from plugins import adapters
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets_file import Target, load
from plugins.probes import ProbeError
from plugins.secrets import without_url_credentials

TARGETS = pytest.StashKey[dict]()  # name -> Target, in the file's order; {None: Target} without a file


def fleet(config):
    """True when a targets file names the targets (every check then carries a target parameter)."""
    return any(name is not None for name in config.stash.get(TARGETS, ()))


def targets_of(config):
    return config.stash[TARGETS]


def testinfra_host(config, settings):
    """testinfra's Host for the target's ``host`` (empty: this machine) with the run's ssh options (--ssh-config
    ...), its commands sharing the run's SSH connection to it; testinfra caches hosts, so every caller gets the same
    one. ssh's ConnectTimeout (which also bounds the
    wait for the server's banner) is the target's connect timeout, rounded up, not testinfra's 10 s: a host that
    does not answer costs each run that long (``host = "ssh://...?timeout=20"`` sets it for one target)."""
    import math
    import testinfra
    from plugins.probes.ssh import share_connection
    option = config.option
    return share_connection(testinfra.get_host(settings.host or "local://", connection=option.connection,
                                               ssh_config=option.ssh_config, ssh_identity_file=option.ssh_identity_file,
                                               sudo=option.sudo, sudo_user=option.sudo_user,
                                               timeout=max(1, math.ceil(settings.connect_timeout_s))))


def checked_hosts(config, target):
    """testinfra's hosts of the target: its ``host`` in a fleet, else ``--hosts`` (else this machine), their
    commands sharing the run's SSH connection to each. testinfra's cache hands the checks the same Host objects."""
    if fleet(config):
        return [testinfra_host(config, target.settings)]
    import testinfra
    from plugins.probes.ssh import share_connection
    option = config.option
    specs = option.hosts.split(",") if option.hosts is not None else [None]
    return [share_connection(host) for host in testinfra.get_hosts(
        specs, connection=option.connection, ssh_config=option.ssh_config, ssh_identity_file=option.ssh_identity_file,
        sudo=option.sudo, sudo_user=option.sudo_user, ansible_inventory=option.ansible_inventory,
        force_ansible=option.force_ansible)]


# --- hooks --------------------------------------------------------------------------------------

def configure_targets(config):
    """The targets, from the targets file or the settings (resolved just before: plugins/configuration/stage.py),
    and in fleet mode the targets' own host fixture."""
    base = config.stash[SETTINGS]
    if not base.targets:
        config.stash[TARGETS] = {None: Target(None, base)}
        if base.host and config.option.hosts is None:
            config.option.hosts = base.host  # DIGITALME_HOST is --hosts for the one target
        hosts = [h for h in (config.option.hosts or "").split(",") if h.strip()]
        if len(hosts) > 1:  # the one target has one host: its checks' ids name no host (see the module's doc)
            shown = ", ".join(without_url_credentials(h.strip()) for h in hosts)
            raise pytest.UsageError(f"--hosts names {len(hosts)} hosts ({shown}): a run without a targets "
                                    "file checks one deployment on one host; for several, write a targets file "
                                    "(DIGITALME_TARGETS) with host = \"ssh://...\" in each [targets.<name>]")
        return
    if config.option.hosts is not None:
        raise pytest.UsageError("--hosts does not apply with a targets file: set host = \"ssh://...\" in each "
                                f"[targets.<name>] of {base.targets}")
    path = os.path.expanduser(base.targets)
    targets = load(path, base)
    config.stash[TARGETS] = targets
    secrets = next(iter(targets.values())).settings.also_secret
    config.stash[SETTINGS] = dataclasses.replace(base, also_secret=secrets)


def pytest_generate_tests(metafunc):
    """In fleet mode every check takes each target in turn, as a session-scoped parameter."""
    config = metafunc.config
    if "target" in metafunc.fixturenames and fleet(config):
        names = list(targets_of(config))
        metafunc.parametrize("target", names, indirect=True, scope="session", ids=names)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """In fleet mode (``-n``, ``--dist load`` or ``loadgroup``) the controller hands each worker whole targets.

    xdist's own loadgroup cannot with pytest 9: its workers tag a check's id with its group by setting
    ``item._nodeid``, which pytest 9 no longer reads, so no ``@<group>`` arrives and the checks are spread one by
    one. Here the group is read from the id the controller already has: the target's parameter (xdist's scheduler
    through plugins/adapters.py).
    """
    if not fleet(config) or config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    names = sorted(targets_of(config), key=len, reverse=True)  # "prod-eu" before "prod": ids join with "-"

    def target_in(nodeid):
        params = nodeid.rsplit("@", 1)[0].rpartition("[")[2].rstrip("]")
        return next((n for n in names if params == n or params.startswith(n + "-")), nodeid)
    return adapters.scheduler_by_group(config, log, target_in)


@pytest.fixture(scope="session")
def target(request):
    """The deployment this check looks at (in fleet mode, the check's parameter)."""
    targets = targets_of(request.config)
    return targets[getattr(request, "param", None)]


@pytest.fixture(scope="session")
def host(target, pytestconfig):
    """The target's host, as testinfra's ``host`` (which it replaces, here registered after testinfra's plugin):
    its ``host`` setting in a fleet, else ``--hosts`` / DIGITALME_HOST, else this machine. Not a parameter of
    the checks, unlike testinfra's, so a host check's id is the same whichever host it reads."""
    hosts = checked_hosts(pytestconfig, target)
    if len(hosts) > 1:  # an ansible:// spec naming a group: checking only the first would pass silently
        raise ProbeError(f"--hosts names {len(hosts)} hosts ({', '.join(h.backend.get_pytest_id() for h in hosts)}): "
                         "a run without a targets file checks one host; name each in a targets file instead")
    return hosts[0]


@pytest.fixture(scope="session")
def settings(target):
    """The target's resolved settings (``settings.disk_max_pct`` ...)."""
    return target.settings


@pytest.fixture(autouse=True)
def _checked_target(target):
    """Puts ``target`` in every check's fixtures, so each check runs per target (and its probes start)."""
    return target


def target_of(item):
    """The target name of a check, or None (no targets file)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec is not None else None


def without_target(check_id, target):
    """The check's id without its target's parameter (``test_x[prod-/health]`` -> ``test_x[/health]``,
    ``test_x[prod]`` -> ``test_x``): the id the same check has without a targets file."""
    if not target:
        return check_id
    match = re.fullmatch(r"(.*)\[(.*)\]", check_id)
    if not match:
        return check_id
    name, params = match.groups()
    if params == target:
        return name
    for rest in (params.removeprefix(target + "-"), params.removesuffix("-" + target)):
        if rest != params:
            return f"{name}[{rest}]"
    return check_id


# testinfra's parameter of a host, as ids before stable identities carried it: ``local``, ``ssh://prod.example``,
# ``paramiko://ops@prod`` ... (a check's own parameters are paths such as ``/health``: never ``<scheme>://``)
_HOST_PARAMETER = re.compile(r"\[(?:local|[a-z][a-z0-9+.-]*://[^\[\]]*)\]$")


def current_id(check_id):
    """A check id as written by earlier versions without a targets file (``test_x[local]``, testinfra's host
    parameter) as it is now (``test_x``); any other id unchanged. For stored state only: in a fleet ``[local]``
    may be a target's name."""
    return _HOST_PARAMETER.sub("", check_id) if isinstance(check_id, str) else check_id
