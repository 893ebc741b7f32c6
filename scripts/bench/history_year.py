#!/usr/bin/env python3
"""A year on the production host (issue 17): what the history keeps and what a run pays for it.

1. Runs each shipped selection once against the sandbox (``scripts/sandbox.sh up``; ``--no-sandbox`` if it is up)
   into a temporary folder: real results files and records to copy from.
2. Synthesises a year of the shipped schedules from them (monitor every 5 minutes, resources every 4 hours, daily
   09:00, weekly Sunday 02:00, monthly first Sunday 01:00; a seeded share of failing runs: a monitor outage of
   1-4 runs about every 2 days, a resources warning about every 10 days, a daily warning one day in 10) through
   the history's own decisions and bookkeeping (plugins/outputs/history/: ``why_kept``, ``apply``, ``fold``, month
   pages, index): what a year of real runs leaves in the report folder, kept records as real copies.
3. Measures: bytes kept by a passing monitor run that repeats the previous one (a real run); the year's size on
   disk; ``pytest -m monitor`` against the year's folder vs an empty folder, alternating, N runs each (wall and
   peak RSS of the pytest process, medians); the first run of a UTC day (retention, month pages) once;
   index.html's size and its render time in headless Chromium vs a fresh folder's.

Prints a markdown table and whether the issue's goals are met; exit 0 whatever the figures. Every temporary
folder is removed at the end (``--keep`` leaves them and prints where).

    .venv/bin/python scripts/bench/history_year.py [--runs 5] [--no-sandbox] [--keep]
"""

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
from plugins.outputs.history import bookkeeping, index, months, retention, store  # noqa: E402

PYTEST = os.path.join(REPO, ".venv", "bin", "pytest")
CHROMIUM = "/usr/bin/chromium"
SELECTIONS = ("monitor", "resources", "daily", "weekly", "monthly")
THIN = ("monitor", "resources")  # the shipped default of DIGITALME_REPORT_THIN
GOAL_YEAR_MB, GOAL_WALL, GOAL_RSS_MB, GOAL_INDEX_MB = 500, 1.3, 30, 2
BEFORE = {"kept": 45 * 1024, "year": "4.7 GB", "wall": "3.6 s vs 0.4 s", "rss": "347 MB", "index": "26 MB, 25 s"}


