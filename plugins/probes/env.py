"""The deployment's .env as its host sees it: mode, owner, each key's name and the length of its value, and the
``DOMAIN`` and ``SSL_CERT_PATH`` (not secrets). Nothing else of the file leaves the host.

It is read through testinfra's ``host`` (so ``--hosts ssh://user@prod`` reads the production host's file) by one
command that sends back only those facts: no secret value ever reaches the suite, so none can reach a log,
report or alert.
"""

import dataclasses
import shlex

from plugins.probes import ProbeError
from plugins.probes.host import run_on

# Prints "key NAME LENGTH" per assignment, and DOMAIN's value when it looks like a host name: nothing else of
# any value. Read as Compose reads a .env: CRLF, blank lines and full-line comments skipped, an `export ` prefix
# dropped, a trailing " # comment" cut from an unquoted value, quotes removed, and a quoted value running over
# several lines read to its closing quote (a continuation line holding "=" is value, not a key). Whatever does
# not start with a valid key name is never printed. POSIX awk (mawk, gawk, busybox): hosts differ.
_ENV_SUMMARY = r"""awk '
function close_at(s, q,   i, ch) {
  for (i = 1; i <= length(s); i++) {
    ch = substr(s, i, 1)
    if (ch == "\\" && q == "\"") { i++; continue }
    if (ch == q) return i
  }
  return 0
}
function emit() {
  if (key == "") return
  print "key", key, len
  if (key == "DOMAIN" && val ~ /^[A-Za-z0-9.*-]+$/) print "domain", val
  if (key == "SSL_CERT_PATH" && val ~ /^[A-Za-z0-9._\/-]+$/) print "cert_path", val
}
{ sub(/\r$/, "") }
quote != "" {
  p = close_at($0, quote)
  if (p == 0) { len += length($0) + 1; next }
  len += p - 1; quote = ""; emit(); next
}
/^[ \t]*(#|$)/ { next }
{
  line = $0; sub(/^[ \t]*export[ \t]+/, "", line)
  e = index(line, "="); if (e == 0) next
  key = substr(line, 1, e - 1); v = substr(line, e + 1); val = ""
  gsub(/^[ \t]+|[ \t]+$/, "", key); sub(/^[ \t]+/, "", v)
  if (key !~ /^[A-Za-z_][A-Za-z0-9_.-]*$/) key = ""
  q = substr(v, 1, 1)
  if (q == "\"" || q == "\047") {
    rest = substr(v, 2); p = close_at(rest, q)
    if (p == 0) { quote = q; len = length(rest) + 1; next }
    len = p - 1; val = substr(rest, 1, p - 1); emit(); next
  }
  c = match(v, /[ \t]#/); if (c > 0) v = substr(v, 1, c - 1)
  sub(/[ \t]+$/, "", v)
  len = length(v); val = v; emit()
}
END { if (quote != "") emit() }'"""


@dataclasses.dataclass(frozen=True)
class EnvFacts:
    """The deployment's .env as the host sees it, without any secret value."""
    path: str
    exists: bool
    mode: int = 0
    owner: str = ""
    readable: bool = False
    key_lengths: dict = dataclasses.field(default_factory=dict)  # key name -> length of its value
    domain: str = ""
    cert_path: str = ""  # SSL_CERT_PATH, a path (not a secret), where it reads as one

    @property
    def readable_by_others(self):
        return bool(self.mode & 0o004)


_READ = {}  # (testinfra Host, path) -> EnvFacts: the .env is read once per run and host, whichever check asks first


def read_env_facts(host, path):
    """The .env's facts, read once per run and host (the secrets checks, the certificate's SSL_CERT_PATH and the
    users' host name all ask): see :func:`summarise_env`."""
    if (host, path) not in _READ:
        _READ[host, path] = summarise_env(host, path)  # checks run one at a time: no lock needed
    return _READ[host, path]


def summarise_env(host, path):
    """One command on the host: stat the file, then summarise it with awk (names and lengths only)."""
    quoted = shlex.quote(path)
    result = run_on(host, f"if [ ! -e {quoted} ]; then echo absent; exit 0; fi; stat -L -c 'mode %a %U' {quoted}; "
                      f"if [ -r {quoted} ]; then echo readable; {_ENV_SUMMARY} {quoted}; fi")
    if result.rc != 0:
        raise ProbeError(f"reading {path} on the host: exit {result.rc}: {result.stderr.strip()[:200]}")
    lines = result.stdout.splitlines()
    if lines[:1] == ["absent"]:
        return EnvFacts(path, exists=False)
    mode, owner, readable, lengths, domain, cert_path = 0, "", False, {}, "", ""
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "mode":
            mode_text, _, owner = rest.partition(" ")
            mode = int(mode_text, 8)
        elif word == "readable":
            readable = True
        elif word == "key":
            name, _, length = rest.rpartition(" ")
            lengths[name] = int(length)
        elif word == "domain":
            domain = rest.strip()
        elif word == "cert_path":
            cert_path = rest.strip()
    return EnvFacts(path, True, mode, owner, readable, lengths, domain, cert_path)
