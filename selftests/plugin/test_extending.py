"""The extension points (plugins/hookspecs.py): the docs' example plugin (docs/extending.md), loaded with ``-p``,
takes the critical alerts to its own channel, leaves the warnings to the webhook, and adds an output after every
other one."""

import json
import re

import pytest

from conftest import REPO
from test_alerts import Receiver

CHECKS = """
    import os
    import pytest

    @pytest.mark.critical
    @pytest.mark.daily
    @pytest.mark.manual("Morning Health Check 1")
    def test_container_up(check):
        '''Every container is up.'''
        check.record("exited", "running")
        assert False, "container digitalme-digitalme-1 is Exited (137) (required: running)"

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Disk Usage")
    def test_disk(check):
        '''Disk use is below the threshold.'''
        check.record({"/": 83.0}, 80)
        assert False, "disk / at 83 % (required: below 80 %)"

    @pytest.mark.warning
    @pytest.mark.daily
    @pytest.mark.manual("Resource Monitoring: Memory Usage")
    def test_memory(check):
        '''Memory is below the threshold.'''
        check.record(52.5, 85)
"""


@pytest.fixture
def receiver():
    server = Receiver(foreign=("/chat",))  # the example plugin's own chat format; /hook gets the suite's payload
    yield server
    server.stop()


def docs_example():
    """The Python block of docs/extending.md's section on plugins, and the module name it gives itself."""
    page = (REPO / "docs" / "extending.md").read_text()
    section = page.split("## A plugin: an alert channel or an output", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    assert len(code.strip().splitlines()) <= 16, "the example should stay short"
    return re.match(r'"""(\w+)\.py', code).group(1), code


def test_the_docs_example_plugin_adds_a_channel_and_an_output(mini_project, receiver, tmp_path):
    """The docs' plugin, loaded with -p: the critical alert goes to its chat channel in its format, the warning
    still to the suite's webhook, both recorded as sent; failed.txt lists the two failed checks."""
    name, code = docs_example()
    run = mini_project(CHECKS)
    (tmp_path / f"{name}.py").write_text(code)
    result = run("-p", name, env={"DIGITALME_WEBHOOK_URL_CRITICAL": receiver.url("/chat"),
                                  "DIGITALME_WEBHOOK_URL_WARNING": receiver.url("/hook"),
                                  "DIGITALME_MAINTENANCE_WINDOW": "off", "NO_PROXY": "127.0.0.1"})
    assert result.returncode == 1, result
    chat = [r["body"].decode() for r in receiver.posts("/chat")]
    expected = ("FIRING container digitalme-digitalme-1 is Exited (137) (required: running); "
                "check: Every container is up.")  # what was found first
    assert chat == [json.dumps({"text": expected})], chat
    webhook = receiver.payloads("/hook")
    assert [(p["severity"], p["check"].split("::")[-1]) for p in webhook] == [("warning", "test_disk")], webhook
    assert sorted(a["state"] for a in result.results["alerts"]) == ["sent", "sent"], result.results["alerts"]
    lines = (result.report_dir / "failed.txt").read_text().splitlines()
    stem = result.results["files"]["json"].rsplit("/", 1)[1][:-len(".json")]
    assert lines == [f"{stem} critical tests_mini/test_checks.py::test_container_up: "
                     "container digitalme-digitalme-1 is Exited (137) (required: running)",
                     f"{stem} warning tests_mini/test_checks.py::test_disk: disk / at 83 % (required: below 80 %)"], lines


def test_a_finished_run_hook_sees_every_output_already_written(mini_project, tmp_path):
    """pytest_digitalme_run_finished comes last: the results file, the record and the history are there."""
    run = mini_project(CHECKS, conftest_extra='''
        import os as _os

        def pytest_digitalme_run_finished(config, run):
            from plugins.configuration.settings import SETTINGS
            folder = config.stash[SETTINGS].report_dir
            with open(_os.path.join(folder, "seen.txt"), "w") as f:
                f.write(" ".join(sorted(n for n in _os.listdir(folder) if n.startswith(("latest", "index")))))
                f.write(f" alerts={len(run.alerts)} checks={len(run.checks)}")
        ''')
    result = run(env={"DIGITALME_ALERTS": "dry-run", "DIGITALME_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    seen = (result.report_dir / "seen.txt").read_text()
    assert seen == "index.html latest.html latest.json alerts=2 checks=3", seen
