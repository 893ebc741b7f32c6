"""Secrets in what the app answers: JSON values under secret-sounding keys, and secret-looking values anywhere
(the patterns of plugins/secrets.py).

A finding names where the secret is and shows only its recognisable prefix and the mask
(``configuration.anthropicApiKey: sk-ant-***``): enough to know what leaked, nothing usable.
"""

import json
import re

from plugins.secrets import MASK, SECRET_VALUES, masked

# JSON keys whose (string) value is a secret whatever it looks like.
SECRET_KEY_NAME = re.compile(
    r"(?i)(api[_\-]?key|secret|passw(or)?d|\bpwd\b|token|connection[_\-]?string|jwt|private[_\-]?key|credential)")
# Values that say a secret is configured without showing it.
PLACEHOLDER = re.compile(r"(?i)^\s*(\*+|x+|•+|<?\[?(redacted|hidden|masked|set|configured|true|false|none|null)\]?>?)?\s*$")


def _leaves(document, path=""):
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, document


def find_secrets(text):
    """Secrets in a body: JSON values under secret-sounding keys, and secret-looking values anywhere.

    Returns ``["configuration.anthropicApiKey: sk-ant-***", ...]``: locations and masked prefixes only.
    """
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, (dict, list)):
        return _secrets_in_json(document)
    findings = {}
    for kind, pattern in SECRET_VALUES:
        for match in pattern.finditer(text):
            findings.setdefault(kind, f"{kind} at character {match.start()}: {match.group('shown')}{MASK}")
    return list(findings.values())


def _secrets_in_json(document):
    """A finding per leaf of a JSON document that holds a secret: by its key's name, or by its value's look."""
    findings = {}
    for path, value in _leaves(document):
        if not isinstance(value, str) or PLACEHOLDER.match(value):
            continue
        leaf = re.split(r"[.\[]", path)[-1]
        if SECRET_KEY_NAME.search(leaf):
            findings[path] = f"{path}: {masked(value)}"
            continue
        for kind, pattern in SECRET_VALUES:
            match = pattern.search(value)
            if match:
                findings[path] = f"{path}: {kind} {match.group('shown')}{MASK}"
                break
    return list(findings.values())


def find_secrets_in_headers(headers):
    """Secret-looking values in response headers (name -> value, names in lower case), located and masked."""
    return [f"header {name}: {kind} {match.group('shown')}{MASK}"
            for name, value in headers.items()
            if name != "set-cookie"  # a cookie set for this very client is its own, not a disclosure
            for kind, pattern in SECRET_VALUES for match in pattern.finditer(value)]
