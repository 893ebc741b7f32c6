"""What the security checks read, each fetched once: the TLS endpoint, and the deployment's .env on the host.

The .env is summarised on the host (plugins/probes/env.py): its mode, owner, key names, value lengths and
``DOMAIN``, never a value.
"""

import ipaddress

import pytest

from plugins.probes.env import read_env_facts


def is_local_name(name):
    """localhost, *.localhost or a loopback address: not a name users reach from elsewhere."""
    name = (name or "").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session")
def https_target(settings):
    """(host, port) of DIGITALME_HTTPS_URL; the check skips where HTTPS does not apply."""
    if not settings.https_url:
        pytest.skip("HTTPS not applicable: DIGITALME_HTTPS_URL is empty")
    from plugins.probes.tls import https_address
    return https_address(settings.https_url)


@pytest.fixture(scope="session")
def tls(https_target, tls):
    """The TLS probe of the HTTPS URL: certificates and protocol handshakes, each made once (the served
    certificate fetched in the background: the ``tls`` probe of plugins/probes/declared.py)."""
    return tls  # the suite's tls probe, where HTTPS applies (https_target skips the check first where it does not)


@pytest.fixture(scope="module")
def users_host_name(https_target, host, settings):
    """(name, where it came from, why it cannot be judged or ""): the HTTPS URL's host, or the .env's DOMAIN
    when the URL's host is a loopback name (checked from the deployment's own host, users reach its DOMAIN).
    """
    name = https_target[0]
    if not is_local_name(name):
        return name, "DIGITALME_HTTPS_URL", ""
    if not settings.env_file:
        return name, "DIGITALME_HTTPS_URL", (f"the HTTPS URL's host {name} is localhost (a loopback name) and "
                                             f"DIGITALME_ENV_FILE is empty: no DOMAIN names the host users reach")
    env = read_env_facts(host, settings.env_file)
    if env.domain and not is_local_name(env.domain):
        return env.domain, f"DOMAIN in {settings.env_file}", ""
    return name, "DIGITALME_HTTPS_URL", (f"the HTTPS URL's host {name} is localhost (a loopback name) and "
                                         f"{settings.env_file} names DOMAIN {env.domain or '(none)'!s}: "
                                         f"the name users reach cannot be judged from here")


@pytest.fixture(scope="module")
def deployment_env(host, settings):
    """The deployment's .env facts; the check skips where DIGITALME_ENV_FILE names none."""
    if not settings.env_file:
        pytest.skip("the deployment's .env cannot be inspected: DIGITALME_ENV_FILE is empty")
    return read_env_facts(host, settings.env_file)


@pytest.fixture(scope="module")
def certificate_on_disk(pytestconfig, target, host, certificate_on_disk_by_host):
    """(path in the container, where the path came from, CertificateFacts) of the certificate file the app is
    configured with (plugins/probes/certificate_files.py ``certificate_file``), read in the background for each host."""
    found = certificate_on_disk_by_host.get(host.backend.get_pytest_id())
    if found is None:  # a host the prefetch did not know of
        from plugins.probes.declared import PROBES
        from plugins.probes.docker_clients import docker_probe
        from plugins.probes.certificate_files import certificate_file
        found = certificate_file(docker_probe(pytestconfig, target),
                                 PROBES.fetched(pytestconfig, target, "app_container"), host, target.settings)
    if isinstance(found, Exception):
        raise found
    return found
