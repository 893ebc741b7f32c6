"""A report folder that cannot be written never stops alerts or the heartbeat (plugins/outputs/results.py, plugins/outputs/alerting/).

Each case is a real broken folder: a path under a regular file (missing, not creatable), a tmpfs remounted
read-only (the tests run as root, whom chmod does not stop), a tiny tmpfs filled to the last byte. Mounts are
lazily unmounted at teardown, whether the test passed or not.
"""

import subprocess

import pytest

from test_alerts import CHECKS, receiver  # noqa: F401 (receiver is a fixture)


class Mounts:
    """tmpfs mounts made by one test; all unmounted at its teardown."""

    def __init__(self, base):
        self.base, self.points = base, []

    def tmpfs(self, name, size="1m"):
        point = self.base / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        self.points.append(point)
        return point

    def read_only(self, point):
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True, capture_output=True)

    def unmount_all(self):
        for point in reversed(self.points):
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture
def mounts(tmp_path):
    made = Mounts(tmp_path)
    try:
        yield made
    finally:
        made.unmount_all()


def fill(folder):
    """Write into ``folder`` until its filesystem has no byte left."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    for n in range(1000):  # the last partial pages
        try:
            with open(folder / f"filler-{n}", "wb") as f:
                f.write(b"\0" * 512)
        except OSError:
            break


@pytest.fixture
def broken_run(mini_project, receiver, tmp_path):  # noqa: F811
    """``broken_run(folder, **env)``: one run of the alerting mini project with its reports in ``folder``."""
    run = mini_project(CHECKS)

    def go(folder, *args, **env):
        environment = {"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_ALERT_BUDGET_S": "4",
                       "DIGITALME_WEBHOOK_URL": receiver.url(), "DIGITALME_HEARTBEAT_URL": receiver.url("/ping/hb"),
                       "XDG_STATE_HOME": str(tmp_path / "state"), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        environment.update({k: str(v) for k, v in env.items()})
        return run(*args, env=environment, report_dir=folder)
    return go


def assert_ended_with_one_line_error(result, folder, reason):
    output = result.stdout + result.stderr
    assert "INTERNALERROR" not in output and "Traceback" not in output, result
    lines = [line for line in result.stdout.splitlines() if line.startswith("DigitalMe")]
    expected = f"DigitalMe: ERROR - report folder {folder} cannot be written ({reason})"
    assert lines and lines[-1].startswith(expected), f"last DigitalMe line {lines[-1:]} is not {expected!r}"
    assert result.returncode != 0, f"exit {result.returncode} with a broken report folder"


def pings(receiver):  # noqa: F811
    return [r["path"] for r in receiver.requests if r["method"] == "GET"]


def test_a_read_only_report_folder_still_alerts_beats_and_fails_the_run(broken_run, receiver, mounts):  # noqa: F811
    """Read-only report folder: the failing check is alerted, the heartbeat says fail, the run ends with one line
    naming the folder and pytest's exit 1; the alert state is kept in the fallback and read back next run."""
    point = mounts.tmpfs("ro")
    folder = point / "reports"
    folder.mkdir()
    mounts.read_only(point)
    first = broken_run(folder, FAIL_DISK="1")
    assert_ended_with_one_line_error(first, folder, "Read-only file system")
    assert first.returncode == 1, first
    assert [p["status"] for p in receiver.payloads()] == ["firing"], receiver.payloads()
    assert pings(receiver) == ["/ping/hb/fail"], pings(receiver)
    assert "DigitalMe alerts: alert state kept in " in first.stdout
    assert str(folder / "state" / "alerts") in first.stdout
    second = broken_run(folder, FAIL_DISK="1")
    assert "DigitalMe alerts: 1 suppressed (repeat interval)" in second.stdout, second
    third = broken_run(folder)  # recovered: the resolved, from the state kept in the fallback
    assert [p["status"] for p in receiver.payloads()] == ["firing", "resolved"], receiver.payloads()
    assert_ended_with_one_line_error(third, folder, "Read-only file system")
    assert third.returncode == 1, "every check passed, but nothing was recorded: the run must not exit 0"


