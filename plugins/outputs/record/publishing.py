"""The record's file, once pytest-html has written it (called by plugins/pipeline.py at the record's turn):
:func:`publish` scrubs it of the run's secrets (plugins/secrets.py) and opens it with its summary; :func:`withdraw`
removes the record of a run stopped by bad input; :func:`failed_writing` notes a folder pytest-html could not
write. ``config.stash[RECORD]`` is the file (ours, or the user's ``--html``); ``latest.html`` and the record's
SHA-256 are the history's (plugins/outputs/history/).
"""

import contextlib
import os
import re

import pytest

from plugins.configuration.settings import SETTINGS
from plugins.files import write_atomically
from plugins.outputs.results import REPORT_ERROR, report_failed
from plugins.secrets import scrub, secret_forms

RECORD = pytest.StashKey[str]()  # the HTML file this run writes (ours, or the user's --html)
# pytest-html's environment table, moved below the results table: the record opens with its summary
ENVIRONMENT = re.compile(r'\s*<div id="environment-header">.*?<table id="environment"></table>', re.S)


def publish(config):
    """Scrub the written report (``latest.html`` is then made a copy of it under the history's lock, with its
    SHA-256 kept for the chain: plugins/outputs/history/chain.py)."""
    if RECORD not in config.stash or REPORT_ERROR in config.stash:
        return
    path = config.stash[RECORD]
    if not os.path.exists(path):
        return  # pytest-html wrote nothing (the session broke before it finished)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cleaned = scrub(text, secret_forms(config.stash[SETTINGS].secrets()))
    scrubbed = cleaned != text
    cleaned = summary_first(cleaned)
    try:
        if cleaned != text:
            write_atomically(path, cleaned)
    except OSError as e:
        if scrubbed:
            with contextlib.suppress(OSError):
                os.unlink(path)  # never leave an unscrubbed record behind
        report_failed(config, e)


def summary_first(page):
    """The record with pytest-html's environment table after the results table: the status, the failing checks
    and the alerts come first, the run's context (target, host, settings) last. The table is still filled (by
    its id) and folds as before."""
    found = ENVIRONMENT.search(page)
    if found is None or "\n  <footer>" not in page:
        return page  # another pytest-html layout: left as it is
    page = page[:found.start()] + page[found.end():]
    return page.replace("\n  <footer>", found.group(0) + "\n  <footer>", 1)


def withdraw(config):
    """A run stopped by bad input at collection checked nothing: no record of it (pytest-html writes one as the
    session starts and ends; an empty dated record beside no results file would stand in the audit folder)."""
    if RECORD in config.stash:
        with contextlib.suppress(OSError):
            os.unlink(config.stash[RECORD])


def failed_writing(config, error):
    """pytest-html could not write the record (a folder filled during the run): noted for the run's one-line
    error; an OSError of a run without a record is not ours, and is raised again."""
    if RECORD not in config.stash:
        raise error
    report_failed(config, error)
