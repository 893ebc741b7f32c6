"""The check catalogue (docs/reference/checks.md): every check as pytest collects it, read by this module as a
pytest plugin in a ``--collect-only`` run of the suite (:func:`collected_checks`), then written as one table per
test module (:func:`checks_page`).

What each column comes from: the id is pytest's node id, which the results file, waivers and alerts use (a run
without a targets file: no target parameter); severity, schedules, Level 3 and the manual's lines are the check's
markers, read as plugins/configuration/markers.py reads them; the title is the docstring's first line with its
``{setting}`` fields at their defaults (as the results file states it); what is measured is the docstring after
its first paragraph; the threshold settings are those its title names and those it records as its threshold
(``check.record(value, settings.<name>)``).
"""

import ast
import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from docs_markdown import GENERATED, cell, table

REPO = Path(__file__).resolve().parent.parent
OUTPUT = "DOCS_CATALOGUE_FILE"  # where the collection run writes the checks, as JSON

CHECKS_INTRO = """# Checks

{generated}

Every check of the suite, as `pytest --collect-only` finds it, one table per test module (one manual section a
module). *Check*: its name; its whole id, the table's heading, `::` and the name
(`tests_health/test_logs.py::test_x`), is what the results file, the record, waivers, alert fingerprints and the
Prometheus `check` label use; in a fleet the target's name is added as the first parameter (`...::test_x[prod]`,
`...::test_x[prod-/health]`). *Title* is the results file's, at the default settings; *threshold* names the
settings it is held to ([settings](settings.md)), "no setting" where what it requires is fixed. *Schedules* are the `-m` selections that run it; a check of
`change` alone runs only when `-m change` asks for it. *Severity* is that of a failure; "Level 3" sends it to the
emergency route at once. *Manual* names the operations manual's lines it enforces (its `manual` marker).

{checks} checks in {modules} modules.
"""


# --- the plugin, in the collection run ---------------------------------------------------------

def thresholds_of(function, title):
    """The settings a check is held to: named in its title (``{backups_min}``), or recorded as its threshold."""
    from plugins.configuration.markers import SETTING_FIELD
    from plugins.configuration.settings import BY_NAME
    named = [name for name in SETTING_FIELD.findall(title) if name in BY_NAME]
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "record":
            threshold = call.args[1] if len(call.args) > 1 else next(
                (k.value for k in call.keywords if k.arg == "threshold"), None)
            if (isinstance(threshold, ast.Attribute) and isinstance(threshold.value, ast.Name)
                    and threshold.value.id == "settings" and threshold.attr in BY_NAME):
                named.append(threshold.attr)
    return list(dict.fromkeys(named))


def entry_of(item):
    """One check as the page shows it."""
    from plugins.configuration import markers
    first, _, rest = inspect.cleandoc(item.function.__doc__ or "").partition("\n\n")
    title, manual = markers.describe(item, None)
    return {"id": item.nodeid, "module": item.nodeid.split("::")[0],
            "module_doc": " ".join(inspect.cleandoc(item.module.__doc__ or "").partition("\n\n")[0].split()),
            "title": title, "manual": manual, "severity": markers.severity_of(item),
            "level3": markers.level3_of(item), "schedules": markers.schedules_of(item),
            "measured": " ".join(rest.split()), "thresholds": thresholds_of(item.function, first)}


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Every collected check, before ``-m`` or the change gate (tests_health/conftest.py) leaves any out; written
    once the suite's own collection rules (markers, trends) have passed."""
    every = list(items)
    result = yield
    with open(os.environ[OUTPUT], "w", encoding="utf-8") as f:
        json.dump([entry_of(item) for item in every], f)
    return result


# --- the script's side -------------------------------------------------------------------------

def collected_checks():
    """The suite's checks, from a ``--collect-only`` run with this plugin, as a run without a targets file
    collects them (DIGITALME_* left out; titles at the defaults whatever is set); raises RuntimeError with the
    run's output."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALME_") and k != "PYTEST_ADDOPTS"}
    with tempfile.TemporaryDirectory() as folder:
        output = os.path.join(folder, "checks.json")
        environment.update({OUTPUT: output, "DIGITALME_REPORT_DIR": os.path.join(folder, "reports"),
                            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "scripts")])})
        # no targets file, even where pytest.ini names one: the ids without a target's parameter
        run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "docs_catalogue",
                              "--digitalme-targets="],
                             cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
        if run.returncode != 0 or not os.path.exists(output):
            raise RuntimeError(f"the checks could not be collected (pytest exit {run.returncode}):\n"
                               f"{run.stdout[-3000:]}{run.stderr[-3000:]}")
        with open(output, encoding="utf-8") as f:
            return json.load(f)


def severity_of(check):
    level3 = f", Level 3 at once ({check['level3']})" if check["level3"] else ""
    return check["severity"] + level3


def check_row(check):
    thresholds = ", ".join(f"`{name}`" for name in check["thresholds"]) or "no setting"
    return [f"`::{check['id'].split('::', 1)[1]}`", cell(check["title"]), cell(check["manual"]), severity_of(check),
            ", ".join(check["schedules"]), cell(check["measured"]), thresholds]


def checks_page(checks):
    header = ["check", "title", "manual", "severity", "schedules", "what is measured", "threshold"]
    modules = list(dict.fromkeys(check["module"] for check in checks))
    text = CHECKS_INTRO.format(generated=GENERATED, checks=len(checks), modules=len(modules))
    for module in modules:
        own = [check for check in checks if check["module"] == module]
        text += f"\n## `{module}`\n\n{cell(own[0]['module_doc'])}\n\n" + table(header, [check_row(c) for c in own])
    return text
