"""Headless Chromium for pages of the record: the selftests open the record and the history in it (the rows of the
record exist only once pytest-html's script ran), and ``make docs-images`` takes the docs' pictures with it
(scripts/docs_images.py). Debian's chromium, installed by scripts/setup-browser.sh when missing."""

import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SETUP_BROWSER = REPO / "scripts" / "setup-browser.sh"
# Quiet and offline: nothing but the page (a file://) is fetched, no first-run or update traffic.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_missing():
    """None when Chromium is there (installed now if it can be); else why it is not, in one sentence."""
    if Path(CHROMIUM).exists():
        return None
    setup = subprocess.run([str(SETUP_BROWSER)], capture_output=True, text=True)
    if setup.returncode == 0 and Path(CHROMIUM).exists():
        return None
    return f"{CHROMIUM} is missing and scripts/setup-browser.sh could not install it: {setup.stderr.strip()[-500:]}"


def render(page, screenshot, width=1400, height=1000, extra=()):
    """Open ``page`` (a file) in headless Chromium, a window of ``width`` x ``height`` CSS pixels: its rendered DOM
    (after the page's scripts ran), and the window's top part written to ``screenshot`` (a PNG)."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))  # a fresh profile: no state between pages
    try:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, *extra, f"--user-data-dir={profile}", f"--screenshot={screenshot}", "--dump-dom",
             f"--window-size={width},{height}", Path(page).resolve().as_uri()],
            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exit {done.returncode} on {page}: {done.stderr[-2000:]}")
    return done.stdout
