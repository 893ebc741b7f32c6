"""Every message the suite stops a run with (exit 4, before any check) is on the troubleshooting page
(docs/troubleshooting.md), so an operator who meets one finds what it means and what to do.

The messages are read from the code, not listed here: every ``pytest.UsageError(...)`` raised in plugins/, every
reason a setting's value is refused (``Invalid(...)``: plugins/configuration/parsers.py, window.py), every problem
line a stop collects (``problems.append(...)``, ``stop([...])``) and the helpers below that word problem lines
returned to a stop. Every literal piece of each message (its text between the ``{...}`` fields, at least MIN_PIECE
characters) must appear on the page, so a new stop, or a reworded one, cannot slip past the page unread.
"""

import ast
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "troubleshooting.md"
MIN_PIECE = 6  # shorter literal pieces are glue (", ", " (from ", "s"), not words an operator would search for
# Functions whose returned lines (or rule texts) become the lines of a stop's message where they are called: each
# f-string and each string with a blank in them is one message (a bare name such as "docker_host" is none).
HELPERS = {
    "plugins/configuration/resolve.py": {"not_a_setting", "docker_host_variable"},
    "plugins/configuration/markers.py": {"unclassified", "unexplained", "pytest_collection_modifyitems"},
    "plugins/outcomes/trends.py": {"clashes"},
}
LINE_LISTS = ("problems", "bad", "wrong")  # lists of problem lines a stop joins: what is appended to them


def literal_pieces(node):
    """The constant text of a message expression (an f-string's text between its fields, a concatenation's
    strings), each stripped of the blanks and punctuation around it and folded to single blanks."""
    pieces = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            piece = " ".join(sub.value.split()).strip(" :;,.()'\"=")
            if len(piece) >= MIN_PIECE:
                pieces.append(piece)
    return pieces


def is_stop_call(call):
    """A call whose arguments are the text of a stop: the usage error itself, a refused value, a problem line."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "UsageError":
        return True
    if isinstance(func, ast.Name) and func.id in ("Invalid", "stop", "stop_for"):
        return True
    return (isinstance(func, ast.Attribute) and func.attr == "append" and isinstance(func.value, ast.Name)
            and func.value.id in LINE_LISTS)


def helper_messages(function):
    """Each f-string, and each string with a blank that is not part of one, in a helper's body."""
    body = function.body[1:] if ast.get_docstring(function) else function.body
    nodes = [node for statement in body for node in ast.walk(statement)]
    in_fstrings = {id(c) for n in nodes if isinstance(n, ast.JoinedStr) for c in ast.walk(n)}
    return [(n.lineno, literal_pieces(n)) for n in nodes
            if isinstance(n, ast.JoinedStr) or (isinstance(n, ast.Constant) and isinstance(n.value, str)
                                                and " " in n.value.strip() and id(n) not in in_fstrings)]


def messages_of(path):
    """[(line, [literal pieces])] of every stop message written in the module at ``path``: the stops' own text,
    a value's ``expected = "..."`` reason, and the helpers' lines."""
    tree = ast.parse(path.read_text())
    found = [(node.lineno, [p for arg in node.args for p in literal_pieces(arg)])
             for node in ast.walk(tree) if isinstance(node, ast.Call) and is_stop_call(node)]
    found += [(node.lineno, literal_pieces(node.value)) for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id == "expected" for t in node.targets)]
    helpers = HELPERS.get(str(path.relative_to(REPO)), set())
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in helpers):
        found += helper_messages(function)
    return found


def stop_messages():
    """{"<module>:<line>": [the message's literal pieces]} of every stop message in plugins/ that has any; one
    without (a join of other lines, a field alone) is glue whose lines are messages of their own."""
    return {f"{path.relative_to(REPO)}:{line}": pieces
            for path in sorted((REPO / "plugins").rglob("*.py")) for line, pieces in messages_of(path) if pieces}


def flat(text):
    """Text as it reads: blanks folded (a message may wrap on the page), Markdown's code marks and escapes gone."""
    return " ".join(text.replace("`", "").replace("\\", "").split())


def test_the_scan_finds_the_stops_it_is_about():
    """The scan itself: the stops every operator meets are among what it read."""
    found = {piece for pieces in stop_messages().values() for piece in pieces}
    for message in ("invalid DigitalMe setting", "invalid DigitalMe targets file", "invalid DigitalMe waivers file",
                    "names no check of the suite", "bytes? write a unit, e.g", "not valid TOML"):
        assert message in found, f"{message!r} not among the stop messages read from plugins/: {sorted(found)}"


def test_every_stop_message_is_on_the_troubleshooting_page():
    page = flat(PAGE.read_text())
    missing = {where: [p for p in pieces if flat(p) not in page] for where, pieces in stop_messages().items()}
    missing = {where: pieces for where, pieces in missing.items() if pieces}
    assert not missing, ("stop messages the troubleshooting page does not show (say in docs/troubleshooting.md "
                         "what each means and what to do): "
                         + "; ".join(f"{where}: {pieces}" for where, pieces in sorted(missing.items())))


def test_the_page_names_the_exit_code_of_a_stop():
    assert re.search(r"\bexit 4\b|exit code 4|exits? (with )?4", PAGE.read_text())
