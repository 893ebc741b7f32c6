"""The generated reference pages (scripts/docs_reference.py): the exit codes page is the code's byte for byte, what
the settings page says of each setting (its unit, whether a target may set it) is what the code does, and every
page is a Markdown table MkDocs and GitHub read alike. The settings page's own byte-for-byte guard:
selftests/plugin/test_settings.py; the check catalogue's: selftests/plugin/test_check_catalogue.py."""

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import docs_exit_codes  # noqa: E402
import docs_reference  # noqa: E402
from docs_markdown import CODE_SPAN, cell, table  # noqa: E402
from plugins.configuration.parsers import size  # noqa: E402
from plugins.configuration.settings import BY_NAME, DECLARED, RUN_WIDE  # noqa: E402
from plugins.configuration.targets_file import table_values  # noqa: E402
from plugins.units import UNITS, units_of  # noqa: E402

REGENERATE = "regenerate it with `make reference` (scripts/docs_reference.py) and commit it"


def test_the_exit_codes_page_is_the_codes_byte_for_byte():
    path = docs_reference.PAGES[2]
    diff = docs_reference.stale(path, docs_exit_codes.exit_codes_page())
    assert not diff, f"{path} differs from the code: {REGENERATE}\n{diff}"


def test_every_exit_4_of_the_suite_is_on_the_page():
    """The page's exit-4 table lists each ``raise pytest.UsageError`` of the suite's modules: as many rows as
    the source has raises (a new one adds a row, so the byte-for-byte guard asks for the page again)."""
    raises = sum(len(re.findall(r"raise pytest\.UsageError\(", path.read_text()))
                 for pattern in docs_exit_codes.SUITE_MODULES for path in REPO.glob(pattern))
    assert len(docs_exit_codes.usage_rows()) == raises >= 8


def test_verify_records_codes_are_held_to_what_its_main_returns(tmp_path, monkeypatch):
    assert docs_exit_codes.verify_records_codes() == {
        0: "intact: one line saying what was checked", 1: "NOT intact: every problem found, one a line",
        2: "usage error: an unknown option, more than one folder, a folder that does not exist",
        3: "nothing to verify: the folder holds no results file"}
    script = tmp_path / "verify-records"
    script.write_text(docs_exit_codes.VERIFY_RECORDS.read_text().replace("return 3", "return 5"))
    monkeypatch.setattr(docs_exit_codes, "VERIFY_RECORDS", script)
    with pytest.raises(RuntimeError, match=r"documents exit codes \[0, 1, 2, 3\] but its main\(\) returns "
                                           r"\[0, 1, 2, 5\]"):
        docs_exit_codes.verify_records_codes()


def test_a_pytest_exit_code_not_described_stops_the_page(monkeypatch):
    monkeypatch.delitem(docs_exit_codes.SUITE, "INTERRUPTED")
    with pytest.raises(RuntimeError, match="describe each in scripts/docs_exit_codes.py SUITE"):
        docs_exit_codes.suite_rows()


@pytest.mark.parametrize("setting", DECLARED, ids=lambda s: s.name)
def test_a_target_may_set_exactly_the_settings_the_page_says(setting):
    """What the page's *per target* column says is what a targets file accepts (targets_file.table_values)."""
    problems = []
    parsed = table_values({setting.name: setting.default}, "[targets.t]", problems)
    if setting.per_target:
        assert not problems and setting.name in parsed, problems
    else:
        assert setting.name in RUN_WIDE and problems == [
            f"[targets.t] {setting.name}: a setting of the whole run, not of a target: set {setting.env} or "
            f"{setting.ini} in pytest.ini"]


SUFFIX_UNITS = {"_pct": "pct", "_s": "s", "_h": "h", "_days": "days"}


@pytest.mark.parametrize("setting", DECLARED, ids=lambda s: s.name)
def test_each_unit_is_what_the_setting_parses_into(setting):
    """A unit is plugins/units.py's; a name ending _pct, _s, _h or _days counts that unit; a size is bytes; a
    setting with a unit parses into numbers of it, one without into no number (text, a URL, a list, a window)."""
    assert setting.unit in UNITS + ("",)
    suffix = next((unit for end, unit in SUFFIX_UNITS.items() if setting.name.endswith(end)), None)
    if suffix:
        assert setting.unit == suffix
    if setting.parse is size:
        assert setting.unit == "bytes" and setting.parse("2GiB") == 2 * 1024**3
    if not setting.unit:
        assert not isinstance(setting.parse(setting.default), (int, float))
    else:  # a number, or numbers by selection (``monitor:90``)
        value = setting.parse(setting.default)
        numbers = [float(v.rpartition(":")[2]) for v in value] if isinstance(value, tuple) else [value]
        assert all(isinstance(v, (int, float)) for v in numbers)


