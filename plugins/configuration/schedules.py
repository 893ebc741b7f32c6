"""The schedules a check runs on (its schedule markers), and so the selections a run can name: the one list the
markers (plugins/configuration/markers.py) and the settings naming a selection (plugins/configuration/parsers.py)
share. No hooks.
"""

SCHEDULES = {
    "monitor": "the manual's 5-minute monitor.sh",
    "daily": "the Morning Health Check (daily 09:00)",
    "resources": "Resource Monitoring (every 4 hours)",
    "weekly": "Weekly Maintenance (Sunday 02:00)",
    "monthly": "Monthly Maintenance (first Sunday 01:00)",
    "change": "the post-change gate (after a restart, update or configuration change)",
}
