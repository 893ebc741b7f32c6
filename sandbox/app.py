"""A stand-in for the DigitalMe ASP.NET app, faithful where the checks look.

It serves what the real app serves (``/health``, ``/health/ready``, ``/info``; HTTP on 80 and HTTPS on
443 with the mounted certificate), writes a real SQLite database in WAL mode, and runs the backup job
that leaves ``digitalme_YYYYMMDD_HHMMSS.db`` and ``backup_report_<ts>.txt`` in ``/app/backups``.

Faults are injected through files in the read-only control folder (``/app/control``), read on every
request, so the suite's own tests break and restore it in milliseconds without a rebuild:

==================  ===========================================================================
``health``          ``Healthy``, ``Degraded`` or ``Unhealthy``: overrides ``/health``
``ready``           the same for ``/health/ready``
``delay``           seconds to sleep before answering any request
``info``            ``broken``: ``/info`` answers 500 with a text body; ``array``: 200 with a JSON array
``crash``           present at start-up: exit 3 at once (with ``restart: unless-stopped``, a loop)
``memory_mb``       hold this many MiB of memory
``writer_paused``   present: the app stops writing to its database
``headers_off``     present: no security headers
``server_header``   present: send a version-revealing ``Server`` header
``leak``            present: ``/info`` exposes the API key (what an auditor must catch)
``no_hsts``         present: no ``Strict-Transport-Security`` on HTTPS
``tls_min``         ``1.0`` or ``1.1``: accept that old TLS version again (an outdated server configuration)
``cert_pinned``     present: keep serving the certificate loaded first, as Kestrel does, until a restart
``log_secret``      ``api_key`` or ``password``: log one entry holding the API key or a connection string's password
                    (once per new content, as an app logging its request or its configuration would)
==================  ===========================================================================
"""

import datetime as dt
import http.server
import json
import os
import platform
import signal
import socket
import sqlite3
import ssl
import sys
import threading
import time
import uuid

DB_PATH = os.environ.get("DIGITALME_DB", "/app/data/digitalme.db")
BACKUP_DIR = os.environ.get("BACKUP_DIR", "/app/backups")
LOG_DIR = os.environ.get("LOG_DIR", "/app/logs")
CONTROL_DIR = os.environ.get("CONTROL_DIR", "/app/control")
CERT_FILE = os.environ.get("CERT_FILE", "/https/digitalme.crt")
KEY_FILE = os.environ.get("KEY_FILE", "/https/digitalme.key")
HTTP_PORT = int(os.environ.get("HTTP_PORT", "80"))
HTTPS_PORT = int(os.environ.get("HTTPS_PORT", "443"))
WRITE_INTERVAL_S = float(os.environ.get("WRITE_INTERVAL_S", "30"))
BACKUP_INTERVAL_S = float(os.environ.get("BACKUP_INTERVAL_S", "21600"))
BACKUP_RETENTION_DAYS = 7
BACKUP_MAX_FILES = 30
VERSION = "1.0.0-sandbox"

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HEALTH_STATUS = {"Healthy": 200, "Degraded": 200, "Unhealthy": 503}
OLD_TLS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1}
_held_memory = []


def log(level, category, event_id, message, stack=()):
    """Write one entry the way ASP.NET's console logger does: ``<level>: <Category>[<EventId>]``, then the
    message indented by six spaces, then an exception's lines (its stack trace) indented the same way."""
    lines = [line for text in (message, *stack) for line in text.splitlines()]
    entry = f"{level}: {category}[{event_id}]\n" + "\n".join("      " + line for line in lines)
    print(entry, flush=True)
    try:
        day = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
        with open(os.path.join(LOG_DIR, f"digitalme-{day}.log"), "a") as f:
            f.write(f"{dt.datetime.now(dt.timezone.utc).isoformat()} {entry}\n")
    except OSError:
        pass


def exception_lines(error):
    """An error as .NET prints the exception the app logs with it: type and message, then a stack frame."""
    if isinstance(error, sqlite3.Error):
        return (f"Microsoft.Data.Sqlite.SqliteException (0x80004005): SQLite Error: '{error}'.\n"
                "   at Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(Int32 rc, sqlite3 db)")
    return f"System.IO.IOException: {error}\n   at System.IO.FileSystem.CopyFile(String sourceFullPath, String destFullPath)"


def control(name):
    """The content of a control file, or None when it is absent."""
    try:
        with open(os.path.join(CONTROL_DIR, name)) as f:
            return f.read().strip()
    except OSError:
        return None