def recorded_thresholds():
    """(check, setting, unit) of each ``check.record(value, settings.<name>, unit=...)`` in the checks."""
    found = []
    for path in sorted(REPO.glob("tests_*/test_*.py")):
        for call in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "record"
                    and len(call.args) > 1 and isinstance(call.args[1], ast.Attribute)
                    and ast.unparse(call.args[1].value) == "settings"):
                continue
            unit = next((k.value.value for k in call.keywords if k.arg == "unit"), None)
            found.append((f"{path.name}:{call.lineno}", call.args[1].attr, unit))
    return found


def test_each_unit_is_the_one_the_checks_record_the_setting_in():
    """Where a check records a setting as its threshold with a unit, it is the setting's declared unit (the
    threshold's half of ``"bytes|pct"``); one recorded without a unit is a count."""
    found = recorded_thresholds()
    assert len(found) >= 15, found
    wrong = [(where, name, unit, BY_NAME[name].unit) for where, name, unit in found
             if (units_of(unit)[1] or "number") != BY_NAME[name].unit]
    assert not wrong, f"(check, setting, recorded unit, declared unit): {wrong}"


@pytest.mark.parametrize("text, shown", [
    ("slow|timeout|performance", "slow\\|timeout\\|performance"),
    ("digitalme_<selection>.prom, <1s", "digitalme_&lt;selection>.prom, &lt;1s"),
    ("the manual's `ls -la /app/backups/ | tail -5`, then", "the manual's `ls -la /app/backups/` \\| `tail -5`, then"),
    ("``docker stats`` and `<file>` stay", "``docker stats`` and `<file>` stay"),
    ("pre-restart-*\n  over two lines", "pre-restart-\\* over two lines"),
])
def test_a_cell_is_one_line_without_a_raw_pipe_or_html_tag(text, shown):
    assert cell(text) == shown


def cells_of(row):
    """A table row's cells, split as GitHub does: at every ``|`` not escaped, code spans or not."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def assert_tables_fit(page):
    """Each table's rows have as many cells as its header, split as GitHub splits them, and no HTML tag."""
    tables = re.findall(r"(?:^\|.*\n)+", page, re.MULTILINE)
    assert tables
    for rows in tables:
        widths = {len(cells_of(row)) for row in rows.splitlines()}
        assert len(widths) == 1, rows
        tags = [row for row in rows.splitlines() if re.search(r"<[A-Za-z/!]", CODE_SPAN.sub("", row))]
        assert not tags, tags


@pytest.mark.parametrize("page", [docs_reference.settings_page, docs_exit_codes.exit_codes_page])
def test_every_table_row_has_its_headers_cells_and_no_html_tag(page):
    assert_tables_fit(page())
    assert table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n"


def test_check_mode_prints_the_diff_of_a_stale_page_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(docs_reference, "REPO", tmp_path)
    monkeypatch.setattr(docs_reference, "pages", lambda: {"docs/reference/x.md": "new line\n"})
    (tmp_path / "docs" / "reference").mkdir(parents=True)
    (tmp_path / "docs" / "reference" / "x.md").write_text("old line\n")
    assert docs_reference.main(["--check"]) == 1
    out, err = capsys.readouterr()
    assert "-old line\n+new line\n" in out and "regenerate with `make reference`" in err
    assert (tmp_path / "docs" / "reference" / "x.md").read_text() == "old line\n"  # --check writes nothing
    assert docs_reference.main([]) == 0 and (tmp_path / "docs" / "reference" / "x.md").read_text() == "new line\n"
    assert capsys.readouterr().out == "wrote docs/reference/x.md\n"
    assert docs_reference.main(["--check"]) == 0 and capsys.readouterr() == ("", "")
    assert docs_reference.main(["--bogus"]) == 2


@pytest.mark.parametrize("page", ["| a | b |\n|---|---|\n| `x | y` | z |\n", "| a |\n|---|\n| <b>bold</b> |\n"])
def test_a_raw_pipe_or_an_html_tag_is_caught(page):
    with pytest.raises(AssertionError):
        assert_tables_fit(page)
