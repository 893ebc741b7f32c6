"""The operations manual's check lines, as a check names them in its ``manual`` marker.

The manual itself (OPERATIONS_MANUAL.md) is not part of this repository, so its sections and their numbered or
named items are kept here; ``selftests/plugin/test_manual_markers.py`` compares this list with the manual where the manual is
at hand, and proves that every check line below is enforced by a check and every check names a line.

A line is named ``"<section> <number>"`` for a numbered step (``Morning Health Check 2``) and
``"<section>: <name>"`` for a named one (``Critical Alerts: Container Down``), the name in the manual's own words.
Steps that act on production (restart, edit ``.env``, notify users) are listed with the reason no check enforces
them: the suite only reads. The two guides the manual names at its end hold a few rules the manual does not;
their topics are listed under ``GUIDES`` (those files are not at hand either, so only their names are checked).
"""

import difflib
from dataclasses import dataclass

MANUAL = "OPERATIONS_MANUAL.md"
READ_ONLY = "an action on production; the suite only reads"


@dataclass(frozen=True)
class Line:
    """One line of a section: ``item`` its number or name, ``text`` the manual's words for it, ``action`` why no
    check enforces it (empty for a check line)."""
    section: str
    item: str
    text: str
    action: str = ""

    @property
    def reference(self):
        """How a check's marker names it: ``Morning Health Check 2``, ``Critical Alerts: Container Down``."""
        return f"{self.section} {self.item}" if self.item.isdigit() else f"{self.section}: {self.item}"

    @property
    def label(self):
        """The reference as the results file and record show it: a numbered step with its words."""
        return f"{self.reference} ({self.text})" if self.item.isdigit() else self.reference


@dataclass(frozen=True)
class Section:
    """A section as checks name it; ``heading``: where it starts in the document (a ``###`` heading, then a bold
    label where one heading holds two numbered lists); ``items``: a pattern finding its items in that text (for
    the selftest comparing this list with the manual); ``not_checked``: why a section holds no check line."""
    name: str
    heading: tuple
    lines: tuple = ()
    items: str = r"^(?:# |\*\*)(\d+)\. ([^:*\n]+)"
    not_checked: str = ""


def numbered(section, *texts, actions=None):
    """Lines 1..n of ``section``; ``actions``: {number: why it is not a check line}."""
    return tuple(Line(section, str(n), text, (actions or {}).get(n, "")) for n, text in enumerate(texts, 1))


def named(section, *names):
    return tuple(Line(section, name, name) for name in names)


SECTIONS = (
    Section("Morning Health Check", ("### Morning Health Check (Daily - 09:00)",), numbered(
        "Morning Health Check", "Check container status", "Verify application health",
        "Check SSL status (if applicable)", "Verify database accessibility", "Check backup status")),
    Section("Resource Monitoring", ("### Resource Monitoring (Every 4 hours)",), named(
        "Resource Monitoring", "Memory Usage", "Disk Usage", "CPU Usage", "Container Memory", "Network connectivity"),
        items=r"^- \*\*(.+?)\*\*:()"),
    Section("Health Check Endpoints Reference", ("### Health Check Endpoints Reference",), named(
        "Health Check Endpoints Reference", "/health", "/health/ready", "/info"), items=r"^\| `(/[^`]*)`()"),
    Section("Health Check Implementation", ("### Health Check Implementation",), named(
        "Health Check Implementation", "Check container status", "Check health endpoint", "Check database"),
        items=r"^# (Check .+)()$"),
    Section("Weekly Maintenance", ("### Weekly Maintenance (Every Sunday - 02:00)",), numbered(
        "Weekly Maintenance", "Log Rotation and Cleanup", "Database Maintenance", "Security Updates")),
    Section("Monthly Maintenance", ("### Monthly Maintenance (First Sunday - 01:00)",), numbered(
        "Monthly Maintenance", "Certificate Renewal", "Backup Verification", "Performance Review")),
    Section("Key Performance Metrics", ("### Key Performance Metrics",), named(
        "Key Performance Metrics", "Application Performance", "Resource Utilization", "Database Performance"),
        items=r"^\*\*(.+):\*\*()$"),
    Section("Critical Alerts", ("### Critical Alerts (Immediate Response)",), named(
        "Critical Alerts", "Container Down", "Health Check Failure", "Database Unavailable"),
        items=r"^\*\*(.+):\*\*()$"),
    Section("Warning Alerts", ("### Warning Alerts (Response within 1 hour)",), named(
        "Warning Alerts", "Memory usage >85%", "Disk usage >80%", "CPU usage >90% (sustained)"),
        items=r"^# (\w+ usage .+)()$"),
    Section("Integration with External Monitoring", ("### Integration with External Monitoring",),
            not_checked="the webhook the suite's alerts are sent to (plugins/outputs/alerting/), nothing of the target's"),
    Section("Standard Restart", ("### Application Restart Procedure", "**Standard Restart (Planned Maintenance):**"),
            numbered("Standard Restart", "Notify users (if applicable)", "Create backup before restart",
                     "Graceful restart", "Verify restart", "Document restart",
                     actions={1: READ_ONLY, 3: READ_ONLY, 5: READ_ONLY})),
    Section("Emergency Restart", ("### Application Restart Procedure", "**Emergency Restart:**"), numbered(
        "Emergency Restart", "Immediate restart", "Verify functionality", "Check logs for errors",
        "Document emergency action", actions={1: READ_ONLY, 4: READ_ONLY})),
    Section("Configuration Change Procedure", ("### Configuration Change Procedure",), numbered(
        "Configuration Change Procedure", "Backup current configuration", "Update configuration",
        "Validate configuration", "Apply changes", "Verify changes", actions={1: READ_ONLY, 2: READ_ONLY})),
    Section("Escalation Matrix", ("### Escalation Matrix",),
            not_checked="who answers a finding: the alert routes critical, warning and emergency (Level 3)"),
    Section("Maintenance Windows", ("### Maintenance Windows",),
            not_checked="when alerts are held: DIGITALME_MAINTENANCE_WINDOW"),
)

# The guides the manual names at its end ("see PRODUCTION_DEPLOYMENT_GUIDE.md", "see TROUBLESHOOTING_GUIDE.md"):
# the topics some checks enforce, as digitalme-facts.md summarises them.
GUIDES = (
    Section("Deployment Guide", ("PRODUCTION_DEPLOYMENT_GUIDE.md",), named(
        "Deployment Guide", "Environment configuration", "Certificates", "TLS settings", "HTTPS redirection",
        "Security headers", "Compose file", "Non-root user", "Scaling")),
    Section("Troubleshooting Guide", ("TROUBLESHOOTING_GUIDE.md",), named(
        "Troubleshooting Guide", "Five-minute checklist", "Log patterns", "Security log review")),
)

CHECK_LINES = {line.reference: line for section in SECTIONS + GUIDES for line in section.lines if not line.action}


def unknown(references):
    """The references that name no check line, each with the nearest one's name where one is close."""
    wrong = []
    for reference in references:
        if reference not in CHECK_LINES:
            near = difflib.get_close_matches(str(reference), CHECK_LINES, n=1, cutoff=0.6)
            wrong.append(f"{reference!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return wrong


def label_of(references):
    """The manual field of a check: its lines' labels, in the marker's order."""
    return "; ".join(CHECK_LINES[reference].label for reference in references)
