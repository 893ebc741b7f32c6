"""Every setting of the suite, declared once: command-line flag, environment variable, pytest.ini key,
the operations manual's default and a help text.

Precedence: command line > environment (``DIGITALME_*``) > ``pytest.ini`` > the manual's default. All values
are resolved and validated once, in ``pytest_configure``; every bad one is reported together, naming its
source, and the run stops with pytest's usage error (exit 4) before any check; so does a ``DIGITALME_*`` variable
or ``digitalme_*`` ini key that names no setting (a typo), with a did-you-mean. The result is one frozen
:class:`Settings` kept in ``config.stash[SETTINGS]``.
"""

import dataclasses
import datetime as dt
import math
import os
import re
import urllib.parse

import pytest

from plugins import adapters
from plugins.secrets import MASK, without_url_credentials

SETTINGS = pytest.StashKey["Settings"]()


class Invalid(ValueError):
    """A value that does not parse; its text says what was expected."""


def closest(name, names):
    """The one of ``names`` that ``name`` most likely misspells, or None: the did-you-mean of every refusal of a
    name (settings, targets and waivers files)."""
    import difflib  # here: only a mistake needs it
    found = difflib.get_close_matches(name, list(names), n=1)
    return found[0] if found else None


# --- parsers: text -> value, raising Invalid ----------------------------------------------------

def text(value):
    return value.strip()


def required_text(value):
    """A name or path that must be given: empty would point the checks at nothing."""
    value = value.strip()
    if not value:
        raise Invalid("must not be empty")
    return value


_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def url(value, optional=False):
    """An http(s) URL with a host. Messages never quote any part of it: webhook URLs carry tokens."""
    if not value.strip() and optional:
        return ""
    expected = "expected an http:// or https:// URL with a host" + (" (or empty)" if optional else "")
    blank = _WHITESPACE_OR_CONTROL.search(value)
    if blank:
        # anywhere, ends included: urlsplit accepts "https://host/a b", and a stray space or line break is a
        # paste gone wrong that would otherwise be sent (or cut off) silently
        raise Invalid(f"{expected}, without whitespace (found at character {blank.start() + 1})")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(expected)
    try:
        parts.port
    except ValueError:
        raise Invalid(f"{expected}: the port is not a number from 0 to 65535") from None  # urllib's text quotes it
    return value.rstrip("/")


def optional_url(value):
    return url(value, optional=True)


def docker_url(value):
    """Where the Docker API is: empty (``DOCKER_HOST``, else the local socket), or unix://, tcp:// or ssh://."""
    value = value.strip()
    if value and (urllib.parse.urlsplit(value).scheme not in ("unix", "tcp", "ssh") or _WHITESPACE_OR_CONTROL.search(value)):
        raise Invalid("expected empty, or a Docker host such as unix:///var/run/docker.sock, tcp://host:2376 "
                      "or ssh://user@host")
    if value.startswith("ssh://"):
        ssh_destination(value)
    return value


def docker_host_variable(values, environ):
    """``DOCKER_HOST``, where it is what the checks use (no DIGITALME_DOCKER_HOST), held to the same rules: an
    ``ssh://`` path or an unknown scheme would otherwise be ignored silently. Its value may carry credentials: not
    shown."""
    if values.get("docker_host") or not environ.get("DOCKER_HOST", "").strip():
        return []
    try:
        docker_url(environ["DOCKER_HOST"])
    except Invalid as e:
        return [f"DOCKER_HOST (from environment, used as DIGITALME_DOCKER_HOST is empty): {e}"]
    return []


def ssh_destination(value):
    """``ssh://[user@]host-or-alias[:port]``, nothing more: the remote socket is Docker's default (plugins/probes/
    ssh.py), so a path or query would be ignored, as the docker CLI refuses them."""
    parts = urllib.parse.urlsplit(value)
    try:
        parts.port
    except ValueError:
        raise Invalid("an ssh:// Docker host's port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise Invalid("an ssh:// Docker host names a host or an ssh config alias: ssh://prod or ssh://user@host:port")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise Invalid("an ssh:// Docker host takes no path or query: ssh://[user@]host-or-alias[:port] (the Docker "
                      "socket there is /var/run/docker.sock)")


_TESTINFRA_BACKENDS = ("local", "ssh", "safe-ssh", "paramiko", "docker", "podman", "kubectl", "openshift",
                       "ansible", "salt", "winrm", "lxc", "chroot")


