"""Certificate files in the container (PEM, PFX): which one the app is configured with, and the newest server
certificate they hold, read through Docker's archive API and parsed as the TLS probe parses the served one."""

from plugins.probes import ProbeError
from plugins.probes.tls import certificate_facts

PFX_PASSWORD_ENV = "ASPNETCORE_Kestrel__Certificates__Default__Password"  # Kestrel's, in the container's env


def newest_certificate_in(files, passwords=(None,)):
    """(path, CertificateFacts) of the newest server certificate (issued last) among ``files`` ({path:
    bytes} read from the container): PEM files holding a certificate (the first of a chain), and PFX/PKCS#12
    files opened with one of ``passwords``. CA certificates (chain.pem's intermediate) are not the server's
    where another file holds one that is not a CA. None where no file holds one. A PFX that opens with none of
    the passwords is a ProbeError: its certificate cannot be read, so no comparison can be made. Private keys
    beside them are never parsed."""
    from cryptography import x509
    found, locked = [], []
    for path, data in sorted(files.items()):
        if b"-----BEGIN CERTIFICATE-----" in data:
            try:
                certificates = x509.load_pem_x509_certificates(data)
            except ValueError:
                continue
        elif path.lower().endswith((".pfx", ".p12")):
            certificates = _pfx_certificates(data, passwords)
            if certificates is None:
                locked.append(path)
                continue
        else:
            continue
        # the server's is the first that is not a CA; a file of CA certificates only may still be the server's own
        # (`openssl req -x509` marks a self-signed one CA:TRUE), but a server certificate elsewhere wins over it
        leaves = [c for c in certificates if not _is_ca(c)]
        if certificates:
            found.append((not leaves, path, certificate_facts((leaves or certificates)[0])))
    if locked and not found:
        raise ProbeError(f"{', '.join(locked)}: a PFX that opens with no password, an empty one or the container's "
                         f"{PFX_PASSWORD_ENV}; set DIGITALME_CERT_FILE to the certificate in PEM form")
    if any(not ca for ca, _, _ in found):
        found = [item for item in found if not item[0]]
    newest = max(found, key=lambda item: (item[2].not_valid_before, item[2].not_valid_after), default=None)
    return newest and newest[1:]


def certificate_file(docker, inspected, host, settings):
    """(path in the container, where the path came from, CertificateFacts) of the certificate file the app is
    configured with: DIGITALME_CERT_FILE, else the .env's SSL_CERT_PATH, else the newest PEM or PFX under /https
    (the real app mounts ./certs:/https:ro). Read through Docker's archive API (``docker``: a DockerProbe); a PFX
    is opened with no password, an empty one, or Kestrel's from the container's environment (``inspected``: its
    ``docker inspect``; used here only, never shown). ``host``: testinfra's host holding the .env."""
    from plugins.probes.env import read_env_facts
    path, source = settings.cert_file, "DIGITALME_CERT_FILE"
    if not path and settings.env_file:
        path, source = read_env_facts(host, settings.env_file).cert_path, f"SSL_CERT_PATH in {settings.env_file}"
        if not path.startswith("/"):  # absent, or relative: a path on the host (./certs), not in the container
            path = ""
    if not path:
        path, source = "/https", "the default folder /https"
    found = newest_certificate_in(docker.read_files(settings.container, path), pfx_passwords(inspected))
    if found is None:
        raise ProbeError(f"{path} (from {source}) in {settings.container} holds no certificate (PEM or PFX): set "
                         f"DIGITALME_CERT_FILE to the certificate file the app serves, as a path in the container")
    return found[0], source, found[1]


class _Passwords(tuple):
    """Passwords to try, shown masked (--showlocals, a traceback's locals)."""

    def __repr__(self):
        return f"<{len(self)} passwords, masked>"


def pfx_passwords(inspected):
    """The passwords a PFX is tried with: none, empty, and Kestrel's from the container's ``docker inspect``."""
    prefix = PFX_PASSWORD_ENV + "="
    own = [e[len(prefix):].encode() for e in inspected.get("Config", {}).get("Env") or [] if e.startswith(prefix)]
    return _Passwords([None, b""] + own[:1])


def _pfx_certificates(data, passwords):
    """The certificates of a PKCS#12 file (its own first), or None where no password opens it."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    for password in passwords:
        try:
            bundle = pkcs12.load_pkcs12(data, password)
        except (ValueError, TypeError):
            continue
        own = [bundle.cert.certificate] if bundle.cert else []
        return own + [c.certificate for c in bundle.additional_certs]
    return None


def _is_ca(certificate):
    from cryptography import x509
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
