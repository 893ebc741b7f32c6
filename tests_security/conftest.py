"""What the security checks read, each fetched once: the TLS endpoint, and the deployment's .env on the host.

The .env is summarised on the host (plugins/probes/env.py): its mode, owner, key names, value lengths and
``DOMAIN``, never a value.
"""

import ipaddress
import urllib.parse

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
    parts = urllib.parse.urlsplit(settings.https_url)
    return parts.hostname, parts.port or 443


@pytest.fixture(scope="session")
def tls(https_target, settings):
    """The TLS probe of the HTTPS URL: certificates and protocol handshakes, each made once."""
    from plugins.probes.tls import TlsProbe
    host, port = https_target
    return TlsProbe(host, port, settings.connect_timeout_s + settings.read_timeout_s)


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
def certificate_on_disk(docker, app_container, host, settings):
    """(path in the container, where the path came from, CertificateFacts) of the certificate file the app is
    configured with: DIGITALME_CERT_FILE, else the .env's SSL_CERT_PATH, else the newest PEM or PFX under /https
    (the real app mounts ./certs:/https:ro). Read through Docker's archive API; a PFX is opened with no password,
    an empty one, or Kestrel's from the container's environment (used here only, never shown)."""
    from plugins.probes import ProbeError
    from plugins.probes.tls import newest_certificate_in, pfx_passwords
    path, source = settings.cert_file, "DIGITALME_CERT_FILE"
    if not path and settings.env_file:
        path, source = read_env_facts(host, settings.env_file).cert_path, f"SSL_CERT_PATH in {settings.env_file}"
        if not path.startswith("/"):  # absent, or relative: a path on the host (./certs), not in the container
            path = ""
    if not path:
        path, source = "/https", "the default folder /https"
    found = newest_certificate_in(docker.read_files(settings.container, path), pfx_passwords(app_container))
    if found is None:
        raise ProbeError(f"{path} (from {source}) in {settings.container} holds no certificate (PEM or PFX): set "
                         f"DIGITALME_CERT_FILE to the certificate file the app serves, as a path in the container")
    return found[0], source, found[1]
