"""What a client sees of HTTPS: the certificate's validity and names, whether it is the newest on disk, the protocol
versions, HTTPS enforced.

Each check's ``manual`` marker names its lines: Monthly Maintenance 1 (certificate expiry and renewal), the
deployment guide's "certificates valid for 30+ days", Morning Health Check 3 (if applicable). Every check here
skips where DIGITALME_HTTPS_URL is empty. Handshakes only: nothing is sent beyond what a browser sends. The
certificate file the app is configured with is read out of the container through Docker's archive API (no exec),
to compare with the one served.
"""

import math
import ssl

import pytest


def _validity(certificate):
    return (f"valid until {certificate.not_valid_after:%Y-%m-%d %H:%M} UTC "
            f"(subject {certificate.subject}, names {', '.join(certificate.names()) or 'none'})")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.monthly
@pytest.mark.manual("Monthly Maintenance 1", "Deployment Guide: Certificates")
def test_certificate_valid_for_warning_days(tls, settings, check):
    """The TLS certificate of the HTTPS URL has at least {cert_warn_days} days left.

    The manual's certificate expiry (`certbot certificates`); the deployment guide's "certificates valid for 30+ days".
    """
    certificate = tls.certificate()
    days = math.trunc(certificate.days_left * 10) / 10  # shown never rounded up past the threshold
    check.record(days, settings.cert_warn_days, unit="days")
    check.attach("certificate", _validity(certificate))
    assert certificate.days_left >= settings.cert_warn_days, (
        f"certificate of {tls.address} has {days:g} days left "
        f"({'expired' if certificate.days_left < 0 else 'renew it'}; {_validity(certificate)}) (required: at least {settings.cert_warn_days} days)")


@pytest.mark.critical
@pytest.mark.daily
@pytest.mark.monthly
@pytest.mark.manual("Monthly Maintenance 1", "Morning Health Check 3")
def test_certificate_valid_for_critical_days(tls, settings, check):
    """The TLS certificate of the HTTPS URL has at least {cert_crit_days} days left and is not expired.

    The manual's certificate expiry (`certbot certificates`): HTTPS is down once it expires.
    """
    certificate = tls.certificate()
    days = math.trunc(certificate.days_left * 10) / 10  # shown never rounded up past the threshold
    check.record(days, settings.cert_crit_days, unit="days")
    check.attach("certificate", _validity(certificate))
    assert certificate.days_left >= 0, (
        f"certificate of {tls.address} expired {-days:g} days ago ({_validity(certificate)}) "
        f"(required: at least {settings.cert_crit_days} days left)")
    assert certificate.days_left >= settings.cert_crit_days, (
        f"certificate of {tls.address} has {days:g} days left ({_validity(certificate)}) "
        f"(required: at least {settings.cert_crit_days} days)")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.manual("Deployment Guide: Certificates")
def test_certificate_matches_host_name(tls, users_host_name, check):
    """The certificate is valid for the host name users reach (the HTTPS URL's host, or the .env's DOMAIN).

    The deployment guide's `DOMAIN`, `SSL_CERT_PATH` in .env (the certificate must be the domain's).
    """
    name, source, cannot_judge = users_host_name
    if cannot_judge:
        check.record(name, "a name users reach")
        pytest.skip(cannot_judge)
    certificate = tls.certificate(server_name=name)
    check.record({"name": name, "certificate names": list(certificate.names())}, f"{name} among them")
    check.attach("certificate", _validity(certificate))
    assert certificate.matches(name), (
        f"certificate presented for {name} (from {source}) is valid for {', '.join(certificate.names()) or 'no name'}, "
        f"not {name} (required: valid for {name})")


