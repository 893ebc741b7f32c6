"""Write the reference pages of the docs from the code, so they cannot drift from it:

    docs/reference/settings.md     every setting (plugins/configuration/settings.py DECLARED)
    docs/reference/checks.md       the check catalogue, as pytest collects the checks (scripts/docs_catalogue.py)
    docs/reference/exit-codes.md   the exit codes of the suite and of scripts/verify-records

    .venv/bin/python scripts/docs_reference.py           write the three pages (`make reference`)
    .venv/bin/python scripts/docs_reference.py --check   write nothing; print a diff of each stale page, exit 1 if any

Run it with the suite's Python (make setup's .venv): the pages describe the pytest and plugins installed there.

Exit codes: 0 written (or, with --check, up to date), 1 a page is stale (--check), 2 a usage error, or a page
cannot be made (the checks could not be collected, an exit code is not described). The selftests compare each committed page with this script's text byte for byte:
selftests/plugin/test_settings.py (settings), selftests/plugin/test_check_catalogue.py (checks) and
selftests/unit/test_docs_reference.py (exit codes).
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]
from docs_catalogue import checks_page, collected_checks  # noqa: E402
from docs_exit_codes import exit_codes_page  # noqa: E402
from docs_markdown import GENERATED, cell, diff_of, table  # noqa: E402
from plugins.configuration import parsers  # noqa: E402
from plugins.configuration.settings import DECLARED  # noqa: E402

PAGES = ("docs/reference/settings.md", "docs/reference/checks.md", "docs/reference/exit-codes.md")
# A setting's unit (plugins/units.py's word) as the page names it
UNIT_WORDS = {"pct": "%", "s": "seconds", "h": "hours", "days": "days", "bytes": "bytes", "number": "count"}
# Settings whose value is written with its unit, parsed into the unit above
WRITTEN_WITH_UNIT = {parsers.size: "`2GiB`, `512MiB`", parsers.duration: "`90s`, `30m`, `4h`, `1d`"}

SETTINGS_INTRO = """# Settings

{generated}

Every setting is declared once, in `plugins/configuration/settings.py`. Set one on the command line
(`--digitalme-<name>=VALUE`, with `=`), in the environment (`DIGITALME_<NAME>`), as a `pytest.ini` key
(`digitalme_<name>`) or, where the table says *per target* yes, in a targets file's `[defaults]` or
`[targets.<name>]` table (the key is the setting's name). Precedence: a target's own table, its `[defaults]`,
the command line, the environment, `pytest.ini`, the default (the operations manual's value). Every value is
validated before any check runs; a bad one, or a `DIGITALME_*` variable or `digitalme_*` key that names no
setting, stops the run with exit 4 ([exit codes](exit-codes.md)).

*Unit* is what the number counts; a size or a duration is written with its unit (`2GiB`, `30m`), a plain number
never. *Per target* no: a setting of the whole run, refused in a targets file. A secret setting is never printed:
not in the results file, the record, an alert or an error message.

"""


def unit_of(setting):
    """The unit cell: the unit's word, and how a value is written where it carries its own unit."""
    word = UNIT_WORDS.get(setting.unit, setting.unit)
    written = WRITTEN_WITH_UNIT.get(setting.parse)
    return f"{word} (written {written})" if written else word


def settings_row(setting):
    default = f"`{setting.default}`" if setting.default else "(unset)"
    meaning = cell(setting.help) + (" **Secret:** never printed." if setting.secret else "")
    return [f"`{setting.name}`", f"`{setting.env}`", f"`{setting.option}`", default, unit_of(setting),
            "yes" if setting.per_target else "no", meaning]


def settings_page():
    header = ["setting", "environment variable", "command line", "default", "unit", "per target", "meaning"]
    rows = [settings_row(setting) for setting in DECLARED]
    return SETTINGS_INTRO.format(generated=GENERATED) + table(header, rows)


def pages(checks=None):
    """{path under the repository: text} of every page; ``checks``: the collected checks (collected when None)."""
    return {PAGES[0]: settings_page(),
            PAGES[1]: checks_page(collected_checks() if checks is None else checks),
            PAGES[2]: exit_codes_page()}


def stale(path, text):
    """A unified diff of the committed page against ``text`` ("" when they are the same)."""
    found = REPO / path
    return diff_of(path, found.read_text(encoding="utf-8") if found.exists() else None, text)


def main(argv):
    if argv not in ([], ["--check"]):
        print("usage: scripts/docs_reference.py [--check]", file=sys.stderr)
        return 2
    try:
        generated = pages()
    except RuntimeError as e:  # what the code holds cannot be described as it is: say what, write nothing
        print(f"docs_reference: {e}", file=sys.stderr)
        return 2
    if argv == ["--check"]:
        diffs = [diff for path, text in generated.items() for diff in [stale(path, text)] if diff]
        sys.stdout.write("".join(diffs))
        if diffs:
            print(f"{len(diffs)} reference page(s) stale: regenerate with `make reference` "
                  "(scripts/docs_reference.py)", file=sys.stderr)
        return 1 if diffs else 0
    for path, text in generated.items():
        os.makedirs(REPO / os.path.dirname(path), exist_ok=True)
        (REPO / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
