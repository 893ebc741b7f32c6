"""The Docker SDK, for a tcp:// Docker host only (unix:// and ssh:// go through plugins/probes/docker_api.py)."""

import os
import sys
import threading

from plugins.probes import ProbeError
from plugins.probes.docker_answers import one_line


def _docker():
    """The Docker SDK, imported where first needed (start-up time matters every five minutes). It imports its SSH
    transport, and with it paramiko (~150 ms), whenever paramiko is installed; the suite never uses it (ssh:// goes
    through the system ssh, plugins/probes/ssh.py), so the SDK is imported as if paramiko were absent (its own
    fallback)."""
    if "docker" in sys.modules or "paramiko" in sys.modules:
        import docker
        return _direct(docker)
    sys.modules["paramiko"] = None  # `import paramiko` raises ImportError while this stands
    try:
        import docker
    finally:
        del sys.modules["paramiko"]
    return _direct(docker)


def _direct(docker):
    """The SDK with its API clients never reading the proxy variables: requests would, on every call (the first
    when the client is made), by iterating os.environ, which pytest changes (PYTEST_CURRENT_TEST) while probes run
    in background threads: a KeyError at random. The Docker API is addressed directly, as the endpoints are."""
    # A property, since requests.Session.__init__ sets trust_env = True on each client (this ignores it).
    docker.APIClient.trust_env = property(lambda self: False, lambda self, value: None)
    return docker


def sdk_errors():
    """(NotFound, ImageNotFound, every failure) of the SDK's client."""
    errors = _docker().errors
    import requests.exceptions
    return errors.NotFound, errors.ImageNotFound, (errors.DockerException, requests.exceptions.RequestException,
                                                   OSError)


def connect_tcp(base_url, timeout_s):
    """The SDK's client of ``base_url`` (else DOCKER_HOST) that answered a ping, or a ProbeError. The SDK does not
    bound the connection itself, so it is made in a thread waited for no longer than the timeout."""
    docker = _docker()
    outcome = {}
    # What the SDK reads of the environment, read one by one: this runs in a background thread, and copying
    # os.environ there races with pytest changing it (KeyError).
    environment = {"DOCKER_HOST": base_url, **{name: os.environ.get(name) for name in
                   ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH") if os.environ.get(name)}} if base_url else None

    def connect():
        try:
            client = docker.from_env(timeout=int(max(1, timeout_s)), environment=environment)
            client.ping()
            outcome["client"] = client
        except Exception as e:  # noqa: BLE001 -- socket errors, TLS errors...: all mean "no answer"
            outcome["error"] = e

    worker = threading.Thread(target=connect, name="docker-connect", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ProbeError(f"the Docker daemon did not answer within {timeout_s:g} s") from None
    if "error" in outcome:
        raise ProbeError(f"the Docker daemon did not answer ({one_line(outcome['error'])})") from None
    return outcome["client"]