def host_spec(value):
    """A testinfra host: empty (``--hosts``, else this machine), or ``<backend>://...`` as ``--hosts`` takes it."""
    value = value.strip()
    if value and ("," in value or _WHITESPACE_OR_CONTROL.search(value)
                  or ("://" in value and value.split("://")[0] not in _TESTINFRA_BACKENDS)):
        raise Invalid("expected empty, or one testinfra host such as local://, ssh://user@host[:port] or "
                      "docker://container")
    return value


def number(low, high, integer=False, low_open=False, too_low=""):
    """A number in [low, high] (or (low, high] with low_open); ``too_low`` says why a smaller one, 0 or more, cannot
    be meant (a negative one is plainly out of range)."""
    def parse(value):
        try:
            result = int(value) if integer else float(value)
        except ValueError:
            raise Invalid(f"expected {'a whole number' if integer else 'a number'}") from None
        if not math.isfinite(result):
            raise Invalid("expected a finite number (not nan or inf)")  # nan compares false with every limit
        expected = f"expected a number {'>' if low_open else '>='} {low} and <= {high}"
        if too_low and 0 <= result and (result < low or (low_open and result == low)):
            raise Invalid(f"{value.strip()} is {too_low} ({expected})")
        if result > high or result < low or (low_open and result == low):
            raise Invalid(expected)
        return result
    return parse


def timeout(high):
    """Seconds, from 1 ms: libcurl (HTTP, the local Docker API) counts whole milliseconds and reads 0 as no
    timeout, so 0.0001 would wait as long as the server likes."""
    return number(0.001, high, too_low="below 1 ms, which the HTTP and Docker clients round to 0: no timeout at all")


_SIZE_UNITS = {"b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
               "t": 1000**4, "tb": 1000**4, "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2,
               "gi": 1024**3, "gib": 1024**3, "ti": 1024**4, "tib": 1024**4}


