"""What every output (results file, record, history, alert state) shares: atomic writes, and no secret in them.

Used by plugins/outputs/results.py, record.py, history.py and alerting/; it has no hooks of its own.
"""

import html
import json
import os
import re
import tempfile

_UMASK = os.umask(0)
os.umask(_UMASK)
COLOURS = {"ok": "#1a7f37", "warning": "#9a6700", "critical": "#cf222e"}  # a run's status, in the record and history


def write_atomically(path, text):
    """Write beside the target, then rename over it: a crash never leaves half a file."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the record is for readers (a web server, auditors)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def state_path(report_dir, name, target=None):
    """``<report dir>/state/<name>[-<target>].json``, each part reduced to letters, digits and dashes: what a run
    keeps for the next one (CPU counters, compose's answer, the probes a schedule used); a fleet's targets each
    keep their own."""
    def slug(text):
        return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return os.path.join(report_dir, "state", slug(name) + (f"-{slug(target)}" if target else "") + ".json")


def scrub(text, secrets):
    """Remove secret values from anything about to be written or sent."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
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
