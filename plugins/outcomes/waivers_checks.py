"""Every waiver names a check of the suite: one naming none (a typo, a renamed or removed check) is a problem, with a
did-you-mean, found before any check runs (plugins/outcomes/waivers.py stops the run with it, exit 4). No hooks.
"""

import ast

import pytest

from plugins.configuration.parsers import closest
from plugins.configuration.targets import target_of, without_target


def functions_in(path):
    """The check functions (``test_*``) a module defines, by reading it (not importing it); empty when it cannot
    be read."""
    if path.suffix != ".py":
        return set()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def whole_suite_collected(config):
    """Whether collection saw every check of the suite (its test paths, nothing ignored, no ``--lf`` skipping
    modules), so that a check's parameters can be told too."""
    option = config.option
    return config.args_source is pytest.Config.ArgsSource.TESTPATHS and not option.ignore \
        and not option.ignore_glob and not getattr(option, "lf", False)


def unknown_checks(config, items, waivers):
    """The problems of the waivers that name no check of the suite, each with a did-you-mean."""
    known = {without_target(item.nodeid, target_of(item)) for item in items}
    whole = whole_suite_collected(config)
    problems = []
    for waiver in waivers:
        if any(waiver.names(check_id, waiver.target) for check_id in known):
            continue
        module, _, function = waiver.check.partition("::")
        defined = set() if whole else {f"{module}::{name}" for name in functions_in(config.rootpath / module)}
        if f"{module}::{function.rstrip('*').split('[')[0]}" in defined:
            continue  # outside the checks named on the command line: its module defines it (parameters unknown)
        close = closest(waiver.check.rstrip("*"), sorted(known | defined))
        hint = (f" (did you mean {close}?)" if close else
                f" (no close match among the {len(known)} checks collected)")
        problems.append(f"waiver {waiver.number}: check = {waiver.check!r}: names no check of the suite{hint}")
    return problems


def suite_modules(config):
    """The suite's check modules (``tests_health/test_endpoints.py`` ...), under its test paths."""
    paths = config.getini("testpaths") or ["."]
    return sorted(str(found.relative_to(config.rootpath)) for folder in paths
                  for found in (config.rootpath / folder).rglob("test_*.py"))


def undefined_checks(config, waivers):
    """Where the checks are collected by pytest-xdist's workers, not here: the problems of the waivers whose
    module does not define their check's function (read, not imported), each with a did-you-mean. The workers
    cannot stop the run with a usage error (pytest-xdist reports it as a crash), so a check's parameters are not
    told apart under ``-n``."""
    modules = suite_modules(config)
    problems = []
    for waiver in waivers:
        module, _, function = waiver.check.partition("::")
        name = function.rstrip("*").split("[")[0]
        defined = functions_in(config.rootpath / module)
        if name in defined:
            continue
        close = closest(name, sorted(defined))
        close = f"{module}::{close}" if close else closest(module, modules)
        hint = f" (did you mean {close}?)" if close else ""
        problems.append(f"waiver {waiver.number}: check = {waiver.check!r}: names no check of the suite{hint}")
    return problems

