"""Markers: every check is ``critical`` or ``warning``, runs on at least one schedule and names its manual lines.

The markers are registered here, and a check without exactly one severity marker, at least one schedule marker
and one ``manual`` marker naming lines of the manual (plugins/configuration/manual.py) is a usage error at collection, before
``-m`` deselects it: nobody can add an unclassified or unexplained check, and none is silently never run. The rest
of the suite asks this module what a check declares (:func:`severity_of`, :func:`schedules_of`,
:func:`describe`) and which schedule runs (:func:`selection_of`).
"""

import re

import pytest

from plugins.configuration.manual import label_of, unknown
from plugins.configuration.parsers import size as parse_size
from plugins.configuration.schedules import SCHEDULES
from plugins.configuration.settings import BY_NAME
from plugins.units import size as shown_size

SEVERITIES = ("critical", "warning")  # worst first
RESPONSE = {"critical": "immediate response", "warning": "response within 1 hour"}
MANUAL = "manual"  # @pytest.mark.manual("Morning Health Check 2", "Critical Alerts: Health Check Failure")
LEVEL3 = "emergency"  # @pytest.mark.emergency("data loss"): a failure is the manual's Level 3 at once


def selection_of(config):
    """The run's ``-m`` expression (the schedule it runs), or ``all``."""
    return config.option.markexpr or "all"


def severity_of(item):
    """The check's declared severity: its severity marker's name."""
    return next((m.name for m in item.iter_markers() if m.name in SEVERITIES), "")


def schedules_of(item):
    """The schedules the check runs on, sorted."""
    return sorted({m.name for m in item.iter_markers() if m.name in SCHEDULES})


def level3_of(item):
    """The Level 3 kind a failure of the check is (the ``emergency`` marker's argument), or None."""
    marker = item.get_closest_marker(LEVEL3)
    return (marker.args[0] if marker.args else "emergency") if marker is not None else None


SETTING_FIELD = re.compile(r"\{([a-z][a-z0-9_]*)\}")  # "{backups_min}" in a docstring's first line


def manual_lines_of(item):
    """The manual lines the check enforces: its ``manual`` marker's arguments (none without one)."""
    return [reference for marker in item.iter_markers(MANUAL) for reference in marker.args]


def describe(item, settings=None):
    """(title, manual lines): the docstring's first line, and the ``manual`` marker's lines with their words
    (``Morning Health Check 2 (Verify application health)``). The title's ``{setting}`` fields are the target's
    values (``settings``), so it states what is required, not a name."""
    doc = (getattr(item, "obj", None).__doc__ or "").strip()
    lines = [line.strip() for line in doc.splitlines()]
    title = lines[0] if lines and lines[0] else item.name
    return with_values(title, settings), label_of(manual_lines_of(item))


def with_values(title, settings):
    """``At least {backups_min} backups`` -> ``At least 3 backups``, in the setting's human unit (a size as
    ``2.0 GiB``); without settings (none resolved) the manual's default. A field naming no setting stays."""
    def value(match):
        setting = BY_NAME.get(match.group(1))
        if setting is None:
            return match.group(0)
        found = getattr(settings, setting.name) if settings is not None else setting.parse(setting.default)
        if setting.parse is parse_size:
            return shown_size(found)
        return f"{found:g}" if isinstance(found, float) else str(found)  # as the messages print it: 7, 2.5, 1e-05
    return SETTING_FIELD.sub(value, title)


def unclassified(item):
    """Why ``item`` is not classified (a line naming its markers), or None when it is."""
    names = [m.name for m in item.iter_markers()]
    severities = sorted(set(n for n in names if n in SEVERITIES))
    schedules = sorted(set(n for n in names if n in SCHEDULES))
    if len(severities) == 1 and schedules:
        return None
    return f"{item.nodeid} (severity markers: {severities or 'none'}, schedule markers: {schedules or 'none'})"


def unexplained(item):
    """Why ``item`` names no line of the manual (a line saying what it names), or None when it names some."""
    markers = list(item.iter_markers(MANUAL))
    references = manual_lines_of(item)
    if len(markers) != 1 or not references:
        return f"{item.nodeid} ({len(markers)} manual markers, naming {references or 'no line'})"
    wrong = unknown(references)
    return f"{item.nodeid} names {', '.join(wrong)}, not a check line of the manual" if wrong else None


# --- hooks --------------------------------------------------------------------------------------

def pytest_configure(config):
    for severity, meaning in RESPONSE.items():
        config.addinivalue_line("markers", f"{severity}: a failure needs {meaning}")
    for schedule, meaning in SCHEDULES.items():
        config.addinivalue_line("markers", f"{schedule}: runs with {meaning}")
    config.addinivalue_line("markers", f"{MANUAL}(*lines): the manual's lines the check enforces, e.g. 'Morning "
                                       "Health Check 2' or 'Critical Alerts: Container Down' (plugins/configuration/manual.py)")
    config.addinivalue_line("markers", f"{LEVEL3}(kind): a failure goes to the Level 3 (emergency) route at once, "
                                       "e.g. 'data loss' or 'security incident'")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """"every check needs exactly one severity marker (critical or warning) and at least one schedule marker (…)"
    or "every check needs one manual marker naming the manual's lines it enforces, …", each followed by the checks
    that break it.

    Unclassified or unexplained checks are refused before -m deselects them, so none is silently never run; every
    wrong one at once."""
    rules = (("every check needs exactly one severity marker (critical or warning) and at least one schedule "
              "marker (" + ", ".join(SCHEDULES) + ")", unclassified),
             ("every check needs one manual marker naming the manual's lines it enforces, e.g. "
              '@pytest.mark.manual("Morning Health Check 2") (the lines: plugins/configuration/manual.py)', unexplained))
    broken = [(rule, [line for line in map(why, items) if line]) for rule, why in rules]
    if any(wrong for _rule, wrong in broken):
        raise pytest.UsageError("\n".join(f"{rule}:\n  " + "\n  ".join(wrong) for rule, wrong in broken if wrong))
