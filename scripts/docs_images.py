#!/usr/bin/env python3
"""The docs' pictures, taken with headless Chromium from runs against a sandbox: ``make docs-images``.

    docs/images/record.png          the record of a daily run with one check failing (the certificate 20 days from
                                    expiry: a warning), its top: the status, the failing check, the results table
    docs/images/history-index.png   the history index after it: the trends over two weeks, each run's status
    docs/images/fleet-record.png    the record of a fleet of two targets on the same sandbox (staging held to 99
                                    backups, so its backup check fails): each target's status, the table by target

It starts a private sandbox stack (the selftests' own, selftests/sandbox.py: its own compose project, ports,
certificate, control and .env folders, the sandbox label), runs ``pytest -m daily`` against it as an operator would
(alerts off), opens each page in headless Chromium (selftests/browser.py, as the record's selftests do) and keeps
the window's top part, WIDTH x HEIGHTS[name] pixels, as a PNG. What is not plain from the pictures:

- the history's earlier DAYS days are copies of the first real run's results file, dated back, their values
  varied (the selftests' backfill): a sandbox cannot wait two weeks; today's two runs are real;
- the host's CPU check (HOST_CPU) is left out: it measures the machine taking the pictures, not the sandbox.

The three pictures replace the docs' ones together, and only if no page holds a secret (the sandbox's .env
values, or anything that looks like a key or token). The stack and the temporary folders are removed afterwards,
also on a failure, Ctrl-C or SIGTERM (the pictures then stay as they were: exit 1, or 130 interrupted); a stack
left by SIGKILL is removed by the next start of any selftest stack (dmselftest<pid>, its process gone).
"""

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SELFTESTS = REPO / "selftests"
# The selftests' helpers first (their conftest.py, not the suite's), the suite's plugins, the helpers of two kinds.
sys.path[:0] = [str(SELFTESTS), str(REPO), str(SELFTESTS / "sandbox"), str(SELFTESTS / "plugin")]

import browser  # noqa: E402  (selftests/browser.py)
from conftest import run_pytest  # noqa: E402  (selftests/conftest.py: the suite in a subprocess, as run by an operator)
from plugins.secrets import SECRET_LOOKING, secrets_in  # noqa: E402
from sandbox import Sandbox, targets_file  # noqa: E402  (selftests/sandbox.py)
from test_record import backfill  # noqa: E402  (earlier days' results files, copied from a real run)

