"""Fixtures of the suite's own tests: run the suite (or a mini project using its plugins) in a subprocess."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import schema_check

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class SuiteRun:
    """The outcome of one subprocess run of pytest: exit code, output and the results file. Every results file the
    run wrote (changed since ``before``, schema_check.results_files taken before it; None: every one in the folder)
    is held to docs/schemas/results.schema.json: a mismatch fails the test here, naming the file."""

    def __init__(self, completed, report_dir, before=None):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.report_dir = Path(report_dir)
        schema_check.assert_results_files(self.report_dir, before)

    @property
    def results(self):
        return json.loads((self.report_dir / "latest.json").read_text())

    def check(self, name):
        """The results-file entry of the one check whose id ends with ``name``."""
        found = [c for c in self.results["checks"] if c["id"].split("::")[-1] == name]
        found = found or [c for c in self.results["checks"] if c["id"].split("::")[-1].split("[")[0] == name]
        assert len(found) == 1, f"expected one check named {name}, found {[c['id'] for c in self.results['checks']]}"
        return found[0]

    def __repr__(self):
        return f"<SuiteRun rc={self.returncode}>\n{self.stdout[-3000:]}\n{self.stderr[-2000:]}"


CI_MARKERS = ("CI", "BUILD_NUMBER")  # pytest prints whole summary lines under CI; pytest-metadata lists them


def run_pytest(cwd, args, env, report_dir, timeout=300):
    """The suite's pytest in a subprocess, as it runs on an operator's machine wherever the selftests run (a CI
    runner's variables left out)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_") and k not in CI_MARKERS}
    environment.update({"DIGITALME_REPORT_DIR": str(report_dir), "PYTHONPATH": str(REPO)})
    environment.update(env or {})
    folder = Path(cwd) / environment["DIGITALME_REPORT_DIR"]  # where the run writes (env may name another folder)
    before, before_here = schema_check.results_files(folder), schema_check.results_files(report_dir)
    completed = subprocess.run([PYTHON, "-m", "pytest", *args], cwd=cwd, env=environment,
                               capture_output=True, text=True, timeout=timeout)
    if folder.resolve() != Path(report_dir).resolve():
        schema_check.assert_results_files(folder, before)
    return SuiteRun(completed, report_dir, before_here)


@pytest.fixture
def mini_project(tmp_path):
    """A throw-away project using the suite's real plugins: ``mini_project(tests_source) -> run(args, env)``.

    ``tests_source`` is the text of ``tests_mini/test_checks.py``; the project's conftest registers the same
    plugins as the suite's, so severity, results, alerts and reports behave exactly as in a real run.
    """
    def make(tests_source, conftest_extra=""):
        (tmp_path / "tests_mini").mkdir(exist_ok=True)
        (tmp_path / "tests_mini" / "test_checks.py").write_text(textwrap.dedent(tests_source))
        conftest = (REPO / "conftest.py").read_text() + "\n" + textwrap.dedent(conftest_extra)
        (tmp_path / "conftest.py").write_text(conftest)
        (tmp_path / "pytest.ini").write_text(
            "[pytest]\ntestpaths = tests_mini\naddopts = --strict-markers -p no:cacheprovider\n"
            "timeout = 60\ntimeout_method = signal\n")

        def run(*args, env=None, report_dir=None, timeout=120):
            return run_pytest(tmp_path, list(args), env, report_dir or tmp_path / "reports", timeout)
        return run
    return make


# --- the kinds of selftests: a folder each (docs/selftests.md) ------------------------------------------

# The kinds in the order of what they may need: a unit test nothing but this process, a plugin test a subprocess
# run of the suite's plugins (mini_project), a sandbox test the sandbox stack. bench/ may need anything.
KINDS = ("unit", "plugin", "sandbox")


def kind_needed(fixturenames):
    """The least kind whose folder may hold a test using these fixtures (with those they use)."""
    return "sandbox" if "sandbox" in fixturenames else "plugin" if "mini_project" in fixturenames else "unit"


def pytest_collection_modifyitems(config, items):
    """A test's kind is its folder: every test in sandbox/ carries the ``sandbox`` marker (``-m "not sandbox"``
    leaves Docker alone); a test in unit/ or plugin/ that needs more than its kind has stops the run at collection,
    naming the folder it belongs in, so that the quick command (unit and plugin) never starts a sandbox."""
    root = Path(__file__).parent
    wrong = []
    for item in items:
        folder = item.path.relative_to(root).parts[0] if item.path.is_relative_to(root) else ""
        if folder == "sandbox":
            item.add_marker(pytest.mark.sandbox)
        needed = kind_needed(item.fixturenames)
        if folder in KINDS and KINDS.index(needed) > KINDS.index(folder):
            wrong.append(f"{item.nodeid} uses {'the sandbox' if needed == 'sandbox' else 'mini_project'}: "
                         f"it belongs in selftests/{needed}/")
    if wrong:
        raise pytest.UsageError("selftests in the wrong folder:\n  " + "\n  ".join(wrong))


# --- the sandbox ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sandbox():
    """A private sandbox stack, started from a known state; checked healthy before any scenario uses it."""
    from sandbox import Sandbox
    stack = Sandbox()
    try:
        stack.up()
    except subprocess.CalledProcessError as e:
        stack.down()
        pytest.fail(f"the sandbox did not start: {e.stderr[-1500:]}", pytrace=False)
    yield stack
    stack.down()


@pytest.fixture
def healthy_sandbox(sandbox):
    """The sandbox, healthy at the start of the test and restored to healthy after it."""
    sandbox.wait_healthy()
    yield sandbox
    sandbox.restore()


@pytest.fixture
def suite(sandbox, tmp_path):
    """``suite(*pytest_args, **settings)`` runs the real suite against the sandbox; settings as DIGITALME_* names."""
    def run(*args, **settings):
        env = {**sandbox.settings_env, **{k: str(v) for k, v in settings.items()}}
        return run_pytest(REPO, list(args), env, tmp_path / "reports")
    return run


def assert_caught(run, check_name, severity, message_pattern, outcome="failed"):
    """The run completed, and the named check failed with this severity and a message matching the pattern; and
    every failing check of the run, its alert and its line in the record, say what was found first."""
    import re
    assert run.returncode == 1, f"expected pytest exit 1 (checks failed), got {run!r}"
    assert "Traceback" not in run.stdout, f"a traceback reached the operator: {run!r}"
    check = run.check(check_name)
    assert check["outcome"] == outcome, f"{check_name}: expected {outcome}, got {check}"
    assert check["severity"] == severity, f"{check_name}: expected severity {severity}, got {check}"
    assert re.search(message_pattern, check["message"]), f"{check_name}: message {check['message']!r} !~ {message_pattern!r}"
    assert_findings_first(run)
    return check


# --- findings first: what an operator reads of a failure starts with what was found ---------------------

REQUIRED = " (required: "  # plugins/outcomes/run.py REQUIRED: "<what was found> (required: <what the check requires>)"
COULD_NOT_CHECK = "could not be checked: "
REQUIREMENT_FIRST = re.compile(r"^(required|expected|must|should|at least|at most|no more than|every|each)\b", re.I)


def finding_first_problem(check):
    """Why a failing check's message does not lead with what was found, or "" when it does: ``<finding>
    (required: <requirement>)``, or ``could not be checked: <what was found>`` for a check that could not run."""
    message, title = check["message"], check["title"]
    if check["outcome"] == "error" and message.startswith(COULD_NOT_CHECK) and len(message) > len(COULD_NOT_CHECK) + 5:
        return ""
    if message.startswith(title) or message.startswith(title.rstrip(".")):
        return "it opens with the check's title (the requirement)"
    if REQUIREMENT_FIRST.match(message):
        return "it opens with a requirement phrase"
    if message.find(REQUIRED) < 1 or not message.endswith(")"):
        return f"it does not end with{REQUIRED}...)"
    return ""


def assert_findings_first(run):
    """Every failing check's message, every firing alert's title and message, and every line of the record's
    failing list lead with the finding; no title names a setting (DIGITALME_...) or a field left unfilled."""
    import html as html_module
    results = run.results
    checks = results["checks"]
    for check in checks:
        assert "DIGITALME_" not in check["title"] and "{" not in check["title"], f"title names a setting: {check}"
    failing = [c for c in checks if c["outcome"] in ("failed", "error")]
    wrong = {c["id"]: (problem, c["message"]) for c in failing if (problem := finding_first_problem(c))}
    assert not wrong, f"failure messages that do not lead with the finding: {wrong}"
    by_key = {(c["id"], c.get("target")): c for c in failing}
    titles = {c["title"] for c in checks}
    for alert in results["alerts"]:
        payload = alert["payload"]
        if payload["status"] != "firing":
            continue
        check = by_key.get((payload["check"], payload.get("target_name")))
        if check is None:  # an alert about the run, not one check (the flood summary): its title is what was found
            assert not REQUIREMENT_FIRST.match(payload["title"]) and payload["title"] not in titles, payload
            continue
        assert payload["title"] == check["message"].split(REQUIRED)[0], (payload, check["message"])
        assert payload["message"].startswith(check["message"]), (payload, check["message"])
    if failing:
        record = (run.report_dir / "latest.html").read_text()
        listed = record[record.index('id="digitalme-failing"'):].split("</ol>")[0]
        for check in failing:
            shown = html_module.escape(check["message"])
            assert re.search(r"(</b>|</span>) " + re.escape(shown) + r" <small>\(check: ", listed), (
                f"the record's failing list does not lead with the finding {shown!r}:\n{listed[:3000]}")


def assert_passed(run, check_name):
    check = run.check(check_name)
    assert check["outcome"] == "passed", f"{check_name}: expected passed, got {check}\n{run!r}"
    return check
