"""A failed check costs what a passed one costs (issue 27; plugins/outcomes/build.py
``pytest_runtest_makereport_without_traceback``).

A check's own failure (an assert, pytest.fail), "could not be checked" (a ProbeError, in the check or its fixture)
and what the environment answered instead (an OSError: a refused connection) are reported with the suite's sentence,
and pytest never formats a traceback for them: the mini project counts every traceback pytest formats
(``ExceptionInfo.getrepr``, where each entry's source is parsed with ``ast``) and writes the exceptions' types to a
file. A defect of the suite itself (a TypeError in a check) keeps pytest's full traceback; ``--tb=long`` gives
pytest's normal traceback of every failure. The results file says the same in every case.
"""

import json

import pytest

CHECKS = '''
    import pytest

    from plugins.probes import ProbeError


    @pytest.fixture
    def docker_answer():
        raise ProbeError("the Docker daemon did not answer: connection refused")


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(check):
        """Disk use below 80 %."""
        check.record(91.5, 80, unit="pct")
        used = 91.5
        assert used < 80, f"/ is {used:g} % used (required: below 80 %)"


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 5")
    def test_backup_folder():
        """The backup folder exists."""
        pytest.fail("/app/backups does not exist in the container (required: the backup folder)")


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_containers_running(docker_answer):
        """Every declared service has a running container."""


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 2")
    def test_health():
        """/health answers."""
        raise ProbeError("/health gave no answer after 0.00 s: connection refused")


    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 2")
    def test_port_open():
        """The port answers."""
        raise ConnectionRefusedError(111, "Connection refused")


    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Key Performance Metrics: Database Performance")
    def test_database_size(check):
        """The database is below 1.0 GiB."""
        sizes = {"digitalme.db": "12 MiB"}
        check.record(sizes["digitalme.db"] / 1024, 1024)  # a defect of the suite: str / int
'''

# Counts every traceback pytest formats, by the exception's type, into FORMATTED_FILE (the mini project's conftest).
COUNTER = '''
    import json
    import os

    from _pytest._code.code import ExceptionInfo

    _getrepr = ExceptionInfo.getrepr
    _formatted = []


    def _counting_getrepr(self, *args, **kwargs):
        _formatted.append(self.typename)
        return _getrepr(self, *args, **kwargs)


    ExceptionInfo.getrepr = _counting_getrepr


    def pytest_unconfigure(config):
        with open(os.environ["FORMATTED_FILE"], "w") as f:
            json.dump(_formatted, f)
'''

SENTENCES = {
    "test_disk": ("failed", "/ is 91.5 % used (required: below 80 %)"),
    "test_backup_folder": ("failed", "/app/backups does not exist in the container (required: the backup folder)"),
    "test_containers_running": ("error", "could not be checked: the Docker daemon did not answer: connection refused"),
    "test_health": ("error", "could not be checked: /health gave no answer after 0.00 s: connection refused"),
    "test_port_open": ("error", "could not be checked: ConnectionRefusedError: [Errno 111] Connection refused"),
}
DEFECT = ("error", "could not be checked: TypeError: unsupported operand type(s) for /: 'str' and 'int'")


@pytest.fixture
def run_checks(mini_project, tmp_path):
    run = mini_project(CHECKS, conftest_extra=COUNTER)
    formatted = tmp_path / "formatted.json"

    def checks(*args):
        done = run(*args, env={"FORMATTED_FILE": str(formatted), "DIGITALME_ALERTS": "off"})
        done.formatted = json.loads(formatted.read_text())
        return done
    return checks


def section(stdout, name):
    """The text of a check's part of the terminal's FAILURES or ERRORS section (up to the next part)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("_") and f" {name} " in line)
    ends = ("_", "=", "DigitalMe", "- Generated")  # the next part, section, or the suite's and pytest-html's lines
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(ends)), len(lines))
    return "\n".join(lines[start + 1:end]).strip()


def assert_results(done):
    for name, (outcome, message) in {**SENTENCES, "test_database_size": DEFECT}.items():
        check = done.check(name)
        assert (check["outcome"], check["message"]) == (outcome, message), check


def test_a_failure_reads_as_the_suites_sentence_without_a_traceback_formatted(run_checks):
    done = run_checks()
    assert done.returncode == 1, done
    assert done.formatted == ["TypeError"], \
        f"pytest formatted a traceback for a failure the suite reports in its own words: {done.formatted}"
    for name, (_, message) in SENTENCES.items():
        assert section(done.stdout, name) == message, done
    assert_results(done)


def test_a_defect_of_the_suite_keeps_its_full_traceback(run_checks):
    done = run_checks()
    defect = section(done.stdout, "test_database_size")
    # pytest's long traceback: the check's source, the failing line marked, the exception and where it happened
    assert 'def test_database_size(check):' in defect and '>       check.record(sizes["digitalme.db"] / 1024, 1024)' \
        in defect, done
    assert "E       TypeError: unsupported operand type(s) for /: 'str' and 'int'" in defect, done
    assert "tests_mini/test_checks.py:" in defect and ": TypeError" in defect, done
    assert_results(done)


def test_tb_long_gives_pytests_traceback_of_every_failure(run_checks):
    done = run_checks("--tb=long")
    assert sorted(done.formatted) == sorted(["AssertionError", "Failed", "ProbeError", "ProbeError",
                                             "ConnectionRefusedError", "TypeError"]), done.formatted
    disk = section(done.stdout, "test_disk")
    assert "def test_disk(check):" in disk and ">       assert used < 80" in disk, done
    assert "E       AssertionError: / is 91.5 % used (required: below 80 %)" in disk, done
    fixture = section(done.stdout, "test_containers_running")
    assert "def docker_answer():" in fixture and "E       plugins.probes.ProbeError: the Docker daemon" in fixture, done
    assert_results(done)  # the results file says the same whatever the terminal shows
