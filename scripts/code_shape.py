#!/usr/bin/env python3
"""The shape issue 24 asks of plugins/: no module over MAX_MODULE_LINES, no function over MAX_FUNCTION_LINES, no
import circle between the suite's modules (imports inside functions count: a circle dodged is still a circle).

    scripts/code_shape.py          every breach, one a line; exit 1 if any
Used by selftests/unit/test_code_shape.py.
"""

import ast
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50


def modules(root=REPO / "plugins"):
    """{dotted name: path} of every module under plugins/."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def too_long(path):
    """Breaches of the line limits in one module."""
    text = path.read_text()
    name = path.relative_to(REPO)
    breaches = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        breaches.append(f"{name}: {lines} lines > {MAX_MODULE_LINES}")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                breaches.append(f"{name}:{node.lineno} {node.name}(): {length} lines > {MAX_FUNCTION_LINES}")
    return breaches


def imported(name, path, known):
    """The suite's modules ``name`` imports, anywhere in it (``from plugins.x import y`` counts y when y is a
    module, else x)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                whole = f"{base}.{alias.name}"
                found.add(whole if whole in known else base)
    return {m for m in found if m in known and m != name}


def circles(known):
    """Each import circle once, as ``a -> b -> a``."""
    graph = {name: imported(name, path, known) for name, path in known.items()}
    seen, found = set(), []

    def visit(node, trail):
        for nxt in sorted(graph[node]):
            if nxt in trail:
                circle = trail[trail.index(nxt):] + [nxt]
                key = frozenset(circle)
                if key not in seen:
                    seen.add(key)
                    found.append(" -> ".join(circle))
            elif len(trail) < 12:
                visit(nxt, trail + [nxt])
    for start in sorted(graph):
        visit(start, [start])
    return found


def breaches():
    known = modules()
    # a package's __init__ importing its own submodules is how Python packages work, not a circle
    found = [b for path in known.values() for b in too_long(path)]
    return found + [f"import circle: {c}" for c in circles(known)]


if __name__ == "__main__":
    problems = breaches()
    print("\n".join(problems) or "plugins/: every module and function within the limits, no import circle")
    sys.exit(1 if problems else 0)
