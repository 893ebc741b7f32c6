"""Compose's template syntax: which variables a compose value names, as compose-go reads them."""

import re

_TEMPLATE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?")
WITH_DEFAULT = (":-", "-", ":+", "+")  # unset: compose uses what follows (``:+``/``+``: nothing), not a blank


def variables_in(text):
    """[(name, has_default)] of the variables in a compose value as compose-go's template reads them: ``$NAME``,
    ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?error}``, ``${NAME:+alternate}``; ``$$`` is a
    literal ``$``; the variables inside a default too. ``:?``/``?`` are required: no default."""
    found, i = [], 0
    while i < len(text):
        if text[i] != "$":
            i += 1
        elif text.startswith("$$", i):
            i += 2
        elif text.startswith("${", i) and _BRACED.match(text, i + 2):
            match = _BRACED.match(text, i + 2)
            end, depth = match.end(), 1
            while end < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            found.append((match.group("name"), (match.group("op") or "") in WITH_DEFAULT))
            found += variables_in(text[match.end():end - 1])
            i = end
        elif _TEMPLATE_NAME.match(text, i + 1):
            match = _TEMPLATE_NAME.match(text, i + 1)
            found.append((match.group(), False))
            i = match.end()
        else:
            i += 1
    return found
