"""Every setting of the suite, declared once: command-line flag, environment variable, pytest.ini key,
the operations manual's default, a help text and the unit of its number; and :class:`Settings`, the resolved values.
docs/reference/settings.md is generated from this list (scripts/docs_reference.py).

Precedence: command line > environment (``DIGITALME_*``) > ``pytest.ini`` > the manual's default. All values
are resolved and validated once, at the start of the run (plugins/configuration/resolve.py, settled by
plugins/configuration/stage.py); every bad one is reported together, naming its source, and the run stops with
pytest's usage error (exit 4) before any check; so does a ``DIGITALME_*`` variable or ``digitalme_*`` ini key that
names no setting (a typo), with a did-you-mean. The result is one frozen :class:`Settings` kept in
``config.stash[SETTINGS]``. No hooks.
"""

import dataclasses
import urllib.parse

import pytest

from plugins.configuration.parsers import (apprise_urls, choice, days_by_selection, docker_url, duration, host_spec,
                                           name_list, number, optional_url, required_text, routing_key, size, text,
                                           thinned_selections, timeout, url, url_list)
from plugins.configuration.window import Window, window
from plugins.secrets import MASK, without_url_credentials

SETTINGS = pytest.StashKey["Settings"]()


def as_values(value):
    """A setting's value as a list of values (a list of URLs stays one, every other value is one)."""
    return list(value) if isinstance(value, tuple) else [value]


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting. ``unit``: what its number counts, in plugins/units.py's words (``pct``, ``s``, ``h``, ``days``,
    ``bytes``, ``number``; empty for a URL, a path, a name), the unit the checks record it in as a threshold."""
    name: str
    default: str
    parse: object
    help: str
    secret: bool = False
    flag: str = ""
    unit: str = ""

    @property
    def per_target(self):
        """Whether a target of a targets file may set it (plugins/configuration/targets_file.py): all but RUN_WIDE."""
        return self.name not in RUN_WIDE

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
    Setting("response_time_max_s", "1.0", number(0, 60, low_open=True), "Each endpoint answers within this many seconds (manual: <1s).", unit="s"),
    Setting("memory_max_pct", "85", number(0, 100), "Host memory in use must stay below this percentage.", unit="pct"),
    Setting("disk_max_pct", "80", number(0, 100), "Every real filesystem's use must stay below this percentage.", unit="pct"),
    Setting("cpu_max_pct", "90", number(0, 100), "CPU use sustained over 5 minutes (5-minute load per core) must stay below this percentage.", unit="pct"),
    Setting("container_memory_max", "2GiB", size, "The app container's memory use must stay below this size.", unit="bytes"),
    Setting("restarts_max", "3", number(0, 10**6, integer=True), "More restarts than this (Docker's RestartCount) is a restart loop.", unit="number"),
    Setting("backups_min", "3", number(1, 10**6, integer=True), "At least this many backup databases within the backup window.", unit="number"),
    Setting("backup_window_days", "7", number(0, 3650, low_open=True), "The window, in days, in which backups count as recent.", unit="days"),
    Setting("backup_max_age_h", "26", number(0, 10**5, low_open=True), "The newest backup must be younger than this many hours.", unit="h"),
    Setting("db_max_age_h", "24", number(0, 10**5, low_open=True), "The database (or its -wal) must have been written within this many hours.", unit="h"),
    Setting("db_size_max", "1GiB", size, "Database size above which scaling is due (deployment guide: 1 GB).", unit="bytes"),
    Setting("db_free_pct_max", "25", number(0, 100), "Free pages above this share of the database mean VACUUM is due.", unit="pct"),
    Setting("docker_reclaimable_max", "5GiB", size, "Reclaimable Docker space (dangling images, stopped containers) above this is a warning.", unit="bytes"),
    Setting("log_errors_max", "10", number(0, 10**9, integer=True), "Error log entries (level fail or crit) allowed in the last 24 h.", unit="number"),
    Setting("log_slow_max", "20", number(0, 10**9, integer=True), "slow|timeout|performance log entries allowed in the last 720 h.", unit="number"),
    Setting("log_auth_failures_max", "20", number(0, 10**9, integer=True), "Authentication-failure log entries allowed in the last 24 h.", unit="number"),
    Setting("cert_warn_days", "30", number(0, 3650, integer=True), "Warn when the certificate has fewer days left.", unit="days"),
    Setting("cert_crit_days", "7", number(0, 3650, integer=True), "Critical when the certificate has fewer days left.", unit="days"),
    Setting("image_max_age_days", "30", number(0, 36500, low_open=True), "The running image must not be older than this many days.", unit="days"),
    Setting("connect_timeout_s", "3", timeout(120), "Connect timeout of every HTTP request.", unit="s"),
    Setting("read_timeout_s", "10", timeout(600), "Read timeout of every HTTP request.", unit="s"),
    Setting("docker_timeout_s", "15", timeout(600), "Timeout of every Docker API call.", unit="s"),
    Setting("change_wait_s", "60", number(0, 3600), "How long `pytest -m change` waits for the app to be healthy after a change (Docker health and /health Healthy).", unit="s"),
    # The fleet
    Setting("targets", "", text, "A TOML file of targets (deployments) to check in one run, each with its own settings (empty: one target, from these settings).", flag="--digitalme-targets"),
    # Records
    Setting("report_dir", "reports", required_text, "Where results files, HTML reports and alert state are kept."),
    Setting("report_retention_days", "400", number(1, 36500, integer=True), "Results and reports older than this are removed.", unit="days"),
    Setting("report_retention_by_selection", "", days_by_selection, "Retention per selection in days, e.g. monitor:90,resources:180 (records and summaries); a selection not named keeps report_retention_days.", unit="days"),
    Setting("report_thin", "monitor,resources", thinned_selections, "Selections whose passing runs that repeat the previous run's outcomes keep a summary line only, no HTML or results file (empty: none; never daily, weekly or monthly)."),
    Setting("waivers", "", text, "A TOML file of waivers: accepted findings, each with a reason, an owner and an expiry (empty: none).", flag="--digitalme-waivers"),
    Setting("waiver_max_days", "90", number(1, 3650, integer=True), "A waiver may expire at most this many days ahead.", unit="days"),
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
    # Alertmanager and PagerDuty (plugins/outputs/alerting/channels/alertmanager.py, pagerduty.py)
    Setting("alertmanager_url", "", url_list, "Alertmanager base URL(s), comma-separated for an HA pair (each gets every alert, POST /api/v2/alerts); unset: no Alertmanager.", secret=True),
    Setting("pagerduty_routing_key", "", routing_key, "PagerDuty Events API v2 routing (integration) key for critical and warning alerts (unset: no PagerDuty).", secret=True),
    Setting("pagerduty_routing_key_emergency", "", routing_key, "PagerDuty routing key for Level 3 (emergency) alerts (unset: PagerDuty hears no Level 3).", secret=True),
    Setting("pagerduty_url", "https://events.pagerduty.com/v2/enqueue", url, "PagerDuty Events API v2 endpoint: the EU one (https://events.eu.pagerduty.com/v2/enqueue) or a proxy."),
    Setting("heartbeat_url", "", optional_url, "Pinged at the end of every run (dead-man's switch); /fail appended when a check failed, no check ran, the report folder failed or an alert was not delivered.", secret=True),
    Setting("alert_repeat_critical", "1h", duration, "A critical alert that keeps firing is re-sent after this long.", unit="s"),
    Setting("alert_repeat_warning", "4h", duration, "A warning alert that keeps firing is re-sent after this long.", unit="s"),
    Setting("alert_after_critical", "1", number(1, 10**4, integer=True), "Consecutive failing runs of a critical check before it alerts.", unit="number"),
    Setting("alert_after_warning", "1", number(1, 10**4, integer=True), "Consecutive failing runs of a warning check before it alerts.", unit="number"),
    Setting("resolve_after", "1", number(1, 10**4, integer=True), "Consecutive passing runs of an alerted check before it is resolved.", unit="number"),
    Setting("escalate_after", "30m", duration, "A critical alert still firing this long after its first alert is sent once to the Level 3 (emergency) route.", unit="s"),
    Setting("maintenance_window", "Sun 02:00-04:00", window, "Alerts inside this weekly UTC window are held and sent by the first run after it ('off' to disable)."),
    Setting("alerts_max_per_run", "10", number(1, 10**6, integer=True), "Beyond this many alerts in one run, one summary alert is sent instead.", unit="number"),
    Setting("alert_budget_s", "30", number(0, 3600, low_open=True), "Total time one run may spend delivering alerts.", unit="s"),
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