def size(value):
    """Bytes, from ``2GiB``, ``512MiB``, ``1GB``, ``2Gi`` (Docker's and Kubernetes' spelling) or ``4096B``. A plain
    number is refused: ``2`` would be 2 bytes, never what a memory or disk limit means."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    if match and not match.group(2):
        raise Invalid(f"{match.group(1)} bytes? write a unit, e.g. {match.group(1)}GiB, {match.group(1)}MiB "
                      f"or {match.group(1)}B")
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise Invalid("expected a size such as 2GiB, 512MiB or 1GB")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value):
    """Seconds, from ``90s``, ``30m``, ``4h`` or ``2d``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if not match:
        raise Invalid("expected a duration such as 30m, 4h or 1d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def choice(*options):
    def parse(value):
        if value.strip() not in options:
            raise Invalid("expected one of " + ", ".join(options))
        return value.strip()
    return parse


def name_list(value):
    return tuple(part.strip() for part in value.split(",") if part.strip())


def selection(name):
    """A selection as a run's ``-m`` names it: a schedule, ``all``, or an expression (``daily or weekly``). A single
    word that is none of them matches no run: a typo (``monitr:90``) would silently keep the default."""
    from plugins.configuration.markers import SCHEDULES
    if re.fullmatch(r"[\w-]+", name) and name not in (*SCHEDULES, "all"):
        meant = closest(name, (*SCHEDULES, "all"))
        raise Invalid(f"{name} is not a selection; " + (f"did you mean {meant}?" if meant else
                      f"expected {', '.join(SCHEDULES)}, all, or a -m expression"))
    return name


def thinned_selections(value):
    """Selections whose repeated passing runs keep a summary only (plugins/outputs/history.py); never daily, weekly or
    monthly, which always keep their full record."""
    names = tuple(selection(name) for name in name_list(value))
    kept = sorted(set(names) & {"daily", "weekly", "monthly"})
    if kept:
        raise Invalid(f"daily, weekly and monthly runs always keep their full record (found {', '.join(kept)})")
    return names


def days_by_selection(value):
    """``monitor:90,resources:180``: retention in days per selection, as a tuple of ``name:days``."""
    pairs = []
    for part in name_list(value):
        name, _, days = part.partition(":")
        if not name.strip() or not re.fullmatch(r"\s*\d+\s*", days) or not 1 <= int(days) <= 36500:
            raise Invalid("expected selection:days pairs (days 1 to 36500), e.g. monitor:90,resources:180")
        pairs.append(f"{selection(name.strip())}:{int(days)}")
    return tuple(pairs)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIDNIGHT = dt.time.max  # an end of 24:00: the window runs to the end of its day


@dataclasses.dataclass(frozen=True)
class Window:
    """A weekly window in UTC, e.g. the manual's maintenance window ``Sun 02:00-04:00``."""
    weekday: int  # Monday is 0, as datetime.weekday()
    start: dt.time
    end: dt.time

    def __contains__(self, moment):
        moment = moment.astimezone(dt.timezone.utc)
        return moment.weekday() == self.weekday and self.start <= moment.time().replace(tzinfo=None) < self.end

    def __str__(self):
        end = "24:00" if self.end == MIDNIGHT else f"{self.end:%H:%M}"
        return f"{_DAYS[self.weekday].title()} {self.start:%H:%M}-{end} UTC"


def clock(hours, minutes, end=False):
    """``HH:MM`` as a time; 24:00 only as an end (the end of the day)."""
    if end and (hours, minutes) == ("24", "00"):
        return MIDNIGHT
    return dt.time(int(hours), int(minutes))


def window(value):
    """``off`` (or empty), or ``<Day> HH:MM-HH:MM`` in UTC: the day as ``Sun`` or ``Sunday``, an end of 24:00
    allowed, a trailing ``UTC`` too (the window prints so). Any other zone is refused, not ignored: the window
    would silently be hours off."""
    if value.strip().lower() in ("", "off", "none"):
        return None
    expected = "expected 'off' or a weekly window such as 'Sun 02:00-04:00' (UTC)"
    match = re.fullmatch(r"\s*([A-Za-z]+)\s+(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*([\w+\-:/]*)\s*", value)
    if match and match.group(6) and match.group(6).upper() not in ("UTC", "Z"):
        raise Invalid(f"the window is in UTC: write its times in UTC, without {match.group(6)!r}")
    day = match.group(1).lower() if match else ""
    try:
        weekday = _DAYS.index(day) if day in _DAYS else _DAY_NAMES.index(day)
        start = clock(match.group(2), match.group(3))
        end = clock(match.group(4), match.group(5), end=True)
    except ValueError:
        raise Invalid(expected) from None
    if end <= start:
        raise Invalid("the window must end after it starts (within one day, UTC)")
    return Window(weekday, start, end)


def apprise_urls(value):
    """Apprise URLs separated by whitespace (empty: none), each one Apprise can parse. Apprise is imported only when
    one is given. Messages name a URL by its place and scheme, never more: these URLs carry passwords and tokens."""
    urls = tuple(dict.fromkeys(value.split()))
    if not urls:
        return ()
    from plugins.apprise_urls import unparsable  # here: Apprise is loaded only when a URL is given
    try:
        bad = unparsable(urls)
    except ImportError:
        raise Invalid("Apprise URLs need the apprise package: pip install -r requirements.txt") from None
    if bad:
        raise Invalid("; ".join(bad) + " (see https://github.com/caronc/apprise/wiki for each service's URL)")
    return urls


def as_values(value):
    """A setting's value as a list of values (a list of URLs stays one, every other value is one)."""
    return list(value) if isinstance(value, tuple) else [value]


# --- the declarations ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: object
    help: str
    secret: bool = False
    flag: str = ""

    @property
    def env(self):
        return "DIGITALME_" + self.name.upper()

    @property
    def ini(self):
        return "digitalme_" + self.name

    @property
    def option(self):
        return self.flag or "--digitalme-" + self.name.replace("_", "-")

    @property
    def dest(self):
        return "digitalme_" + self.name


DECLARED = (
    # The target
    Setting("base_url", "http://localhost", url, "Base URL of the app over plain HTTP (manual: curl http://localhost/health)."),
    Setting("https_url", "https://localhost", optional_url, "HTTPS URL of the app; empty when HTTPS does not apply (HTTPS checks then skip)."),
    Setting("docker_host", "", docker_url, "The Docker API of the deployment's host (empty: DOCKER_HOST, else the local socket); ssh://host-or-alias goes over SSH, your ssh config applying."),
    Setting("host", "", host_spec, "The deployment's host for host checks, as testinfra names it (empty: --hosts, else this machine), e.g. ssh://prod (an ssh config alias)."),
    Setting("compose_file", "docker-compose.production.yml", required_text, "The deployment's compose file, as a path on the checking machine."),
    Setting("compose_project", "digitalme", required_text, "Compose project name: its containers carry the label com.docker.compose.project."),
    Setting("container", "digitalme-digitalme-1", required_text, "The app container's name."),
    Setting("db_path", "/app/data/digitalme.db", required_text, "The SQLite database, as a path inside the container."),
    Setting("backup_dir", "/app/backups", required_text, "The backup folder, as a path inside the container."),
    Setting("env_file", "", text, "The deployment's .env on the checked host (empty: its checks skip)."),
    Setting("cert_file", "", text, "The certificate file the app serves, as a path inside the container (empty: the .env's SSL_CERT_PATH, else the PEM or PFX under /https)."),
    Setting("db_required_tables", "", name_list, "Tables a restored backup must hold besides the live database's (comma-separated)."),
    # Thresholds: the manual's values
    Setting("response_time_max_s", "1.0", number(0, 60, low_open=True), "Each endpoint answers within this many seconds (manual: <1s)."),
    Setting("memory_max_pct", "85", number(0, 100), "Host memory in use must stay below this percentage."),
    Setting("disk_max_pct", "80", number(0, 100), "Every real filesystem's use must stay below this percentage."),
    Setting("cpu_max_pct", "90", number(0, 100), "CPU use sustained over 5 minutes (5-minute load per core) must stay below this percentage."),
    Setting("container_memory_max", "2GiB", size, "The app container's memory use must stay below this size."),
    Setting("restarts_max", "3", number(0, 10**6, integer=True), "More restarts than this (Docker's RestartCount) is a restart loop."),
    Setting("backups_min", "3", number(1, 10**6, integer=True), "At least this many backup databases within the backup window."),
    Setting("backup_window_days", "7", number(0, 3650, low_open=True), "The window, in days, in which backups count as recent."),
    Setting("backup_max_age_h", "26", number(0, 10**5, low_open=True), "The newest backup must be younger than this many hours."),
    Setting("db_max_age_h", "24", number(0, 10**5, low_open=True), "The database (or its -wal) must have been written within this many hours."),
    Setting("db_size_max", "1GiB", size, "Database size above which scaling is due (deployment guide: 1 GB)."),
    Setting("db_free_pct_max", "25", number(0, 100), "Free pages above this share of the database mean VACUUM is due."),
    Setting("docker_reclaimable_max", "5GiB", size, "Reclaimable Docker space (dangling images, stopped containers) above this is a warning."),
    Setting("log_errors_max", "10", number(0, 10**9, integer=True), "Error log entries (level fail or crit) allowed in the last 24 h."),
    Setting("log_slow_max", "20", number(0, 10**9, integer=True), "slow|timeout|performance log entries allowed in the last 720 h."),
    Setting("log_auth_failures_max", "20", number(0, 10**9, integer=True), "Authentication-failure log entries allowed in the last 24 h."),
    Setting("cert_warn_days", "30", number(0, 3650, integer=True), "Warn when the certificate has fewer days left."),
    Setting("cert_crit_days", "7", number(0, 3650, integer=True), "Critical when the certificate has fewer days left."),
    Setting("image_max_age_days", "30", number(0, 36500, low_open=True), "The running image must not be older than this many days."),
    Setting("connect_timeout_s", "3", timeout(120), "Connect timeout of every HTTP request."),
    Setting("read_timeout_s", "10", timeout(600), "Read timeout of every HTTP request."),
    Setting("docker_timeout_s", "15", timeout(600), "Timeout of every Docker API call."),
    Setting("change_wait_s", "60", number(0, 3600), "How long `pytest -m change` waits for the app to be healthy after a change (Docker health and /health Healthy)."),
    # The fleet
    Setting("targets", "", text, "A TOML file of targets (deployments) to check in one run, each with its own settings (empty: one target, from these settings).", flag="--digitalme-targets"),
    # Records
    Setting("report_dir", "reports", required_text, "Where results files, HTML reports and alert state are kept."),
    Setting("report_retention_days", "400", number(1, 36500, integer=True), "Results and reports older than this are removed."),
    Setting("report_retention_by_selection", "", days_by_selection, "Retention per selection in days, e.g. monitor:90,resources:180 (records and summaries); a selection not named keeps report_retention_days."),
    Setting("report_thin", "monitor,resources", thinned_selections, "Selections whose passing runs that repeat the previous run's outcomes keep a summary line only, no HTML or results file (empty: none; never daily, weekly or monthly)."),
    Setting("waivers", "", text, "A TOML file of waivers: accepted findings, each with a reason, an owner and an expiry (empty: none).", flag="--digitalme-waivers"),
    Setting("waiver_max_days", "90", number(1, 3650, integer=True), "A waiver may expire at most this many days ahead."),
    Setting("prometheus_dir", "", text, "Where digitalme_<selection>.prom is written after each run, for node_exporter's textfile collector (empty: not written)."),
    # Alerts
    Setting("alerts", "on", choice("on", "off", "dry-run"), "Send alerts (on), not at all (off), or print them (dry-run).", flag="--alerts"),
    Setting("webhook_url", "", optional_url, "Webhook for every alert (unset: no webhooks).", secret=True),
    Setting("webhook_url_critical", "", optional_url, "Webhook for critical alerts, instead of DIGITALME_WEBHOOK_URL.", secret=True),
    Setting("webhook_url_warning", "", optional_url, "Webhook for warning alerts, instead of DIGITALME_WEBHOOK_URL.", secret=True),
    Setting("webhook_url_emergency", "", optional_url, "Webhook for Level 3 (emergency) alerts: criticals firing past DIGITALME_ESCALATE_AFTER, and data loss or security incidents at once (unset: no Level 3).", secret=True),
    Setting("webhook_secret", "", text, "Signs each webhook body (HMAC-SHA256, header X-DigitalMe-Signature).", secret=True),
    Setting("notify", "", apprise_urls, "Apprise URLs (whitespace-separated: mailtos://, slack://, msteams://, ntfy://, json:// ...) told of every alert, Level 3 included (unset: none).", secret=True),
    Setting("notify_critical", "", apprise_urls, "Apprise URLs told of critical alerts, besides DIGITALME_NOTIFY (Level 2: engineering@).", secret=True),
    Setting("notify_warning", "", apprise_urls, "Apprise URLs told of warning alerts, besides DIGITALME_NOTIFY (Level 1: sysadmin@).", secret=True),
    Setting("notify_emergency", "", apprise_urls, "Apprise URLs told of Level 3 (emergency) alerts, besides DIGITALME_NOTIFY (Level 3: emergency@).", secret=True),
    Setting("heartbeat_url", "", optional_url, "Pinged at the end of every run (dead-man's switch); /fail appended when a check failed, no check ran, the report folder failed or an alert was not delivered.", secret=True),
    Setting("alert_repeat_critical", "1h", duration, "A critical alert that keeps firing is re-sent after this long."),
    Setting("alert_repeat_warning", "4h", duration, "A warning alert that keeps firing is re-sent after this long."),
    Setting("alert_after_critical", "1", number(1, 10**4, integer=True), "Consecutive failing runs of a critical check before it alerts."),
    Setting("alert_after_warning", "1", number(1, 10**4, integer=True), "Consecutive failing runs of a warning check before it alerts."),
    Setting("resolve_after", "1", number(1, 10**4, integer=True), "Consecutive passing runs of an alerted check before it is resolved."),
    Setting("escalate_after", "30m", duration, "A critical alert still firing this long after its first alert is sent once to the Level 3 (emergency) route."),
    Setting("maintenance_window", "Sun 02:00-04:00", window, "Alerts inside this weekly UTC window are held and sent by the first run after it ('off' to disable)."),
    Setting("alerts_max_per_run", "10", number(1, 10**6, integer=True), "Beyond this many alerts in one run, one summary alert is sent instead."),
    Setting("alert_budget_s", "30", number(0, 3600, low_open=True), "Total time one run may spend delivering alerts."),
)
BY_NAME = {setting.name: setting for setting in DECLARED}
# Settings of the run, not of one target: where the record goes, how alerts are sent, the fleet itself. Every
# other setting may differ per target of a targets file (plugins/configuration/targets.py).
RUN_WIDE = ("targets", "report_dir", "report_retention_days", "report_retention_by_selection", "report_thin", "alerts",
            "heartbeat_url", "alerts_max_per_run", "alert_budget_s", "prometheus_dir",
            "waivers", "waiver_max_days")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved values, read as ``settings.disk_max_pct``; ``sources`` says where each came from."""
    values: dict
    sources: dict
    also_secret: tuple = ()  # other targets' secrets (plugins/configuration/targets.py): every writer scrubs all of them

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        # a check's locals (--showlocals), assertion rewriting and junit.xml print this: never the secrets
        return f"Settings({self.redacted()!r})"

    def redacted(self):
        """Every value fit to print: secrets masked, credentials removed from URLs."""
        shown = {}
        for setting in DECLARED:
            value = self.values[setting.name]
            if setting.secret and value:
                value = MASK
            elif isinstance(value, str) and "@" in value and "://" in value:
                value = without_url_credentials(value)
            elif isinstance(value, (tuple, Window)):
                value = ",".join(value) if isinstance(value, tuple) else str(value)
            shown[setting.name] = value
        return shown

    def secrets(self):
        """The secret values in force, so writers of reports and alerts can scrub them."""
        own = [value for s in DECLARED if s.secret for value in as_values(self.values[s.name]) if value]
        return own + [secret for secret in self.also_secret if secret not in own]

    def secrets_with_url_paths(self):
        """The secrets, and the paths of the secret URLs on their own: a library's error message or a traceback
        may quote a webhook's token-bearing path without its scheme and host."""
        secrets = self.secrets()
        return secrets + [urllib.parse.urlsplit(value).path for value in secrets if "://" in value]


ENV_PREFIX, INI_PREFIX = "DIGITALME_", "digitalme_"


def not_a_setting(name, spell, source):
    """``name`` (a variable or key that names no setting) refused, with the setting it most likely means, spelt
    by ``spell(setting)`` as the operator would write it there."""
    meant = closest(name.upper().removeprefix(ENV_PREFIX).lower(), BY_NAME)
    hint = f"did you mean {spell(BY_NAME[meant])}?" if meant else "the README's Settings table lists them all"
    return f"{name} is not a setting; {hint} (from {source})"


def unknown_names(config, environ):
    """A problem for every ``DIGITALME_*`` variable and ``digitalme_*`` ini key (in any case) that names no
    setting: pytest only warns of an unknown ini key, and an unknown variable it never sees, so a typo would
    leave its setting at the default without a word (a misspelt webhook: the first real failure unrouted).
    Values are never shown: the variable may hold a secret."""
    envs = {setting.env for setting in DECLARED}
    inis = {setting.ini for setting in DECLARED}
    overrides = {entry.partition("=")[0].strip() for entry in config.getoption("override_ini") or ()}
    problems = [not_a_setting(name, lambda s: s.env, "environment") for name in sorted(environ)
                if name.upper().startswith(ENV_PREFIX) and name not in envs]
    problems += [not_a_setting(key, lambda s: s.ini, "option -o" if key in overrides else config.inipath or "ini")
                 for key in sorted(adapters.ini_keys(config)) if key.lower().startswith(INI_PREFIX) and key not in inis]
    return problems


def addoptions(parser):
    group = parser.getgroup("digitalme", "DigitalMe operational checks")
    for setting in DECLARED:
        help_text = f"{setting.help} [env {setting.env}, ini {setting.ini}, default {setting.default!r}]"
        group.addoption(setting.option, dest=setting.dest, default=None, metavar="VALUE", help=help_text)
        parser.addini(setting.ini, setting.help, default=None)


def resolve(config, environ):
    """Resolve and validate every setting; raise pytest.UsageError naming every bad one."""
    values, sources, problems = {}, {}, []
    for setting in DECLARED:
        raw, source = setting.default, "default"
        ini_value = config.getini(setting.ini)
        if ini_value not in (None, ""):
            raw, source = ini_value, f"pytest.ini {setting.ini}"
        if setting.env in environ:
            raw, source = environ[setting.env], f"environment {setting.env}"
        if config.getoption(setting.dest) is not None:
            raw, source = config.getoption(setting.dest), f"option {setting.option}"
        try:
            values[setting.name] = setting.parse(raw)
        except Invalid as e:
            shown = MASK if setting.secret else repr(without_url_credentials(raw))
            problems.append(f"{setting.env}={shown} (from {source}): {e}")
        sources[setting.name] = source
    if not problems and values["cert_crit_days"] > values["cert_warn_days"]:
        problems.append(f"DIGITALME_CERT_CRIT_DAYS={values['cert_crit_days']} (from {sources['cert_crit_days']}): "
                        f"must not exceed DIGITALME_CERT_WARN_DAYS={values['cert_warn_days']}")
    problems += unknown_names(config, environ)
    problems += docker_host_variable(values, environ)
    if problems:
        raise pytest.UsageError("invalid DigitalMe setting" + ("s" if len(problems) > 1 else "") + ":\n  "
                                + "\n  ".join(problems))
    return Settings(values, sources)


# --- hooks --------------------------------------------------------------------------------------

def pytest_addoption(parser):
    addoptions(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Resolve once, before any other plugin configures, so a bad value stops the run first; then the targets
    (a bad targets file stops it as early)."""
    config.stash[SETTINGS] = resolve(config, os.environ)
    from plugins.configuration.targets import configure_targets
    configure_targets(config)