# --- database -----------------------------------------------------------------------------------

# The real DigitalMeDbContext extends IdentityDbContext and is migrated by EF Core: the Identity tables and the
# app's own sets, in the SQL EF Core's SQLite provider generates (no "Users" table: users are AspNetUsers).
MIGRATION = ("20250901000000_InitialCreate", "8.0.8")
SCHEMA = """
CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" (
    "MigrationId" TEXT NOT NULL CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY,
    "ProductVersion" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "AspNetRoles" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_AspNetRoles" PRIMARY KEY, "Name" TEXT NULL, "NormalizedName" TEXT NULL,
    "ConcurrencyStamp" TEXT NULL);
CREATE TABLE IF NOT EXISTS "AspNetUsers" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_AspNetUsers" PRIMARY KEY, "UserName" TEXT NULL,
    "NormalizedUserName" TEXT NULL, "Email" TEXT NULL, "NormalizedEmail" TEXT NULL,
    "EmailConfirmed" INTEGER NOT NULL, "PasswordHash" TEXT NULL, "SecurityStamp" TEXT NULL,
    "ConcurrencyStamp" TEXT NULL, "PhoneNumber" TEXT NULL, "PhoneNumberConfirmed" INTEGER NOT NULL,
    "TwoFactorEnabled" INTEGER NOT NULL, "LockoutEnd" TEXT NULL, "LockoutEnabled" INTEGER NOT NULL,
    "AccessFailedCount" INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS "AspNetRoleClaims" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_AspNetRoleClaims" PRIMARY KEY AUTOINCREMENT, "RoleId" TEXT NOT NULL,
    "ClaimType" TEXT NULL, "ClaimValue" TEXT NULL,
    CONSTRAINT "FK_AspNetRoleClaims_AspNetRoles_RoleId" FOREIGN KEY ("RoleId") REFERENCES "AspNetRoles" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "AspNetUserClaims" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_AspNetUserClaims" PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL,
    "ClaimType" TEXT NULL, "ClaimValue" TEXT NULL,
    CONSTRAINT "FK_AspNetUserClaims_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "AspNetUserLogins" (
    "LoginProvider" TEXT NOT NULL, "ProviderKey" TEXT NOT NULL, "ProviderDisplayName" TEXT NULL, "UserId" TEXT NOT NULL,
    CONSTRAINT "PK_AspNetUserLogins" PRIMARY KEY ("LoginProvider", "ProviderKey"),
    CONSTRAINT "FK_AspNetUserLogins_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "AspNetUserRoles" (
    "UserId" TEXT NOT NULL, "RoleId" TEXT NOT NULL,
    CONSTRAINT "PK_AspNetUserRoles" PRIMARY KEY ("UserId", "RoleId"),
    CONSTRAINT "FK_AspNetUserRoles_AspNetRoles_RoleId" FOREIGN KEY ("RoleId") REFERENCES "AspNetRoles" ("Id") ON DELETE CASCADE,
    CONSTRAINT "FK_AspNetUserRoles_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "AspNetUserTokens" (
    "UserId" TEXT NOT NULL, "LoginProvider" TEXT NOT NULL, "Name" TEXT NOT NULL, "Value" TEXT NULL,
    CONSTRAINT "PK_AspNetUserTokens" PRIMARY KEY ("UserId", "LoginProvider", "Name"),
    CONSTRAINT "FK_AspNetUserTokens_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE);
CREATE UNIQUE INDEX IF NOT EXISTS "RoleNameIndex" ON "AspNetRoles" ("NormalizedName");
CREATE INDEX IF NOT EXISTS "EmailIndex" ON "AspNetUsers" ("NormalizedEmail");
CREATE UNIQUE INDEX IF NOT EXISTS "UserNameIndex" ON "AspNetUsers" ("NormalizedUserName");
CREATE TABLE IF NOT EXISTS "PersonalityProfiles" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_PersonalityProfiles" PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL,
    "Name" TEXT NOT NULL, "Description" TEXT NULL, "CreatedAt" TEXT NOT NULL, "UpdatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_PersonalityProfiles_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "PersonalityTraits" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_PersonalityTraits" PRIMARY KEY AUTOINCREMENT,
    "PersonalityProfileId" INTEGER NOT NULL, "Category" TEXT NOT NULL, "Name" TEXT NOT NULL, "Value" TEXT NOT NULL,
    "Weight" REAL NOT NULL, "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_PersonalityTraits_PersonalityProfiles_PersonalityProfileId" FOREIGN KEY ("PersonalityProfileId") REFERENCES "PersonalityProfiles" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "TemporalBehaviorPatterns" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_TemporalBehaviorPatterns" PRIMARY KEY AUTOINCREMENT,
    "PersonalityProfileId" INTEGER NOT NULL, "TimeOfDay" TEXT NOT NULL, "DayOfWeek" TEXT NULL,
    "Pattern" TEXT NOT NULL, "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_TemporalBehaviorPatterns_PersonalityProfiles_PersonalityProfileId" FOREIGN KEY ("PersonalityProfileId") REFERENCES "PersonalityProfiles" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "Conversations" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Conversations" PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL,
    "Title" TEXT NULL, "Platform" TEXT NOT NULL DEFAULT 'Web', "CreatedAt" TEXT NOT NULL, "UpdatedAt" TEXT NULL,
    CONSTRAINT "FK_Conversations_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS "Messages" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Messages" PRIMARY KEY AUTOINCREMENT, "ConversationId" INTEGER NOT NULL,
    "Role" TEXT NOT NULL, "Content" TEXT NOT NULL, "Metadata" TEXT NULL, "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_Messages_Conversations_ConversationId" FOREIGN KEY ("ConversationId") REFERENCES "Conversations" ("Id") ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS "IX_Messages_ConversationId" ON "Messages" ("ConversationId");
CREATE TABLE IF NOT EXISTS "TelegramMessages" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_TelegramMessages" PRIMARY KEY AUTOINCREMENT, "ChatId" INTEGER NOT NULL,
    "MessageId" INTEGER NOT NULL, "FromUsername" TEXT NULL, "Text" TEXT NULL, "IsFromBot" INTEGER NOT NULL,
    "CreatedAt" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "CalendarEvents" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_CalendarEvents" PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL,
    "ExternalId" TEXT NULL, "Title" TEXT NOT NULL, "StartTime" TEXT NOT NULL, "EndTime" TEXT NOT NULL,
    "Location" TEXT NULL, "CreatedAt" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "ErrorPatterns" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_ErrorPatterns" PRIMARY KEY AUTOINCREMENT, "PatternHash" TEXT NOT NULL,
    "Category" TEXT NOT NULL, "Description" TEXT NOT NULL, "OccurrenceCount" INTEGER NOT NULL,
    "FirstSeen" TEXT NOT NULL, "LastSeen" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "LearningHistoryEntries" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_LearningHistoryEntries" PRIMARY KEY AUTOINCREMENT,
    "ErrorPatternId" INTEGER NULL, "Source" TEXT NOT NULL, "Outcome" TEXT NOT NULL, "Details" TEXT NULL,
    "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_LearningHistoryEntries_ErrorPatterns_ErrorPatternId" FOREIGN KEY ("ErrorPatternId") REFERENCES "ErrorPatterns" ("Id"));
CREATE TABLE IF NOT EXISTS "OptimizationSuggestions" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_OptimizationSuggestions" PRIMARY KEY AUTOINCREMENT,
    "ErrorPatternId" INTEGER NULL, "Title" TEXT NOT NULL, "Description" TEXT NOT NULL, "Priority" INTEGER NOT NULL,
    "Status" TEXT NOT NULL, "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_OptimizationSuggestions_ErrorPatterns_ErrorPatternId" FOREIGN KEY ("ErrorPatternId") REFERENCES "ErrorPatterns" ("Id"));
CREATE TABLE IF NOT EXISTS "ApiConfigurations" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_ApiConfigurations" PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL,
    "Provider" TEXT NOT NULL, "EncryptedApiKey" TEXT NULL, "IsActive" INTEGER NOT NULL, "CreatedAt" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "ApiUsageRecords" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_ApiUsageRecords" PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL,
    "Provider" TEXT NOT NULL, "RequestType" TEXT NOT NULL, "TokensUsed" INTEGER NOT NULL, "CostUsd" TEXT NOT NULL,
    "Success" INTEGER NOT NULL, "CreatedAt" TEXT NOT NULL);
"""
OWNER_ID = "7d0f3c52-4b1e-4e8a-9c57-0e5f2a1b9d10"


