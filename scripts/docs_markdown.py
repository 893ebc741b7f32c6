"""Markdown tables for the generated reference pages (scripts/docs_reference.py, docs_schemas.py), safe in MkDocs (Python-Markdown)
and on GitHub alike: a cell is one line, with no raw ``|`` and no HTML tag."""

import difflib
import re

GENERATED = ("*Generated from the code by `scripts/docs_reference.py` (`make reference`): do not edit by hand; a "
             "selftest compares this page with the code byte for byte.*")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def plain(text):
    """Text outside a code span: ``|`` escaped (a cell would end there), ``<`` as ``&lt;`` (``<selection>``
    would be taken for an HTML tag), ``*`` escaped (no emphasis from a glob)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def code(text, ticks):
    """A code span holding ``|`` split at each: Python-Markdown shows a ``\\|`` inside code as written, GitHub
    ends the cell at a bare one; between spans an escaped ``|`` reads the same in both."""
    parts = [part.strip() for part in text.split("|")]
    return " \\| ".join(f"{ticks}{part}{ticks}" if part else "" for part in parts).strip()


def cell(text):
    """``text`` fit for one table cell: on one line, code spans kept, everything else escaped."""
    text = " ".join(str(text).split())
    shown, last = [], 0
    for match in CODE_SPAN.finditer(text):
        shown.append(plain(text[last:match.start()]))
        shown.append(code(match.group(2), match.group(1)))
        last = match.end()
    shown.append(plain(text[last:]))
    return "".join(shown)


def table(header, rows):
    """A Markdown table; the cells are given ready (made with :func:`cell` where they hold free text)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def diff_of(path, committed, text):
    """A unified diff of the ``committed`` page (None: not there) against ``text`` ("" when they are the same)."""
    old = committed or ""
    if committed is not None and old == text:
        return ""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                        f"{path} (committed)", f"{path} (from the code)"))
