"""Trends: the values the history charts, each declared by its check where it records the value
(``check.record(..., trend="disk-use", trend_title=..., trend_of=max)``). The declaration, its checks at
collection and the legacy mapping (:data:`LEGACY`): docs/design.md, "Trends: what the history charts".
"""

import ast
import dataclasses
import math
import re

import pytest

NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
CHART_UNITS = {"pct": "%", "s": "s", "bytes": "bytes"}  # a threshold's unit -> the chart's; others plain numbers


@dataclasses.dataclass(frozen=True)
class Trend:
    name: str  # the short stable name the check declared: keys the chart and the store
    title: str  # the chart's caption
    unit: str  # s | % | bytes | "" (a count)


def number(value):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def charted(value, of):
    """The number a trend charts of a recorded ``value``: ``of`` None (the value), a key, or a function of a dict
    value's numbers; None where there is none (nothing measured: a gap)."""
    try:
        if of is None:
            return number(value)
        if callable(of):
            return number(of(value.values() if isinstance(value, dict) else value))
        return number(value[of])
    except (TypeError, KeyError, ValueError, IndexError, AttributeError):
        return None


def declared(name, title, of, value, unit):
    """The trend as the outcome carries it: ``{"name", "title", "unit", "value"}``; a name that cannot key a
    chart raises ValueError (the check errors, naming it)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"trend name {name!r} is not a short stable name (lower-case letters, digits, '-')")
    threshold_unit = (unit or "").partition("|")[2] or unit
    return {"name": name, "title": title or name, "unit": CHART_UNITS.get(threshold_unit, ""),
            "value": charted(value, of)}


# --- entries written before trends were declared: mapped here only ------------------------------------------

@dataclasses.dataclass(frozen=True)
class Legacy:
    trend: Trend
    check: str  # the check id's last part it was recorded under (its function name, [param] where parametrized)
    pick: object  # the recorded value -> the number charted


LEGACY = (
    Legacy(Trend("health-response-time", "/health response time", "s"),
           "test_endpoint_answers_within_time[/health]", lambda v: v["total_s"]),
    Legacy(Trend("disk-use", "Disk use (fullest filesystem)", "%"),
           "test_filesystems_below_disk_threshold", lambda v: max(v.values())),
    Legacy(Trend("host-memory", "Host memory", "%"), "test_host_memory_below_threshold", lambda v: v),
    Legacy(Trend("container-memory", "Container memory", "bytes"), "test_container_memory_below_limit", lambda v: v),
    Legacy(Trend("container-memory-seen", "Memory in use, as the container sees it", "%"),
           "test_memory_available_in_container", lambda v: v["used_pct"]),
    Legacy(Trend("container-cpu", "Container CPU use", "%"),
           "test_load_in_container_below_threshold", lambda v: v["busy_pct_now"]),
    Legacy(Trend("time-to-healthy", "Time to healthy after a change", "s"),
           "test_app_healthy_after_change", lambda v: v["waited_s"]),
    Legacy(Trend("database-size", "Database size", "bytes"), "test_database_size_below_limit", lambda v: v),
    Legacy(Trend("recent-backups", "Recent backups", ""), "test_enough_recent_backups", lambda v: v),
)
LEGACY_BY_CHECK = {legacy.check: legacy for legacy in LEGACY}
LEGACY_BY_TITLE = {legacy.trend.title: legacy.trend for legacy in LEGACY}


def legacy_of(check_name):
    """The trend an entry of a results file written before trends were declared fed, by its check's name (the
    id's last part, without a fleet target and ``[local]``), or None."""
    return LEGACY_BY_CHECK.get(check_name) or LEGACY_BY_CHECK.get(check_name.split("[")[0])


def of_check(check, check_name):
    """(Trend, charted number) of a results file's check entry, or None where it feeds no trend: its declared
    ``"trend"``, or, in a file written before (no ``"trend"`` key), the trend its check fed then."""
    if "trend" in check:
        found = check["trend"]
        if not isinstance(found, dict) or not isinstance(found.get("name"), str):
            return None
        trend = Trend(found["name"], str(found.get("title") or found["name"]), str(found.get("unit") or ""))
        return trend, number(found.get("value"))
    legacy = legacy_of(check_name)
    if legacy is None:
        return None
    try:
        return legacy.trend, number(legacy.pick(check.get("value")))
    except (TypeError, KeyError, ValueError, AttributeError):
        return legacy.trend, None