def test_a_full_report_folder_still_alerts_and_does_not_repeat_the_alert(broken_run, receiver, mounts):  # noqa: F811
    point = mounts.tmpfs("full", size="256k")
    folder = point / "reports"
    folder.mkdir()
    fill(point)
    first = broken_run(folder, FAIL_DISK="1")
    assert_ended_with_one_line_error(first, folder, "No space left on device")
    assert [p["status"] for p in receiver.payloads()] == ["firing"] and pings(receiver) == ["/ping/hb/fail"]
    broken_run(folder, FAIL_DISK="1")
    assert len(receiver.posts()) == 1, f"the same alert was sent again: {receiver.payloads()}"


def test_a_report_folder_that_cannot_be_made_still_alerts(broken_run, receiver, tmp_path):  # noqa: F811
    (tmp_path / "a-file").write_text("not a folder")
    folder = tmp_path / "a-file" / "reports"
    result = broken_run(folder, "-m", "monitor", FAIL_MEMORY="1")
    assert_ended_with_one_line_error(result, folder, "Not a directory")
    assert [p["severity"] for p in receiver.payloads()] == ["warning"] and pings(receiver) == ["/ping/hb/fail"]


def test_the_fallback_is_emptied_once_the_report_folder_works_again(broken_run, receiver, tmp_path):  # noqa: F811
    (tmp_path / "a-file").write_text("not a folder")
    broken_run(tmp_path / "a-file" / "reports", FAIL_DISK="1")
    (tmp_path / "a-file").unlink()
    healed = broken_run(tmp_path / "a-file" / "reports", FAIL_DISK="1")
    assert healed.returncode == 1 and "suppressed (repeat interval)" in healed.stdout, healed
    assert (tmp_path / "a-file" / "reports" / "state" / "alerts" / "state.json").exists()
    assert not list((tmp_path / "state").rglob("state.json")), "the fallback still holds a (now stale) state"
    assert len(receiver.posts()) == 1, f"the same alert was sent again: {receiver.payloads()}"


FULL_WHEN_THE_RECORD_IS_WRITTEN = """
import errno as _errno
from importlib.metadata import version as _version
import pytest_html.basereport as _basereport

# pytest-html's own writer (checked against 4.2.0): without it the disk would never seem to fill here
if not callable(getattr(_basereport.BaseReport, "_write_report", None)):
    raise RuntimeError(f"pytest-html {_version('pytest-html')} has no BaseReport._write_report: "
                       "test_report_folder.py's full-disk fault needs another place")


def _full(self, rendered):
    raise OSError(_errno.ENOSPC, "No space left on device")


_basereport.BaseReport._write_report = _full
"""


def test_a_folder_that_fills_during_the_run_ends_with_the_one_line_error(mini_project, receiver, tmp_path):  # noqa: F811
    """The probe passed at start-up, then the disk filled before pytest-html wrote the record: no INTERNALERROR,
    the alert went out, the results file was still attempted, and the run ends with the folder's one line."""
    run = mini_project(CHECKS, conftest_extra=FULL_WHEN_THE_RECORD_IS_WRITTEN)
    folder = tmp_path / "reports"
    result = run(env={"DIGITALME_MAINTENANCE_WINDOW": "off", "DIGITALME_WEBHOOK_URL": receiver.url(),
                      "NO_PROXY": "127.0.0.1", "FAIL_DISK": "1"}, report_dir=folder)
    assert_ended_with_one_line_error(result, folder, "No space left on device")
    assert result.returncode == 1 and [p["status"] for p in receiver.payloads()] == ["firing"], result
    assert result.results["alerts"][0]["state"] == "sent", "the results file was not written after all"