def connect_existing():
    """Open the database only if it exists: a missing file is a fault, not something to recreate."""
    return sqlite3.connect(f"file:{DB_PATH}?mode=rw", uri=True, timeout=5)


def create_database():
    """First start: create the schema in WAL mode, as EF Core's migrations would, with the owner's account."""
    os.makedirs(os.path.dirname(DB_PATH), exist_ok=True)
    log("info", "Microsoft.EntityFrameworkCore.Migrations", 20402, f"Applying migration '{MIGRATION[0]}'.")
    with sqlite3.connect(DB_PATH) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        db.execute('INSERT OR IGNORE INTO "__EFMigrationsHistory" VALUES (?, ?)', MIGRATION)
        db.execute('INSERT OR IGNORE INTO "AspNetUsers" ("Id", "UserName", "NormalizedUserName", "Email", '
                   '"NormalizedEmail", "EmailConfirmed", "SecurityStamp", "ConcurrencyStamp", "PhoneNumberConfirmed", '
                   '"TwoFactorEnabled", "LockoutEnabled", "AccessFailedCount") VALUES (?, ?, ?, ?, ?, 1, ?, ?, 0, 0, 1, 0)',
                   (OWNER_ID, "owner@digitalme.local", "OWNER@DIGITALME.LOCAL", "owner@digitalme.local",
                    "OWNER@DIGITALME.LOCAL", "SANDBOXSECURITYSTAMP", "c6a4b1f0-sandbox"))
        db.execute('INSERT OR IGNORE INTO "PersonalityProfiles" ("Id", "UserId", "Name", "CreatedAt", "UpdatedAt") '
                   "VALUES (1, ?, 'Owner', ?, ?)", (OWNER_ID, now, now))
        db.execute('INSERT OR IGNORE INTO "Conversations" ("Id", "UserId", "Title", "CreatedAt") '
                   "VALUES (1, ?, 'Sandbox', ?)", (OWNER_ID, now))
        db.execute('INSERT INTO "Messages" ("ConversationId", "Role", "Content", "CreatedAt") '
                   "VALUES (1, 'assistant', 'Welcome to DigitalMe.', ?)", (now,))


