"""Which certificate a file holds, no sandbox needed (the served-certificate check's reading): a PFX opens with no
password, an empty one or Kestrel's from the container's environment, one that none opens is "could not be checked"
naming the file (never the password), and a CA certificate is not the server's. The check itself on the sandbox:
sandbox/test_certificate_and_image_in_use.py."""

import pytest


def test_pfx_files_open_with_no_password_an_empty_one_or_kestrels_and_say_when_none_opens(tmp_path):
    """A PFX is read with no password, an empty one or Kestrel's from the container's environment; one that none
    opens is "could not be checked" naming the file (never the password); a CA certificate is not the server's."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from plugins.probes import ProbeError
    from plugins.probes.certificate_files import PFX_PASSWORD_ENV, newest_certificate_in, pfx_passwords

    def certificate(days, ca=False):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca" if ca else "localhost")])
        now = dt.datetime.now(dt.timezone.utc)
        built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                 .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                 .not_valid_after(now + dt.timedelta(days=days))
                 .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                 .sign(key, hashes.SHA256()))
        return key, built

    key, leaf = certificate(90)
    _, ca = certificate(3650, ca=True)
    inspected = {"Config": {"Env": ["A=1", f"{PFX_PASSWORD_ENV}=kestrel-pfx-password"]}}
    passwords = pfx_passwords(inspected)
    assert "kestrel-pfx-password" not in repr(passwords), repr(passwords)
    locked = pkcs12.serialize_key_and_certificates(b"x", key, leaf, [ca], serialization.BestAvailableEncryption(
        b"kestrel-pfx-password"))
    path, found = newest_certificate_in({"/https/app.pfx": locked}, passwords)
    assert path == "/https/app.pfx" and found.common_names == ("localhost",), found
    with pytest.raises(ProbeError) as error:
        newest_certificate_in({"/https/app.pfx": locked}, pfx_passwords({"Config": {"Env": []}}))
    assert "/https/app.pfx" in str(error.value) and "kestrel-pfx-password" not in str(error.value), error.value
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path, found = newest_certificate_in({"/https/chain.pem": ca.public_bytes(serialization.Encoding.PEM),
                                         "/https/fullchain.pem": chain, "/https/privkey.pem": key_pem})
    assert path == "/https/fullchain.pem" and found.common_names == ("localhost",), (path, found)
    assert newest_certificate_in({"/https/privkey.pem": key_pem}) is None
    path, found = newest_certificate_in({"/https/self-signed.pem": ca.public_bytes(serialization.Encoding.PEM)})
    assert path == "/https/self-signed.pem" and found.common_names == ("ca",), "self-signed CA:TRUE: the server's"
