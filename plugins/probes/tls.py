"""TLS probe: what a client sees of the HTTPS endpoint, looked at with ``ssl`` directly (``openssl s_client``).

The peer certificate is fetched without verification (an expired or self-signed certificate is exactly what
the checks must be able to read) and parsed with ``cryptography``; certificate files (PEM, PFX) are read by
plugins/probes/certificate_files.py. Old protocol versions are tried one by one
with a context pinned to that version; OpenSSL 3 refuses to even offer TLS 1.0/1.1 at its default security
level, so the attempt lowers it (``@SECLEVEL=0``): a handshake the server refuses is then the server's answer,
not the client's. Only handshakes are made: no request is sent.
"""

import dataclasses
import datetime as dt
import ipaddress
import socket
import ssl
import urllib.parse
import warnings

from plugins.probes import ProbeError

# Reasons OpenSSL gives when this side, not the server, cannot speak the version asked for.
_CLIENT_CANNOT_OFFER = {"NO_PROTOCOLS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM", "NO_CIPHERS_AVAILABLE"}


@dataclasses.dataclass(frozen=True)
class CertificateFacts:
    """The peer certificate as a client receives it."""
    subject: str
    common_names: tuple
    dns_names: tuple
    ip_addresses: tuple
    not_valid_before: dt.datetime
    not_valid_after: dt.datetime
    protocol: str  # the version negotiated by a default client
    sha256: str = ""  # the certificate's SHA-256 fingerprint (hex): the same certificate, wherever it is read

    @property
    def days_left(self):
        """Days until expiry (negative once expired), from now."""
        return (self.not_valid_after - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400

    def names(self):
        """The names it is valid for: its SubjectAltNames, or its CN where it has none (RFC 6125 fallback)."""
        return self.dns_names + self.ip_addresses if (self.dns_names or self.ip_addresses) else self.common_names

    def matches(self, name):
        """Whether ``name`` (a host name or an IP address) is one the certificate is valid for."""
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            address = None
        if address is not None:
            return str(address) in self.ip_addresses
        name = name.lower().rstrip(".")
        for pattern in (self.dns_names or self.common_names):
            pattern = pattern.lower().rstrip(".")
            if pattern == name:
                return True
            # a wildcard stands for exactly one left-most label: *.example.com matches a.example.com only
            if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
                return True
        return False


def parse_certificate(der, protocol=""):
    from cryptography import x509
    return certificate_facts(x509.load_der_x509_certificate(der), protocol)


def certificate_facts(certificate, protocol=""):
    """The CertificateFacts of a parsed ``cryptography`` certificate (served, or read from a file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtensionOID, NameOID
    try:
        alt = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        dns_names = tuple(alt.get_values_for_type(x509.DNSName))
        ip_addresses = tuple(str(a) for a in alt.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns_names, ip_addresses = (), ()
    return CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        common_names=tuple(a.value for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        not_valid_before=certificate.not_valid_before_utc,
        not_valid_after=certificate.not_valid_after_utc,
        protocol=protocol,
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
    )


def https_address(url):
    """(host, port) of an ``https://host[:port]`` URL: port 443 unless it names one."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port or 443


def _unverified_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # like curl -k: the certificate is what is being judged
    return context


class TlsProbe:
    """Handshakes with ``host:port``; each certificate (per server name sent) fetched once per run."""

    def __init__(self, host, port, timeout_s):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._certificates = {}  # server name -> CertificateFacts, or the ProbeError that fetching it raised
        self._no_answer = None  # the ProbeError of a port that refused or timed out: not tried again this run


    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def _handshake(self, context, server_name):
        """A completed handshake; a port that refuses, or does not answer within the timeout, is a ProbeError, and
        every later handshake of the run gets the same at once (each TLS check would otherwise wait again)."""
        if self._no_answer is not None:
            raise ProbeError(str(self._no_answer))
        sni = server_name if server_name and not _is_ip(server_name) else None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as e:
            self._no_answer = ProbeError(f"connecting to {self.address}: {e.strerror or e}")
            raise self._no_answer from None
        try:
            tls = context.wrap_socket(sock, server_hostname=sni)
        except TimeoutError:
            sock.close()
            self._no_answer = ProbeError(f"TLS handshake with {self.address}: no answer within {self.timeout_s:g} s")
            raise self._no_answer from None
        except BaseException:
            sock.close()
            raise
        return tls

    def certificate(self, server_name=None):
        """The certificate the server presents (for ``server_name`` sent as SNI, default the URL's host)."""
        server_name = server_name or self.host
        if server_name not in self._certificates:
            try:
                self._certificates[server_name] = self._fetch(server_name)
            except ProbeError as e:
                self._certificates[server_name] = e
        found = self._certificates[server_name]
        if isinstance(found, ProbeError):
            raise ProbeError(str(found))
        return found

    def _fetch(self, server_name):
        try:
            with self._handshake(_unverified_context(), server_name) as tls:
                der, protocol = tls.getpeercert(binary_form=True), tls.version()
        except (ssl.SSLError, OSError) as e:
            raise ProbeError(f"TLS handshake with {self.address} failed: {_reason(e)}") from None
        if not der:
            raise ProbeError(f"{self.address} presented no certificate")
        return parse_certificate(der, protocol)

    def accepts(self, version):
        """Whether the server completes a handshake pinned to ``version`` (an ssl.TLSVersion).

        Returns (accepted, what happened). A refusal by the server is an answer; a client that cannot offer
        the version, or a server that cannot be reached, is a ProbeError.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 and TLSv1_1 are deprecated names
            context = _unverified_context()
            try:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL 3 will not offer TLS 1.0/1.1 at all
                context.minimum_version = version
                context.maximum_version = version
            except (ValueError, ssl.SSLError) as e:
                raise ProbeError(f"this machine's OpenSSL cannot offer {_name(version)}: {_reason(e)}") from None
        try:
            with self._handshake(context, self.host) as tls:
                return True, f"{_name(version)} handshake completed ({tls.cipher()[0]})"
        except ssl.SSLError as e:
            if e.reason in _CLIENT_CANNOT_OFFER:
                raise ProbeError(f"this machine's OpenSSL cannot offer {_name(version)}: {_reason(e)}") from None
            return False, f"{_name(version)} refused: {_reason(e)}"
        except (ConnectionResetError, BrokenPipeError) as e:
            return False, f"{_name(version)} refused: connection closed during the handshake ({e.strerror or e})"
        except OSError as e:
            raise ProbeError(f"{_name(version)} handshake with {self.address}: {e.strerror or e}") from None


def _is_ip(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _name(version):
    return {"TLSv1": "TLS 1.0", "TLSv1_1": "TLS 1.1", "TLSv1_2": "TLS 1.2", "TLSv1_3": "TLS 1.3"}.get(
        version.name, version.name)


def _reason(error):
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
