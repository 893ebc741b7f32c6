"""make_cert.py DIR [--days N] [--not-before-days M] [--name HOST] [--force]

Write a self-signed certificate (DIR/digitalme.crt, DIR/digitalme.key) valid from M days ago (default 1) to
N days from now (default 365; negative = already expired). Kept if present unless --force. The sandbox's
certificate, and the expiring or expired ones the suite's own tests swap in, all come from here.
"""

import argparse
import datetime as dt
import ipaddress
import os
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificate(folder, days=365, not_before_days=1, name="localhost"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    alt_names = [x509.DNSName(name)]
    if name == "localhost":
        alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=not_before_days))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(folder, exist_ok=True)
    files = {
        "digitalme.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()),
        "digitalme.crt": certificate.public_bytes(serialization.Encoding.PEM),
    }
    for filename, data in files.items():  # write then rename: the app never reads half a file
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # the app's non-root user reads it through a bind mount
        os.replace(tmp, os.path.join(folder, filename))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--not-before-days", type=int, default=1)
    parser.add_argument("--name", default="localhost")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    if args.force or not os.path.exists(os.path.join(args.folder, "digitalme.crt")):
        make_certificate(args.folder, args.days, args.not_before_days, args.name)


if __name__ == "__main__":
    main()
