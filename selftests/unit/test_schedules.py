"""The shipped schedules are valid as shipped: the CI template passes actionlint, the systemd units pass
``systemd-analyze verify``, and the template installs the suite alone."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "ci-templates" / "daily-health.yml"
ACTIONLINT_CONFIG = REPO / "ci-templates" / "actionlint.yaml"
SCHEDULE = REPO / "scripts" / "schedule"
SERVICE = "digitalme-ops@.service"
MARKERS = ["monitor", "resources", "daily", "weekly", "monthly"]
INSTALL_DIR = "/opt/digitalme-ops"  # where the service's comments install the suite


def tool(name, path=None):
    found = path if path and path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: `make setup` installs it (requirements-dev.txt / apt)", pytrace=False)
    return str(found)


def test_ci_template_passes_actionlint():
    """The CI template passes actionlint, with the config naming its self-hosted runner label.

    Manual: none (issue 10, point 9): current action versions, no deprecated runtime, known runner label.
    """
    actionlint = tool("actionlint", REPO / ".venv" / "bin" / "actionlint")
    done = subprocess.run([actionlint, "-oneline", "-no-color", "-config-file", str(ACTIONLINT_CONFIG), str(TEMPLATE)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stdout.strip(), \
        f"actionlint found {len(done.stdout.splitlines())} problem(s) (expected 0, exit {done.returncode}):\n" \
        f"{done.stdout}{done.stderr}"


def test_ci_template_installs_the_suite_alone():
    """The CI template runs `make install` on the production runner, never `make setup` (Docker, browser, image).

    Manual: none (issue 10, point 9): nothing but the suite is installed on the production host.
    """
    commands = re.findall(r"^\s*(?:-\s*)?run:\s*(.+)$", TEMPLATE.read_text(), re.M)
    assert "make install" in commands, f"the template's commands {commands} do not include `make install`"
    other = [c for c in commands if re.search(r"make (setup|demo|test|benchmark)|apt-get|docker build", c)]
    assert not other, f"the template runs {other} on the production runner: expected only `make install` to install"


def record_problems(template, service):
    """Why a workflow template would not keep the audit record where the timers keep it, [] when it does: the job's
    DIGITALME_REPORT_DIR must default to the folder the systemd service writes (its WorkingDirectory and the
    suite's default report folder, as the service sets no DIGITALME_REPORT_DIR), be set once (no step moves it),
    no actions/cache may carry the record, and the artifact copies from that folder."""
    from plugins.configuration.settings import BY_NAME
    workdir = re.search(r"^WorkingDirectory=(.+)$", service, re.M).group(1).strip()
    folder = f"{workdir}/{BY_NAME['report_dir'].default}"
    problems = []
    settings = re.findall(r"^\s*DIGITALME_REPORT_DIR:\s*(.+)$", template, re.M)
    if len(settings) != 1 or not re.fullmatch(r"\$\{\{ vars\.DIGITALME_REPORT_DIR \|\| '" + re.escape(folder)
                                               + r"' \}\}", settings[0].strip()):
        problems.append(f"DIGITALME_REPORT_DIR is set as {settings}: expected once, defaulting to the timers' "
                        f"persistent folder {folder!r} (a repository variable may override it)")
    caches = re.findall(r"uses:\s*(actions/cache\S*)", template)
    if caches:
        problems.append(f"the record goes through {caches}: the Actions cache evicts entries unused for a week")
    if re.search(r"--digitalme-report-dir|--junitxml=reports/", template):
        problems.append("a step writes into the workspace's reports/ instead of the persistent folder")
    artifact = re.search(r"uses:\s*actions/upload-artifact\S*\n(?:\s+.*\n)*?\s+path: \|\n((?:\s{12}.+\n)+)", template)
    if not artifact or "${{ env.DIGITALME_REPORT_DIR }}/latest.json" not in artifact.group(1):
        problems.append("the artifact does not copy the run's record from DIGITALME_REPORT_DIR")
    if "scripts/verify-records \"$DIGITALME_REPORT_DIR\"" not in template:
        problems.append("the job does not verify the persistent folder's chain (scripts/verify-records)")
    return problems


CACHED_TEMPLATE = """
    env:
      DIGITALME_REPORT_DIR: reports
    steps:
      - uses: actions/cache/restore@v6
        with:
          path: reports
      - run: .venv/bin/pytest -m daily --junitxml=reports/junit.xml
      - uses: actions/upload-artifact@v7
        with:
          path: reports/
"""


def test_ci_template_keeps_the_record_in_the_hosts_persistent_folder():
    """The scheduled job writes the audit record to the production host's persistent report folder, the one the
    systemd timers write, never through the Actions cache; the artifact is a copy; the chain is verified. The
    earlier shape (reports/ in the workspace, carried by actions/cache) is refused by the same test.

    Manual: none (issue 23, point 11): the audit trail lasts beyond the cache's week.
    """
    service = (SCHEDULE / SERVICE).read_text()
    assert not re.search(r"DIGITALME_REPORT_DIR", service), "the service sets its own report folder: compare to it"
    problems = record_problems(TEMPLATE.read_text(), service)
    assert not problems, "the CI template's record:\n" + "\n".join(problems)
    assert len(record_problems(CACHED_TEMPLATE, service)) == 5, record_problems(CACHED_TEMPLATE, service)


@pytest.fixture(scope="module")
def installed_root(tmp_path_factory):
    """A root laid out as on a host after the service file's install steps, for ``systemd-analyze --root``.

    Why a root: verify checks that ExecStart's program exists, and /opt/digitalme-ops is not installed on this
    machine (nor should a test install it there). The root holds the host's own system units (sysinit.target and
    the rest that every unit depends on), the shipped units in /etc/systemd/system as the install comment copies
    them, and at /opt/digitalme-ops/.venv/bin/pytest a copy of the entry point `make install` created in this
    clone: the file verify looks for, where the unit says it is.
    """
    root = tmp_path_factory.mktemp("root")
    system_units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)
    if system_units is None:
        pytest.fail("no system unit folder (/usr/lib/systemd/system): install Debian's systemd", pytrace=False)
    shutil.copytree(system_units, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for path in [SCHEDULE / SERVICE, *sorted(SCHEDULE.glob("digitalme-ops-*.timer"))]:
        shutil.copy(path, units / path.name)
    entry = root / INSTALL_DIR.lstrip("/") / ".venv" / "bin" / "pytest"
    entry.parent.mkdir(parents=True)
    shutil.copy(REPO / ".venv" / "bin" / "pytest", entry)  # copy keeps the mode: executable
    return root


def test_timers_and_service_pass_systemd_analyze_verify(installed_root):
    """Every shipped timer and the service instance it starts pass `systemd-analyze verify`, with no warning.

    Manual: the schedule (monitor 5 min, resources 4 h, daily 09:00, weekly Sun 02:00, monthly first Sun 01:00).
    """
    analyze = tool("systemd-analyze")
    timers = [f"digitalme-ops-{m}.timer" for m in MARKERS]
    services = [SERVICE.replace("@", f"@{m}") for m in MARKERS]
    missing = [t for t in timers if not (SCHEDULE / t).exists()]
    assert not missing, f"timers missing from scripts/schedule/: {missing}"
    done = subprocess.run([analyze, "verify", f"--root={installed_root}", *timers, *services],
                          capture_output=True, text=True, timeout=120)
    # verify exits 0 on many problems it only warns about ("Unknown key ... ignoring"): any output is a finding.
    findings = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not findings, \
        f"systemd-analyze verify: exit {done.returncode} (expected 0 and no output):\n{findings}"


def test_each_timer_starts_its_own_instance_of_the_service():
    """Each timer starts digitalme-ops@<its marker>.service (verify does not check that Unit= exists).

    Manual: the schedule: each timer runs its own `pytest -m <marker>`.
    """
    wrong = {}
    for marker in MARKERS:
        text = (SCHEDULE / f"digitalme-ops-{marker}.timer").read_text()
        units = re.findall(r"^Unit=(.*)$", text, re.M)
        if units != [f"digitalme-ops@{marker}.service"]:
            wrong[marker] = units
    assert not wrong, f"timers whose Unit= is not their own service instance (marker: Unit=): {wrong}"
