"""No shipped schedule can make a check's findings undeliverable: alerts held inside the default maintenance window
go out with the first run after it (plugins/outputs/alerting/), so some shipped run must come soon after the window ends,
in the crontab and in the systemd timers alike. The held-then-delivered path itself is proven in test_alerts.py."""

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEDULE = REPO / "scripts" / "schedule"
DEFAULT_WINDOW = "Sun 02:00-04:00"  # plugins/configuration/settings.py: maintenance_window's default
MONDAY = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)  # any Monday: one whole week of runs
DELIVERED_WITHIN = dt.timedelta(minutes=10)


def window_bounds():
    """(start, end) of the default window in the week starting MONDAY, read from the settings' own default."""
    source = (REPO / "plugins" / "configuration" / "settings.py").read_text()
    assert f'Setting("maintenance_window", "{DEFAULT_WINDOW}"' in source, "the default window changed: update this"
    day, start, end = re.fullmatch(r"(\w+) (\d\d:\d\d)-(\d\d:\d\d)", DEFAULT_WINDOW).groups()
    date = MONDAY + dt.timedelta(days=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun").index(day))
    at = [date.replace(hour=int(t[:2]), minute=int(t[3:])) for t in (start, end)]
    return at[0], at[1]


def cron_field(field, value, low):
    """Whether ``value`` matches one crontab field (``*``, ``*/n``, ``a-b``, ``a-b/n``, lists)."""
    for part in field.split(","):
        spec, _, step = part.partition("/")
        first, last = (low, 10**6) if spec == "*" else (int(spec.split("-")[0]), int(spec.split("-")[-1]))
        if first <= value <= last and (value - first) % int(step or 1) == 0:
            return True
    return False


def cron_runs(line, start, end):
    """Every minute in [start, end) the crontab line fires (with its `date +%u = 7` guard for the monthly run)."""
    minute, hour, dom, month, dow, command = line.split(None, 5)
    sunday_only = '"$(date +\\%u)" = 7' in command
    when, runs = start, []
    while when < end:
        cron_dow = (when.weekday() + 1) % 7  # cron: Sunday 0
        if (cron_field(minute, when.minute, 0) and cron_field(hour, when.hour, 0)
                and cron_field(dom, when.day, 1) and cron_field(month, when.month, 1)
                and cron_field(dow, cron_dow, 0) and (not sunday_only or cron_dow == 0)):
            runs.append(when)
        when += dt.timedelta(minutes=1)
    return runs


def crontab_schedules():
    lines = [line for line in (SCHEDULE / "crontab").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "pytest -m" in line]
    assert len(lines) == 5, f"expected the 5 shipped schedules in the crontab, found {len(lines)}"
    return {re.search(r"pytest -m (\w+)", line).group(1): line for line in lines}


def systemd_runs(timer, start, end):
    calendar = re.search(r"^OnCalendar=(.+)$", timer.read_text(), re.M).group(1)
    done = subprocess.run(["systemd-analyze", "calendar", "--iterations=3000",
                           f"--base-time={start - dt.timedelta(seconds=1):%Y-%m-%d %H:%M:%S} UTC", calendar],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"systemd-analyze calendar cannot help here: {done.stderr.strip()[:200]}")
    runs = [dt.datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
            for m in re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", done.stdout)]
    return [when for when in runs if start <= when < end]


def assert_held_alerts_delivered(runs_by_schedule):
    start, end = window_bounds()
    inside = {name: [r for r in runs if start <= r < end] for name, runs in runs_by_schedule.items()}
    assert inside["weekly"], "the weekly run is no longer in the window: this test's premise changed"
    after = sorted(r for runs in runs_by_schedule.values() for r in runs if r >= end)
    assert after, "no shipped run after the maintenance window: held alerts would never go out"
    assert after[0] - end <= DELIVERED_WITHIN, (
        f"held alerts wait {after[0] - end} after the window ends at {end:%a %H:%M} UTC (allowed {DELIVERED_WITHIN})")


def test_held_alerts_of_the_crontab_runs_go_out_soon_after_the_window():
    """Manual: Weekly Maintenance (Sunday 02:00) runs inside the maintenance window (Sun 02:00-04:00)."""
    week = (MONDAY, MONDAY + dt.timedelta(days=7))
    assert_held_alerts_delivered({name: cron_runs(line, *week) for name, line in crontab_schedules().items()})


def test_held_alerts_of_the_systemd_timer_runs_go_out_soon_after_the_window():
    """Manual: Weekly Maintenance (Sunday 02:00) runs inside the maintenance window (Sun 02:00-04:00)."""
    week = (MONDAY, MONDAY + dt.timedelta(days=7))
    timers = {path.name.split("-")[-1].split(".")[0]: path for path in SCHEDULE.glob("digitalme-ops-*.timer")}
    assert set(timers) == {"monitor", "resources", "daily", "weekly", "monthly"}, sorted(timers)
    assert_held_alerts_delivered({name: systemd_runs(path, *week) for name, path in timers.items()})