@pytest.mark.warning
@pytest.mark.daily
@pytest.mark.monthly
@pytest.mark.manual("Monthly Maintenance 1")
def test_served_certificate_is_newest_on_disk(tls, certificate_on_disk, check):
    """The certificate served on HTTPS is the one in the app's certificate file: a renewal was picked up.

    The manual's `certbot renew --quiet`, then `docker-compose restart` "to pick up new
    certificates" (renewed without the restart, the file is new and the served certificate still expires).
    """
    path, source, on_disk = certificate_on_disk
    served = tls.certificate()
    check.record({"served": _summary(served), "on disk": _summary(on_disk), "file": path},
                 "the served certificate is the file's")
    check.attach("certificates", f"served by {tls.address}: {_validity(served)}\n"
                                 f"in {path} (from {source}): {_validity(on_disk)}")
    if served.sha256 == on_disk.sha256:
        return
    # newer = issued later (a renewal), whatever its lifetime: a 90-day Let's Encrypt one may replace a 1-year one
    newer = (on_disk.not_valid_before, on_disk.not_valid_after) > (served.not_valid_before, served.not_valid_after)
    assert not newer, (
        f"{path} holds a newer certificate (issued {on_disk.not_valid_before:%Y-%m-%d %H:%M}, valid until "
        f"{on_disk.not_valid_after:%Y-%m-%d %H:%M} UTC) than {tls.address} serves (issued "
        f"{served.not_valid_before:%Y-%m-%d %H:%M}, valid until {served.not_valid_after:%Y-%m-%d %H:%M} UTC): the "
        f"renewal was not picked up; restart the app (docker-compose restart) (required: the file's certificate "
        f"served)")
    assert False, (
        f"{tls.address} serves a certificate (valid until {served.not_valid_after:%Y-%m-%d %H:%M} UTC, sha256 "
        f"{served.sha256[:16]}) that is not the one in {path} (from {source}; valid until "
        f"{on_disk.not_valid_after:%Y-%m-%d %H:%M} UTC, sha256 {on_disk.sha256[:16]}, not newer): the file the app "
        f"is configured with is not the one it serves (required: the file's certificate served)")


def _summary(certificate):
    return {"valid until": f"{certificate.not_valid_after:%Y-%m-%d %H:%M} UTC", "sha256": certificate.sha256[:16]}


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Deployment Guide: TLS settings")
def test_old_tls_versions_refused(tls, check):
    """TLS 1.0 and TLS 1.1 handshakes are refused.

    The deployment guide's Kestrel/nginx TLS settings (TLS 1.2 or later only).
    """
    attempts = {name: tls.accepts(version) for name, version in
                (("TLS 1.0", ssl.TLSVersion.TLSv1), ("TLS 1.1", ssl.TLSVersion.TLSv1_1))}
    accepted = [name for name, (ok, _) in attempts.items() if ok]
    check.record({name: "accepted" if ok else "refused" for name, (ok, _) in attempts.items()}, "both refused")
    check.attach("handshakes", "\n".join(detail for _, detail in attempts.values()))
    assert not accepted, (
        f"{tls.address} accepts {' and '.join(accepted)}: "
        + "; ".join(detail for ok, detail in attempts.values() if ok) + " (required: TLS 1.0 and 1.1 refused)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Deployment Guide: HTTPS redirection")
def test_https_enforced(endpoints, settings, check):
    """Plain HTTP redirects to HTTPS, or HTTPS answers with Strict-Transport-Security (where HTTPS applies).

    The deployment guide's HTTPS redirection (nginx 301 HTTP->HTTPS, or the app's 307) and HSTS.
    """
    if not settings.https_url:
        pytest.skip("HTTPS not applicable: DIGITALME_HTTPS_URL is empty")
    plain, secure = endpoints["/health"], endpoints.https("/health")
    redirected = plain.final_url.startswith("https://")
    hsts = secure.headers.get("strict-transport-security", "") if secure.answered else ""
    max_age = _max_age(hsts)
    check.record({"http redirects to https": redirected, "strict-transport-security": hsts or None},
                 "redirect to HTTPS, or HSTS with max-age > 0")
    if redirected or max_age > 0:
        return
    required = "a redirect to HTTPS, or HSTS with max-age > 0"
    assert secure.answered, (f"HTTP does not redirect and HTTPS gave no answer: "
                             f"{secure.describe(settings.https_url + '/health', required=required)}")
    assert False, (
        f"{settings.base_url}/health is served over plain HTTP (final URL {plain.final_url or plain.url}, no redirect to "
        f"HTTPS) and {settings.https_url}/health sends "
        + (f"Strict-Transport-Security {hsts!r} with max-age 0" if hsts else "no Strict-Transport-Security")
        + f" (required: {required})")


def _max_age(hsts):
    for part in hsts.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age":
            try:
                return int(value.strip().strip('"'))
            except ValueError:
                return 0
    return 0