def by_name(values):
    """A history line's or the state's ``{title or name: ...}`` keyed by trend names (a title of :data:`LEGACY`
    becomes its name; names stay)."""
    return {(LEGACY_BY_TITLE[key].name if key in LEGACY_BY_TITLE else key): found for key, found in values.items()}


def legacy_meta(names):
    """``{name: [title, unit]}`` of the legacy trends among ``names`` (entries that did not carry their own)."""
    return {legacy.trend.name: [legacy.trend.title, legacy.trend.unit] for legacy in LEGACY
            if legacy.trend.name in names}  # in the order the charts were always drawn


# --- collection: each trend name one check's ------------------------------------------------------------

DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")


def declared_in(path):
    """{function name: [trend name, or None where not a literal]} of the ``trend=`` keywords in a check module.
    Only the functions whose text holds ``trend=`` are parsed (a module whole would add ~20 ms to every run)."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, ValueError):
        return {}
    lines = source.splitlines()
    found, done = {}, set()
    for n, line in enumerate(lines):
        if "trend=" not in line:
            continue
        start = next((i for i in range(n, -1, -1) if DEF.match(lines[i])
                      and len(DEF.match(lines[i]).group(1)) < len(line) - len(line.lstrip())), None)
        if start is None or start in done:
            continue
        done.add(start)
        indent, name = DEF.match(lines[start]).groups()
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip()
                    and len(lines[i]) - len(lines[i].lstrip()) <= len(indent)), len(lines))
        try:
            tree = ast.parse("\n".join(text[len(indent):] for text in lines[start:end]))
        except SyntaxError:  # the cut was wrong (a string's lines at column 0): the function from the whole module
            tree = next((node for node in ast.walk(ast.parse(source)) if getattr(node, "lineno", 0) == start + 1
                         and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), ast.Module([], []))
        for node in ast.walk(tree):
            for keyword in node.keywords if isinstance(node, ast.Call) else ():
                if keyword.arg == "trend" and not (isinstance(keyword.value, ast.Constant)
                                                   and keyword.value.value is None):
                    names = literal_names(keyword.value)
                    found.setdefault(name, []).extend([None] if names is None else names)
    return found


def literal_names(expression):
    """The names a ``trend=`` expression can take where it is a literal or a choice between literals
    (``"health-response-time" if path == "/health" else None``); None where it is anything else."""
    if isinstance(expression, ast.Constant) and (expression.value is None or isinstance(expression.value, str)):
        return [expression.value] if expression.value is not None else []
    if isinstance(expression, ast.IfExp):
        body, orelse = literal_names(expression.body), literal_names(expression.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def clashes(items):
    """Lines naming every trend declared by more than one check, or not as a literal."""
    by_name, wrong, modules, seen = {}, [], {}, set()
    for item in items:
        function = getattr(item, "function", None)
        if function is None or (item.path, function.__name__) in seen:
            continue  # parametrized and fleet items of one check share its declaration
        seen.add((item.path, function.__name__))
        if item.path not in modules:
            modules[item.path] = declared_in(item.path)
        where = f"{item.nodeid.split('::')[0]}::{function.__name__}"
        for name in modules[item.path].get(function.__name__, []):
            if name is None:
                wrong.append(f"{where}: trend= is not a literal name (write it in the check.record call)")
            else:
                by_name.setdefault(name, []).append(where)
    wrong += [f"trend {name!r} is declared by {' and '.join(checks)}"
              for name, checks in by_name.items() if len(set(checks)) > 1]
    return wrong


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Refuse a trend name declared by two checks before -m deselects either: their values would share one chart."""
    wrong = clashes(items)
    if wrong:
        raise pytest.UsageError("each trend is one check's (its name keys the chart; rename one of them):\n  "
                                + "\n  ".join(wrong))