def database_can_connect():
    try:
        with connect_existing() as db:
            db.execute('SELECT COUNT(*) FROM "__EFMigrationsHistory"').fetchone()
        return True
    except sqlite3.Error:
        return False


def writer_loop():
    """The app's own traffic: a message every WRITE_INTERVAL_S keeps the database's mtime fresh."""
    while True:
        time.sleep(WRITE_INTERVAL_S)
        if control("writer_paused") is not None:
            continue
        try:
            with connect_existing() as db:
                db.execute('INSERT INTO "Messages" ("ConversationId", "Role", "Content", "CreatedAt") '
                           "VALUES (1, 'system', 'heartbeat', ?)",
                           (dt.datetime.now(dt.timezone.utc).isoformat(),))
        except sqlite3.Error as e:
            log("fail", "DigitalMe.Data.DbWriter", 0, "Database write failed.", stack=(exception_lines(e),))


# --- backups ------------------------------------------------------------------------------------

def make_backup(at):
    """Back the live database up with SQLite's online-backup API, as the app's BackupService does."""
    stamp = at.strftime("%Y%m%d_%H%M%S")
    target = os.path.join(BACKUP_DIR, f"digitalme_{stamp}.db")
    with connect_existing() as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    size = os.path.getsize(target)
    with open(os.path.join(BACKUP_DIR, f"backup_report_{stamp}.txt"), "w") as report:
        report.write(f"DigitalMe backup report\nCreated: {at.isoformat()}\nFile: {target}\n"
                     f"Size: {size} bytes\nStatus: Success\n")
    when = at.timestamp()
    for path in (target, os.path.join(BACKUP_DIR, f"backup_report_{stamp}.txt")):
        os.utime(path, (when, when))
    log("info", "DigitalMe.Services.BackupService", 0, f"Backup created: {target} ({size} bytes)")


def prune_backups():
    """Retention as the real job: 7 days, at most 30 files."""
    cutoff = time.time() - BACKUP_RETENTION_DAYS * 86400
    backups = sorted((os.path.getmtime(os.path.join(BACKUP_DIR, n)), n)
                     for n in os.listdir(BACKUP_DIR) if n.startswith("digitalme_") and n.endswith(".db"))
    for index, (mtime, name) in enumerate(backups):
        if mtime < cutoff or index < len(backups) - BACKUP_MAX_FILES:
            os.remove(os.path.join(BACKUP_DIR, name))


