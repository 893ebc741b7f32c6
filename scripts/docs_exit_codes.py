"""The exit codes page (docs/reference/exit-codes.md): the suite's (pytest's codes, what makes the suite return
each, and every place that stops a run with exit 4, found in the code) and scripts/verify-records' (its
``--help``, held to the codes its ``main()`` returns)."""

import ast
import re
from pathlib import Path

import pytest

from docs_markdown import GENERATED, cell, table

REPO = Path(__file__).resolve().parent.parent
VERIFY_RECORDS = REPO / "scripts" / "verify-records"
# Where the suite's code lives: every module that may stop a run (its hooks, fixtures and plugins)
SUITE_MODULES = ("plugins/**/*.py", "conftest.py", "tests_*/conftest.py")

# pytest.ExitCode name -> when the suite returns it. Every code pytest has is here, or the page is not written.
SUITE = {
    "OK": "Every selected check passed, was skipped (it does not apply, e.g. HTTPS with `DIGITALME_HTTPS_URL` "
          "empty) or failed under an active waiver.",
    "TESTS_FAILED": "A check failed (critical or warning alike), or could not be checked (an error: a probe "
                    "that could not look), or the target is unreachable (its headline check failed); also when "
                    "every check passed but the report folder could not be written (no results file or record).",
    "INTERRUPTED": "The run was interrupted (Ctrl-C, SIGINT), or a test module could not be imported "
                   "(errors during collection): no check ran.",
    "INTERNAL_ERROR": "A bug in the suite or a plugin (pytest prints INTERNALERROR with a traceback).",
    "USAGE_ERROR": "Bad input, found before any check ran: no results file, record or alert is left behind. "
                   "Each place in the code that stops a run so is listed below.",
    "NO_TESTS_COLLECTED": "No check was selected: a `-m` or `-k` expression that matches none.",
    "MAX_WARNINGS_ERROR": "Only with pytest's own `--max-warnings=N` (the suite does not set it): every check "
                          "passed, but pytest counted more than N warnings.",
}

EXIT_CODES_INTRO = """# Exit codes

{generated}

## The suite (`pytest`)

The suite's exit codes are pytest's: 0 is "all is well", every other code deserves a look. The heartbeat
(`DIGITALME_HEARTBEAT_URL`) is pinged at the end of every run that got past its start, with `/fail` appended on
any exit but 0 (and on exit 0 when an alert was not delivered). A run stopped with exit 4 pings nothing and
alerts nothing: a scheduler should watch the exit code too.

"""
USAGE_INTRO = """
### Exit 4: what stops a run before any check

Every stop names what is wrong (the setting, the file, the table and key, or the check) and never shows a secret's
value; several problems of one kind are reported together. pytest's own usage errors stop a run with 4 too: an
option it does not know (`unrecognized arguments`: write `--digitalme-<name>=VALUE`, with `=`), a `-m` expression
it cannot read (`Wrong expression passed to '-m'`).

"""
VERIFY_INTRO = """
## `scripts/verify-records`

Checks that a report folder's records were not altered, inserted or removed (`scripts/verify-records --help`).
`make verify-records` prints the same, but make itself exits 2 whatever the script's code (naming it in its
`Error N` line): a script that branches on the code calls `scripts/verify-records` directly.

"""


def suite_rows():
    named = set(pytest.ExitCode.__members__)
    if named != set(SUITE):
        raise RuntimeError(f"pytest's exit codes {sorted(named)} differ from the ones described "
                           f"{sorted(SUITE)}: describe each in scripts/docs_exit_codes.py SUITE")
    return [[str(int(code)), f"`{code.name}`", cell(SUITE[code.name])] for code in pytest.ExitCode]


def template(node):
    """A message as written in the code, each value it inserts shown as ``…``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(template(part) if isinstance(part, ast.Constant) else "…" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return template(node.left) + template(node.right)
    if isinstance(node, ast.IfExp) and {template(node.body), template(node.orelse)} & {""}:
        return f"({template(node.body) or template(node.orelse)})"  # "setting" + ("s" if ... else ""): setting(s)
    return "…"


def usage_errors(path):
    """(function, the message's first line) of each ``raise pytest.UsageError(...)`` in a module; a message that is
    all values is told by the function's docstring."""
    found = []
    for function in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args
                    and ast.unparse(node.exc.func).endswith("UsageError")):
                first = re.sub("…+", "…", template(node.exc.args[0])).split("\n")[0]
                if not first.strip("…: "):
                    first = (ast.get_docstring(function) or "").split("\n\n")[0]
                found.append((function.name, " ".join(first.split())))
    return found


def usage_rows():
    paths = sorted({path for pattern in SUITE_MODULES for path in REPO.glob(pattern)})
    return [[cell(message), f"`{path.relative_to(REPO)}` `{function}()`"]
            for path in paths for function, message in usage_errors(path)]


def verify_records_codes():
    """{code: meaning} from verify-records' ``--help`` ("Exit codes" block); raises RuntimeError unless they are
    exactly the codes its ``main()`` returns."""
    module = ast.parse(VERIFY_RECORDS.read_text(encoding="utf-8"))
    block = ast.get_docstring(module).split("Exit codes", 1)[1].split("\n\n")[0]
    documented = {int(code): meaning for code, meaning in re.findall(r"^\s+(\d+)\s+(.+)$", block, re.MULTILINE)}
    main = next(node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    returned = {node.value.value for node in ast.walk(main)
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant)}
    if set(documented) != returned:
        raise RuntimeError(f"scripts/verify-records documents exit codes {sorted(documented)} but its main() "
                           f"returns {sorted(returned)}")
    return documented


def exit_codes_page():
    text = EXIT_CODES_INTRO.format(generated=GENERATED) + table(["exit", "pytest's name", "when"], suite_rows())
    text += USAGE_INTRO + table(["the run stops with (… is a value)", "where"], usage_rows())
    codes = verify_records_codes()
    return text + VERIFY_INTRO + table(["exit", "when"], [[str(code), cell(codes[code])] for code in sorted(codes)])
