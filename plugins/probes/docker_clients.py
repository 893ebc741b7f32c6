"""The Docker client cache: one DockerProbe per target for the whole run, shared by the checks and the probes'
background threads."""

import threading

import pytest

_CLIENTS = pytest.StashKey[dict]()  # target name -> its DockerProbe
_LOCK = threading.Lock()  # the first user may be the main thread or any probe's thread


def docker_probe(config, target):
    """The target's one DockerProbe (its client is made on first use, by whichever thread comes first)."""
    with _LOCK:
        found = config.stash.setdefault(_CLIENTS, {})
        if target.name not in found:
            from plugins.probes.docker import DockerProbe
            # An ssh:// Docker host is reached with the run's ssh options, as testinfra's hosts are.
            found[target.name] = DockerProbe(target.settings.docker_timeout_s, target.settings.docker_host,
                                             ssh_config=config.option.ssh_config,
                                             ssh_identity=config.option.ssh_identity_file)
        return found[target.name]