def backup_loop():
    """Seed two earlier days on first start, so a new sandbox looks like one that has been running."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        if not any(n.startswith("digitalme_") for n in os.listdir(BACKUP_DIR)):
            for days_ago in (2, 1):
                make_backup(now - dt.timedelta(days=days_ago))
        make_backup(now)
    except (OSError, sqlite3.Error) as e:
        log("fail", "DigitalMe.Services.BackupService", 0, "Backup failed.", stack=(exception_lines(e),))
    while True:
        time.sleep(BACKUP_INTERVAL_S)
        try:
            make_backup(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
            prune_backups()
        except (OSError, sqlite3.Error) as e:
            log("fail", "DigitalMe.Services.BackupService", 0, "Backup failed.", stack=(exception_lines(e),))


def memory_loop():
    """Hold as much memory as the control file asks for (a real container-memory fault)."""
    while True:
        try:
            wanted = int(control("memory_mb") or 0)
        except ValueError:
            wanted = 0
        while len(_held_memory) < wanted:
            _held_memory.append(bytearray(os.urandom(16)) * (65536))  # 1 MiB, touched
        del _held_memory[wanted:]
        time.sleep(0.5)


# What the app logs when told to leak a credential into its own log (control ``log_secret``): the API key in a
# request it logs, a password in the connection string it logs at start (EF Core's options, sensitive logging on).
SECRET_LOG_ENTRIES = {
    "api_key": ("info", "DigitalMe.Services.ClaudeApiService", 1001,
                lambda: "Sending request to https://api.anthropic.com/v1/messages with headers x-api-key: "
                        + os.environ.get("ANTHROPIC_API_KEY", "")),
    "password": ("info", "Microsoft.EntityFrameworkCore.Infrastructure", 10403,
                 lambda: "Entity Framework Core 8.0.8 initialized 'DigitalMeDbContext' using provider "
                         "'Microsoft.EntityFrameworkCore.Sqlite' with options: SensitiveDataLoggingEnabled "
                         f"ConnectionString=Data Source={DB_PATH};Password=sandbox-db-Pa55word-7f3e"),
}


def secret_log_loop():
    """Log the entry the control file names once each time its content changes (not on every poll)."""
    logged = None
    while True:
        wanted = control("log_secret")
        if wanted != logged and wanted in SECRET_LOG_ENTRIES:
            level, category, event_id, message = SECRET_LOG_ENTRIES[wanted]
            log(level, category, event_id, message())
        logged = wanted
        time.sleep(0.3)


# --- HTTP ---------------------------------------------------------------------------------------

def health_state(override):
    if override in HEALTH_STATUS:
        return override
    if not database_can_connect():
        return "Unhealthy"
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return "Degraded"
    return "Healthy"


def info_document(secure):
    document = {
        "version": VERSION,
        "environment": os.environ.get("ASPNETCORE_ENVIRONMENT", "Production"),
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
        "runtimeInformation": {
            "frameworkDescription": f"Python {platform.python_version()} (stand-in for .NET 8.0)",
            "osDescription": platform.platform(),
            "processArchitecture": platform.machine(),
        },
        "systemInfo": {
            "machineName": socket.gethostname(),
            "processorCount": os.cpu_count(),
            "workingSet": _working_set(),
            "totalPhysicalMemory": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        },
    }
    if control("leak") is not None:
        document["configuration"] = {"anthropicApiKey": os.environ.get("ANTHROPIC_API_KEY", "")}
    return document


def _working_set():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    secure = False

    def log_message(self, format, *args):  # the real app does not log each probe
        pass

    def send_response(self, code, message=None):
        # BaseHTTPRequestHandler always adds "Server: BaseHTTP/..."; Kestrel is configured not to.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        if control("server_header") is not None:
            self.send_header("Server", "Kestrel/8.0.8 (Debian)")

    def answer(self, code, body, content_type="text/plain", extra=None):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if control("headers_off") is None:
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
        if self.secure and control("no_hsts") is None:
            self.send_header("Strict-Transport-Security", "max-age=31536000")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        try:
            time.sleep(float(control("delay") or 0))
        except ValueError:
            pass
        path = self.path.split("?", 1)[0]
        no_cache = {"Cache-Control": "no-store, no-cache"}
        if path == "/health":
            state = health_state(control("health"))
            self.answer(HEALTH_STATUS[state], state, extra=no_cache)
        elif path == "/health/ready":
            state = health_state(control("ready"))
            self.answer(HEALTH_STATUS[state], state, extra=no_cache)
        elif path == "/info":
            if control("info") == "broken":
                self.answer(500, "An unhandled exception occurred.")
            elif control("info") == "array":
                self.answer(200, json.dumps([info_document(self.secure)]), "application/json; charset=utf-8")
            else:
                self.answer(200, json.dumps(info_document(self.secure)), "application/json; charset=utf-8")
        elif path == "/":
            self.answer(200, "<!doctype html><title>DigitalMe</title><h1>DigitalMe</h1>", "text/html")
        else:
            self.answer(404, "Not Found")

    do_HEAD = do_GET


class SecureHandler(Handler):
    secure = True


class TLSServer(http.server.ThreadingHTTPServer):
    """HTTPS with the mounted certificate, reloaded when it changes (a renewal needs no restart)."""

    daemon_threads = True
    _context = None
    _loaded = None

    def context(self):
        oldest = control("tls_min")
        try:
            stamp = (os.stat(CERT_FILE).st_mtime_ns, os.stat(KEY_FILE).st_mtime_ns, oldest)
        except OSError:
            return None  # no certificate: every handshake fails, as Kestrel's would
        if self._loaded is not None and control("cert_pinned") is not None:
            stamp = (*self._loaded[:2], oldest)  # a renewed file is not read until the app restarts
        if stamp != self._loaded:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if oldest in OLD_TLS:  # OpenSSL 3 offers TLS 1.0/1.1 only at security level 0
                context.minimum_version = OLD_TLS[oldest]
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
            try:
                context.load_cert_chain(CERT_FILE, KEY_FILE)
            except (OSError, ssl.SSLError) as e:
                log("fail", "Microsoft.AspNetCore.Server.Kestrel", 0, f"Certificate load failed: {e}")
                return None
            self._context, self._loaded = context, stamp
        return self._context

    def get_request(self):
        sock, address = super().get_request()
        context = self.context()
        if context is None:
            sock.close()
            raise OSError("no usable certificate")
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        pass  # a client that gives up mid-handshake is not the app's error


def startup_warnings():
    """What every start of the real container logs: DataProtection keys in the container's home folder, where
    they do not outlive the container, unencrypted (no key persistence or encryptor is configured)."""
    keys = os.path.join(os.path.expanduser("~"), ".aspnet", "DataProtection-Keys")
    log("warn", "Microsoft.AspNetCore.DataProtection.Repositories.FileSystemXmlRepository", 60,
        f"Storing keys in a directory '{keys}' that may not be persisted outside of the container. Protected data "
        "will be unavailable when container is destroyed. For more information go to "
        "https://aka.ms/aspnet/dataprotectionwarning")
    log("warn", "Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", 35,
        f"No XML encryptor configured. Key {{{uuid.uuid4()}}} may be persisted to storage in unencrypted form.")


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main():
    if control("crash") is not None:
        log("crit", "DigitalMe.Program", 0, "FATAL: start-up failed (injected fault)")
        sys.exit(3)
    # No umask of its own: the aspnet image runs with Docker's 0022, so SQLite creates 0644 files inside the
    # volume (private on the host: named volumes live under /var/lib/docker, which others cannot traverse).
    for folder in (BACKUP_DIR, LOG_DIR):
        os.makedirs(folder, exist_ok=True)
    startup_warnings()
    if not os.path.exists(DB_PATH):
        create_database()
    http.server.ThreadingHTTPServer.daemon_threads = True
    serve(http.server.ThreadingHTTPServer(("", HTTP_PORT), Handler))
    serve(TLSServer(("", HTTPS_PORT), SecureHandler))
    log("info", "Microsoft.Hosting.Lifetime", 14, f"Now listening on: http://[::]:{HTTP_PORT}")
    log("info", "Microsoft.Hosting.Lifetime", 14, f"Now listening on: https://[::]:{HTTPS_PORT}")
    log("info", "Microsoft.Hosting.Lifetime", 0, "Application started. Press Ctrl+C to shut down.")
    log("info", "Microsoft.Hosting.Lifetime", 0,
        "Hosting environment: " + os.environ.get("ASPNETCORE_ENVIRONMENT", "Production"))
    log("info", "Microsoft.Hosting.Lifetime", 0, "Content root path: /app")
    for loop in (writer_loop, backup_loop, memory_loop, secret_log_loop):
        threading.Thread(target=loop, daemon=True).start()
    # As PID 1, SIGTERM is ignored unless handled: Kestrel stops on it, so must the stand-in.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
