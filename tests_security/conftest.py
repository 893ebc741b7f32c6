"""What the security checks read, each fetched once: the TLS endpoint, and the deployment's .env on the host.

The .env is read through testinfra's ``host`` (so ``--hosts ssh://user@prod`` reads the production host's file)
by one command that sends back only its mode, owner, each key's name and the length of its value, and the
``DOMAIN`` (not a secret): no secret value ever leaves the host, so none can reach a log, report or alert.
"""

import dataclasses
import ipaddress
import shlex
import urllib.parse

import pytest

from plugins.probes import ProbeError

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

    @property
    def readable_by_others(self):
        return bool(self.mode & 0o004)


def read_env_facts(host, path):
    """One command on the host: stat the file, then summarise it with awk (names and lengths only)."""
    quoted = shlex.quote(path)
    result = host.run(f"if [ ! -e {quoted} ]; then echo absent; exit 0; fi; stat -L -c 'mode %a %U' {quoted}; "
                      f"if [ -r {quoted} ]; then echo readable; {_ENV_SUMMARY} {quoted}; fi")
    if result.rc != 0:
        raise ProbeError(f"reading {path} on the host: exit {result.rc}: {result.stderr.strip()[:200]}")
    lines = result.stdout.splitlines()
    if lines[:1] == ["absent"]:
        return EnvFacts(path, exists=False)
    mode, owner, readable, lengths, domain = 0, "", False, {}, ""
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
    return EnvFacts(path, True, mode, owner, readable, lengths, domain)


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
