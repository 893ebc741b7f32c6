"""Secrets, masked before they reach a message, a measured value, evidence, an alert, the results file or the
record: the one module that knows what a secret looks like, and the one mask (:data:`MASK`).

Two kinds. Secrets the suite was given (webhook URLs, tokens: the settings marked secret) are known by value:
:func:`scrub` removes each from any text about to be written or sent, in every form a file may hold it
(:func:`secret_forms`). Secrets in what the target says (log lines, ``/info`` bodies) are known by their look:

One list of patterns, used twice: :func:`redact` masks every match where text is kept (plugins/outcomes/run.py
applies it to every check's message, value, threshold and evidence), and the exposure probe
(plugins/probes/exposure.py) uses the same patterns to *find* leaks, reporting each by a recognisable prefix and
the mask (``sk-ant-***``): enough to know what leaked, nothing usable. A URL's user information is masked
by :func:`without_url_credentials` wherever the suite shows a URL it was given.
"""

import html
import json
import re

MASK = "***"

# Values that are secrets whatever they are called; ``shown`` is the part a finding may print, and a value masked
# already is left alone (text passes here more than once). PEM blocks come first: the whole block goes, its
# header and base64 lines included; an unterminated one (cut off by a line limit) as far as base64 and PEM header
# characters run.
_UNMASKED = "(?!" + re.escape(MASK) + ")"
SECRET_VALUES = (
    ("private key", re.compile(
        r"(?P<shown>-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY)-----)" + _UNMASKED +
        r"(?:.*?-----END (?P=label)-----|[A-Za-z0-9+/=\s:,.\-]*)", re.DOTALL)),
    ("Anthropic API key", re.compile(r"(?P<shown>sk-ant-)[A-Za-z0-9_\-]{8,}")),
    ("API key", re.compile(r"\b(?P<shown>sk-)(?!ant-)[A-Za-z0-9_\-]{20,}")),
    ("JSON web token", re.compile(r"\b(?P<shown>eyJ)[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")),
    ("bearer token", re.compile(r"(?i)\b(?P<shown>bearer\s+)[A-Za-z0-9._~+/\-]{16,}=*")),
    ("connection-string password", re.compile(
        r"(?i)(?P<shown>\b(?:password|passwd|pwd)\s*=\s*)" + _UNMASKED + r"(?:\"[^\"]*\"|'[^']*'|[^;\"'\s]+)")),
    ("credentials in a URL", re.compile(r"(?i)\b(?P<shown>[a-z][a-z0-9+.\-]*://)[^/\s:@\"']+:[^/\s@\"']+@")),
)


# A URL's user information, whatever it holds (``https://user:password@host``, ``https://token@host``): masked
# wherever the suite shows a URL it was given (settings, their errors). Over-masking is harmless; a half-masked
# password is not, so a stray space does not end it.
URL_USERINFO = re.compile(r"://[^/@]*@")
# Names that say their value is secret (a CI variable's, a URL query parameter's).
SECRET_LOOKING = re.compile(r"(?i)token|secret|passw|pwd|key|auth(?!or)|credential|cookie|session|webhook|signature")
QUERY_PARAMETER = re.compile(r"([?&;]([^=&#\s]+)=)([^&#\s]*)")  # a URL's ?name=value


def without_url_credentials(text):
    """``text`` with every URL's user information and every secret-looking query parameter masked:
    ``https://***@host/?token=***``."""
    text = URL_USERINFO.sub("://" + MASK + "@", text)
    return QUERY_PARAMETER.sub(lambda m: m.group(1) + (MASK if SECRET_LOOKING.search(m.group(2)) else m.group(3)),
                               text)


def masked(value):
    """A secret's recognisable prefix and the mask: ``sk-ant-***``; nothing of an unknown format."""
    for _kind, pattern in SECRET_VALUES:
        match = pattern.match(value)
        if match:
            return match.group("shown") + MASK
    return MASK


def secrets_in(text):
    """Each kind of secret value found in ``text``, once, with its masked prefix: ``["Anthropic API key
    sk-ant-***"]`` (what a finding may say of it)."""
    found = {}
    for kind, pattern in SECRET_VALUES:
        match = pattern.search(text)
        if match:
            found[kind] = f"{kind} {match.group('shown')}{MASK}"
    return list(found.values())


def redact(text):
    """``text`` with every recognisable secret value masked, its prefix kept: ``Bearer ***``."""
    for _kind, pattern in SECRET_VALUES:
        text = pattern.sub(lambda m: m.group("shown") + MASK, text)
    return text


def secret_parts(text):
    """The secret values in ``text``, each cut at whitespace and escaped line breaks into the pieces a printed
    traceback may show apart (a pretty-printed repr splits long strings; a PEM block spans lines)."""
    parts = set()
    for _kind, pattern in SECRET_VALUES:
        for match in pattern.finditer(text):
            hidden = re.sub(r"-----END [A-Z0-9 ]*-----", "", match.group(0)[match.end("shown") - match.start():])
            parts.update(piece for piece in re.split(r"(?:\s|\\[nrt]|['\"])+", hidden) if len(piece) >= 4)
    return parts


def redacted(value):
    """``value`` with :func:`redact` applied to every string inside it (dicts, lists and tuples too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redacted(k): redacted(v) for k, v in value.items()}
    if type(value) in (list, tuple):  # not subclasses: a named tuple is built differently
        return type(value)(redacted(v) for v in value)
    return value


# --- secrets known by value (the settings marked secret) ------------------------------------------------------

def scrub(text, secrets):
    """``text`` with each of ``secrets`` (4 characters or more: shorter ones would mask ordinary words) masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def scrubbed(value, secrets):
    """``value`` with :func:`scrub` applied to every string inside it (dict keys, lists and tuples too)."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrubbed(k, secrets): scrubbed(v, secrets) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(scrubbed(v, secrets) for v in value)
    return value


def secret_forms(secrets):
    """Each secret as written plainly, HTML-escaped and JSON-escaped (a JSON or HTML file may hold any of them)."""
    forms = set()
    for secret in secrets:
        as_json = json.dumps(secret)[1:-1]
        forms.update({secret, html.escape(secret), as_json, html.escape(as_json)})
    return sorted(forms, key=len, reverse=True)


def masked_table(values, secrets):
    """A table of names and values (pytest-metadata's: CI variables can carry tokens) with every text value masked
    whose name looks secret or that holds one of ``secrets``; URL credentials masked in the others."""
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = without_url_credentials(value)
            if SECRET_LOOKING.search(key) or any(s and s in value for s in secrets):
                value = MASK
        cleaned[key] = value
    return cleaned