def sandbox_env():
    """The DIGITALME_* settings of the running sandbox, alerts off."""
    out = subprocess.run([os.path.join(REPO, "scripts", "sandbox.sh"), "env"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"history_year: {out.stderr.strip() or 'scripts/sandbox.sh env failed'}")
    settings = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return {**os.environ, **settings, "DIGITALME_ALERTS": "off"}


def run_suite(env, selection, folder):
    """(wall s, peak RSS bytes, exit code) of ``pytest -m <selection>`` writing into ``folder``."""
    started = time.perf_counter()
    process = subprocess.Popen([PYTEST, "-m", selection, "-q", "-p", "no:cacheprovider"], cwd=REPO,
                               env={**env, "DIGITALME_REPORT_DIR": folder},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss * 1024, process.returncode


def templates(env, scratch):
    """{selection: (results document, record bytes)} from one real run of each selection."""
    found = {}
    for selection in SELECTIONS:
        folder = os.path.join(scratch, "templates", selection)
        wall, _, code = run_suite(env, selection, folder)
        with open(os.path.join(folder, "latest.json"), encoding="utf-8") as f:
            document = json.load(f)
        with open(os.path.join(folder, "latest.html"), "rb") as f:
            found[selection] = (document, f.read())
        print(f"  template {selection}: {len(document['checks'])} checks, {document['status']}, {wall:.1f} s",
              file=sys.stderr)
    return found


def schedule(start, days):
    """(time, selection) of the shipped schedules (scripts/schedule/crontab), oldest first."""
    for minute in range(0, days * 24 * 60, 5):
        when = start + dt.timedelta(minutes=minute)
        yield when, "monitor"
        if when.minute == 0 and when.hour % 4 == 0:
            yield when, "resources"
        if (when.hour, when.minute) == (9, 0):
            yield when, "daily"
        if (when.weekday(), when.hour, when.minute) == (6, 2, 0):
            yield when, "weekly"
        if (when.weekday(), when.day <= 7, when.hour, when.minute) == (6, True, 1, 0):
            yield when, "monthly"


def as_run(template, when, failing, rng):
    """A copy of a real results document at ``when``: passing (every failed check passed) or failing (its first
    check of ``failing`` severity failed), its /health time varied."""
    document = dict(template)
    checks = []
    for check in template["checks"]:
        check = dict(check)
        if check["outcome"] in ("failed", "error"):
            check["outcome"] = "passed"
        if "test_endpoint_answers_within_time[/health]" in check["id"] and isinstance(check["value"], dict):
            check["value"] = {**check["value"], "total_s": round(rng.uniform(0.01, 0.08), 4)}
        checks.append(check)
    if failing:
        victim = next((c for c in checks if c["severity"] == failing), checks[0])
        victim["outcome"], victim["message"] = "failed", "synthesised failure"
    counts = {k: sum(c["outcome"] == k for c in checks) for k in ("passed", "failed", "skipped", "error")}
    status = max((c["severity"] for c in checks if c["outcome"] in ("failed", "error")),
                 key=("warning", "critical").index, default="ok")
    document.update(started_at=when.isoformat(timespec="seconds"), status=status, counts=counts, checks=checks,
                    finished_at=(when + dt.timedelta(seconds=1)).isoformat(timespec="seconds"), alerts=[])
    return document


def synthesise(folder, made, days, now):
    """A year of runs into ``folder``, as the history would have kept them; returns (runs, full records)."""
    rng = random.Random(17)
    start = (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    state, lines, day, runs, full, outage = bookkeeping.empty_state(), {}, None, 0, 0, 0
    for when, selection in schedule(start, days):
        if when >= now - dt.timedelta(minutes=5):
            break
        if when.date() != day:
            bookkeeping.fold(state, when)
            day = when.date()
        failing = None
        if selection == "monitor":
            if outage == 0 and rng.random() < 1 / 600:
                outage = rng.randint(1, 4)
            if outage:
                failing, outage = "critical", outage - 1
        elif selection == "resources" and rng.random() < 1 / 60:
            failing = "warning"
        elif selection == "daily" and rng.random() < 1 / 10:
            failing = "warning"
        template, record = made[selection]
        document = as_run(template, when, failing, rng)
        name = f"{when:%Y%m%dT%H%M%SZ}-{selection}.json"
        summary = bookkeeping.summarize(name, document)
        why = retention.why_kept(document, state["last"].get(selection), THIN)
        summary.update(kept="full" if why else "summary", why=why or "repeated the previous run")
        if why:
            document["files"] = {"json": os.path.join(folder, name), "html": os.path.join(folder, name[:-5] + ".html")}
            with open(document["files"]["json"], "w", encoding="utf-8") as f:
                f.write(json.dumps(document, indent=1, default=str))
            with open(document["files"]["html"], "wb") as f:
                f.write(record)
            full += 1
        else:
            summary["file"] = summary["html"] = None
        bookkeeping.apply(state, summary, bookkeeping.outcomes_of(document), when)
        lines.setdefault(when.strftime("%Y-%m"), []).append(
            json.dumps(summary, separators=(",", ":"), sort_keys=True) + "\n")
        runs += 1
    for month, text in lines.items():
        with open(store.month_lines(folder, month), "w", encoding="utf-8") as f:
            f.write("".join(text))
    bookkeeping.fold(state, now)
    for month in state["months"]:
        months.write_month_page(folder, month, state)
    state["day"] = now.date().isoformat()  # the day's upkeep done: measured runs are ordinary ones
    store.write_state(folder, state)
    with open(os.path.join(folder, store.INDEX), "w", encoding="utf-8") as f:
        f.write(index.render(state, now))
    for name in ("latest.json", "latest.html"):
        shutil.copy(os.path.join(os.path.dirname(folder), "templates", "monitor", name), os.path.join(folder, name))
    return runs, full


def disk_use(folder):
    """(bytes on disk, {kind: (files, bytes)})."""
    kinds, total = {}, 0
    for name in os.listdir(folder):
        stat = os.stat(os.path.join(folder, name))
        total += stat.st_blocks * 512
        kind = ("records (.html)" if store.RUN_FILE.match(name) and name.endswith(".html") else
                "results files (.json)" if store.RUN_FILE.match(name) else
                "summary lines (history-*.jsonl)" if name.endswith(".jsonl") else
                "month pages (history-*.html)" if name.startswith("history-") and name.endswith(".html") else
                "index, state, latest.*, alert state")
        files, size = kinds.get(kind, (0, 0))
        kinds[kind] = (files + 1, size + stat.st_blocks * 512)
    return total, kinds


def render_time(page, scratch, rounds=3):
    """Median wall of headless Chromium loading ``page`` and dumping its DOM."""
    walls = []
    for n in range(rounds):
        profile = os.path.join(scratch, f"chromium-profile-{n}")
        started = time.perf_counter()
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--dump-dom", "file://" + os.path.abspath(page)],
                       capture_output=True, timeout=120)
        walls.append(time.perf_counter() - started)
        shutil.rmtree(profile, ignore_errors=True)
    return statistics.median(walls)


def line_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder) if n.endswith(".jsonl"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured monitor runs per folder (default 5)")
    parser.add_argument("--days", type=int, default=365, help="days of history to synthesise (default 365)")
    parser.add_argument("--no-sandbox", action="store_true", help="do not run scripts/sandbox.sh up first")
    parser.add_argument("--keep", action="store_true", help="leave the temporary folders (their path is printed)")
    args = parser.parse_args()
    if not args.no_sandbox:
        subprocess.run([os.path.join(REPO, "scripts", "sandbox.sh"), "up"], check=True, stdout=subprocess.DEVNULL)
    env = sandbox_env()
    scratch = tempfile.mkdtemp(prefix="digitalme-history-year-")
    try:
        return measure(args, env, scratch)
    finally:
        if args.keep:
            print(f"kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def measure(args, env, scratch):
    print("history_year: real runs of each selection against the sandbox ...", file=sys.stderr)
    made = templates(env, scratch)

    # Bytes kept by a passing monitor run that repeats the previous one: two real runs into an empty folder.
    fresh = os.path.join(scratch, "fresh")
    run_suite(env, "monitor", fresh)
    before_lines, before_files = line_bytes(fresh), set(os.listdir(fresh))
    run_suite(env, "monitor", fresh)
    added = set(os.listdir(fresh)) - before_files
    kept_per_run = line_bytes(fresh) + sum(os.path.getsize(os.path.join(fresh, n)) for n in added) - before_lines
    with open(os.path.join(fresh, "latest.json"), encoding="utf-8") as f:
        thinned = not os.path.exists(json.load(f)["files"]["html"])

    print(f"history_year: synthesising {args.days} days of the shipped schedules ...", file=sys.stderr)
    year = os.path.join(scratch, "year")
    os.makedirs(year)
    now = dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    runs, full = synthesise(year, made, args.days, now)
    synthesis_s = time.perf_counter() - started
    year_bytes, kinds = disk_use(year)
    index_year = os.path.getsize(os.path.join(year, store.INDEX))

    print(f"history_year: {runs} runs ({synthesis_s:.0f} s); pytest -m monitor, year vs empty, "
          f"{args.runs} runs each ...", file=sys.stderr)
    run_suite(env, "monitor", year)  # warm-up: the year's first real run (its outcomes may differ: kept)
    walls, rss = {"year": [], "empty": []}, {"year": [], "empty": []}
    for n in range(args.runs):
        for side in (("year", "empty") if n % 2 == 0 else ("empty", "year")):
            folder = year
            if side == "empty":
                folder = os.path.join(scratch, f"empty-{n}")
            wall, peak, _ = run_suite(env, "monitor", folder)
            walls[side].append(wall)
            rss[side].append(peak)
            if side == "empty":
                shutil.rmtree(folder, ignore_errors=True)
    state_path = store.state_file(year)
    with open(state_path, encoding="utf-8") as f:
        state = json.load(f)
    state["day"] = (now - dt.timedelta(days=1)).date().isoformat()  # the next run is the day's first: upkeep
    store.write_state(year, state)
    upkeep_wall, upkeep_rss, _ = run_suite(env, "monitor", year)
    state_size = os.path.getsize(state_path)

    empty_index = os.path.join(scratch, "empty-index")
    run_suite(env, "monitor", empty_index)
    index_fresh = os.path.getsize(os.path.join(empty_index, store.INDEX))
    render_year = render_fresh = month_render = None
    month = max(n for n in os.listdir(year) if n.startswith("history-") and n.endswith(".html"))
    if os.path.exists(CHROMIUM):
        render_fresh = render_time(os.path.join(empty_index, store.INDEX), scratch)
        render_year = render_time(os.path.join(year, store.INDEX), scratch)
        month_render = render_time(os.path.join(year, month), scratch, rounds=1)

    wall_year, wall_empty = statistics.median(walls["year"]), statistics.median(walls["empty"])
    rss_year, rss_empty = statistics.median(rss["year"]), statistics.median(rss["empty"])
    mb = 1024 ** 2
    projected = year_bytes * 365 / args.days
    print(f"\n### History at a year ({runs} runs over {args.days} days, {full} with their full record; "
          f"{dt.date.today()})\n")
    print("| | measured | goal | before (issue 17) |")
    print("|---|---|---|---|")
    print(f"| bytes kept by a passing monitor run that repeats the previous one | {kept_per_run} B"
          f"{'' if thinned else ' (NOT thinned)'} | summary only | {BEFORE['kept'] // 1024} KB |")
    print(f"| a year of the shipped schedules on disk | {projected / mb:.0f} MB | <= {GOAL_YEAR_MB} MB "
          f"{'met' if projected / mb <= GOAL_YEAR_MB else 'NOT met'} | {BEFORE['year']} (monitor alone) |")
    print(f"| pytest -m monitor wall, year vs empty folder | {wall_year:.2f} vs {wall_empty:.2f} s "
          f"({wall_year / wall_empty:.2f}x) | <= {GOAL_WALL}x {'met' if wall_year / wall_empty <= GOAL_WALL else 'NOT met'}"
          f" | {BEFORE['wall']} |")
    print(f"| peak RSS, year vs empty folder | {rss_year / mb:.0f} vs {rss_empty / mb:.0f} MB "
          f"(+{(rss_year - rss_empty) / mb:.1f} MB) | <= +{GOAL_RSS_MB} MB "
          f"{'met' if (rss_year - rss_empty) / mb <= GOAL_RSS_MB else 'NOT met'} | {BEFORE['rss']} |")
    print(f"| the day's first run (retention, month pages) | {upkeep_wall:.2f} s, {upkeep_rss / mb:.0f} MB | once a "
          f"day | every run |")
    print(f"| index.html, year vs fresh | {index_year / 1024:.0f} vs {index_fresh / 1024:.0f} KB | <= "
          f"{GOAL_INDEX_MB} MB {'met' if index_year <= GOAL_INDEX_MB * mb else 'NOT met'} | {BEFORE['index']} |")
    if render_year is not None:
        print(f"| index.html in headless Chromium, year vs fresh | {render_year:.2f} vs {render_fresh:.2f} s | "
              f"about the same | 25 s |")
        print(f"| a month page ({month}, {os.path.getsize(os.path.join(year, month)) / mb:.1f} MB) in Chromium | "
              f"{month_render:.2f} s | | |")
    print(f"| state read and written by every run (history-state.json) | {state_size / 1024:.0f} KB | | "
          f"34 MB cache |")
    print("\nOn disk after a year, by kind:\n")
    print("| kind | files | MB |")
    print("|---|---|---|")
    for kind, (files, size) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"| {kind} | {files} | {size / mb:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