IMAGES = REPO / "docs" / "images"
WIDTH = 1280  # CSS pixels, at a device scale of 1: the docs' column shows it whole, and it stays a small file
# Each page's window height: what shows its useful top part (status, failing checks, the first rows or charts).
HEIGHTS = {"record.png": 1000, "history-index.png": 1400, "fleet-record.png": 1000}
# Left out: it measures the CPU of the machine taking the pictures (the sandbox's host), which other work may keep
# saturated; the sandbox does not model a host's CPU (the selftests' baseline waives its finding for that reason).
HOST_CPU = "tests_resources/test_host.py::test_cpu_below_threshold_sustained"
DAYS = 14  # of history before today's runs (copies of the first run, dated back; its values varied)


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so the stack and the folders are removed."""


def interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def say(text):
    print(f"== {text}", flush=True)


def run_suite(stack, reports, **settings):
    """``pytest -m daily`` against the stack, its record in ``reports``; fails loudly unless it completed (exit 0
    all passed, 1 checks failed)."""
    env = {**stack.settings_env, **settings}
    run = run_pytest(REPO, ["-m", "daily", "--deselect", HOST_CPU], env, reports)
    if run.returncode not in (0, 1):
        raise RuntimeError(f"pytest -m daily stopped with exit {run.returncode}:\n{run.stdout[-3000:]}\n"
                           f"{run.stderr[-2000:]}")
    say(f"pytest -m daily: {run.stdout.strip().splitlines()[-1] if run.stdout.strip() else 'no output'}")
    return run


def earlier_days(stack, folder, reports):
    """Results files of the last DAYS days in ``reports``: copies of a real healthy run, dated back and their values
    varied (test_record.py's backfill: a sandbox cannot wait weeks). The first run into ``reports`` finds them with no
    history yet and builds it from them, as it does in a report folder of an earlier version."""
    seed = folder / "seed"
    run_suite(stack, seed)
    ran = set(seed.glob("2*.json"))
    backfill(seed, days=DAYS)
    reports.mkdir()
    for copy in set(seed.glob("2*.json")) - ran:
        copy.rename(reports / copy.name)


def daily_runs(stack, folder):
    """A history of daily runs: DAYS earlier days, a healthy run, then one with a certificate 20 days from expiry
    (a warning: 30 days are required), as test_faults_security.py breaks it. Returns the report folder."""
    reports = folder / "daily"
    earlier_days(stack, folder, reports)
    run_suite(stack, reports)
    stack.make_certificate(days=20)
    run_suite(stack, reports)
    stack.make_certificate(days=365)
    return reports


def fleet_run(stack, folder):
    """One daily run of a fleet of two targets on the same sandbox, staging held to 99 backups (as
    test_fleet_record_of_the_sandbox.py does). Returns its report folder."""
    path = targets_file(folder, stack.settings_env, prod={}, staging={"backups_min": 99})
    reports = folder / "fleet"
    run_suite(stack, reports, DIGITALME_TARGETS=str(path))
    return reports


def secrets_of(env_file):
    """The values of the sandbox's .env file whose names say they are secret (plugins/secrets.py): none may appear
    in a published picture's page."""
    pairs = (line.partition("=") for line in env_file.read_text().splitlines())
    return [value.strip() for name, _, value in pairs if SECRET_LOOKING.search(name) and value.strip()]


def leaks(text, secrets):
    """What of a secret ``text`` holds: the .env's values (by their first characters) and any value that looks
    like a secret (an API key, a token...), each by its masked prefix."""
    return [s[:4] + "..." for s in secrets if s in text] + secrets_in(text)


def take(page, name, secrets, folder):
    """Open ``page`` in Chromium and keep its window's top part as ``folder/name``; refused if the page (as
    written, or as rendered) holds a secret."""
    dom = browser.render(page, folder / name, WIDTH, HEIGHTS[name],
                         extra=("--hide-scrollbars", "--force-device-scale-factor=1"))
    leaked = leaks(dom + page.read_text(), secrets)
    if leaked:
        raise RuntimeError(f"{page.name} holds secrets ({', '.join(leaked)}): no picture taken")


def take_pictures(stack, folder):
    """The runs, then the three pictures in ``folder/shots``, which it returns."""
    daily = daily_runs(stack, folder)
    fleet = fleet_run(stack, folder)
    secrets = secrets_of(stack.env_file)
    shots = folder / "shots"
    shots.mkdir()
    take(daily / "latest.html", "record.png", secrets, shots)
    take(daily / "index.html", "history-index.png", secrets, shots)
    take(fleet / "latest.html", "fleet-record.png", secrets, shots)
    return shots


def in_a_sandbox(folder):
    """take_pictures() on a private sandbox stack, removed afterwards whatever happened."""
    stack = Sandbox()
    try:
        say("starting a private sandbox stack")
        stack.up()
        return take_pictures(stack, folder)
    finally:
        say("removing the sandbox stack")
        stack.down()


def publish(shots):
    """The docs' pictures replaced together, once all three were taken: never a mix of two runs."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name in HEIGHTS:
        shutil.move(shots / name, IMAGES / name)
        say(f"docs/images/{name}: {(IMAGES / name).stat().st_size // 1024} KB")


def failure_text(failure):
    if isinstance(failure, subprocess.CalledProcessError):  # the stack did not start (compose's own words)
        return f"{' '.join(map(str, failure.cmd))[:200]}: exit {failure.returncode}: {str(failure.stderr)[-1500:]}"
    return str(failure)


def main(argv=None):
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    missing = browser.chromium_missing()
    if missing:
        print(f"docs_images: {missing}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    folder = Path(tempfile.mkdtemp(prefix="digitalme-docs-images-"))
    try:
        publish(in_a_sandbox(folder))
    except (KeyboardInterrupt, Interrupted) as stop:
        print(f"docs_images: interrupted ({stop or 'Ctrl-C'}): the pictures are unchanged", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError) as failure:
        print(f"docs_images: {failure_text(failure)}\nthe pictures are unchanged", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
