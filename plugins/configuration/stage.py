"""The configuration stage as pytest sees it: every setting's flag and ini key, and :func:`settle`, which settles
the configuration in its one order: the settings (plugins/configuration/resolve.py), then the targets
(plugins/configuration/targets.py), each stopping the run with a usage error (exit 4) before any check.

:func:`settle` is called once, first of the run's start, by the suite's one ``tryfirst`` ``pytest_configure``
(plugins/outcomes/build.py), so that every other plugin configures with the settings and targets known.
"""

import os

from plugins.configuration.resolve import addoptions, resolve
from plugins.configuration.settings import SETTINGS
from plugins.configuration.targets import configure_targets


def settle(config):
    """The settings, resolved and validated; then the targets, from the targets file or the settings."""
    config.stash[SETTINGS] = resolve(config, os.environ)
    configure_targets(config)


# --- hooks --------------------------------------------------------------------------------------

def pytest_addoption(parser):
    addoptions(parser)
