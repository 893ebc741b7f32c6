"""Where each setting's value comes from, and whether it is valid: command line > environment (``DIGITALME_*``) >
``pytest.ini`` > the manual's default (plugins/configuration/settings.py declares them). Every bad value, and every
``DIGITALME_*`` variable or ``digitalme_*`` ini key naming no setting, is reported together as one usage error
(exit 4). No hooks: plugins/configuration/stage.py calls :func:`addoptions` and :func:`resolve`.
"""

import pytest

from plugins import adapters
from plugins.configuration.parsers import Invalid, closest, docker_url
from plugins.configuration.settings import BY_NAME, DECLARED, Settings
from plugins.secrets import MASK, without_url_credentials


def docker_host_variable(values, environ):
    """``DOCKER_HOST``, where it is what the checks use (no DIGITALME_DOCKER_HOST), held to the same rules: an
    ``ssh://`` path or an unknown scheme would otherwise be ignored silently. Its value may carry credentials: not
    shown."""
    if values.get("docker_host") or not environ.get("DOCKER_HOST", "").strip():
        return []
    try:
        docker_url(environ["DOCKER_HOST"])
    except Invalid as e:
        return [f"DOCKER_HOST (from environment, used as DIGITALME_DOCKER_HOST is empty): {e}"]
    return []


ENV_PREFIX, INI_PREFIX = "DIGITALME_", "digitalme_"


def not_a_setting(name, spell, source):
    """``name`` (a variable or key that names no setting) refused, with the setting it most likely means, spelt
    by ``spell(setting)`` as the operator would write it there."""
    meant = closest(name.upper().removeprefix(ENV_PREFIX).lower(), BY_NAME)
    hint = f"did you mean {spell(BY_NAME[meant])}?" if meant else "docs/reference/settings.md lists them all"
    return f"{name} is not a setting; {hint} (from {source})"


def unknown_names(config, environ):
    """A problem for every ``DIGITALME_*`` variable and ``digitalme_*`` ini key (in any case) that names no
    setting: pytest only warns of an unknown ini key, and an unknown variable it never sees, so a typo would
    leave its setting at the default without a word (a misspelt webhook: the first real failure unrouted).
    Values are never shown: the variable may hold a secret."""
    envs = {setting.env for setting in DECLARED}
    inis = {setting.ini for setting in DECLARED}
    overrides = {entry.partition("=")[0].strip() for entry in config.getoption("override_ini") or ()}
    problems = [not_a_setting(name, lambda s: s.env, "environment") for name in sorted(environ)
                if name.upper().startswith(ENV_PREFIX) and name not in envs]
    problems += [not_a_setting(key, lambda s: s.ini, "option -o" if key in overrides else config.inipath or "ini")
                 for key in sorted(adapters.ini_keys(config)) if key.lower().startswith(INI_PREFIX) and key not in inis]
    return problems


def addoptions(parser):
    group = parser.getgroup("digitalme", "DigitalMe operational checks")
    for setting in DECLARED:
        help_text = f"{setting.help} [env {setting.env}, ini {setting.ini}, default {setting.default!r}]"
        group.addoption(setting.option, dest=setting.dest, default=None, metavar="VALUE", help=help_text)
        parser.addini(setting.ini, setting.help, default=None)


def resolve(config, environ):
    """Resolve and validate every setting; raise pytest.UsageError naming every bad one."""
    values, sources, problems = {}, {}, []
    for setting in DECLARED:
        raw, source = setting.default, "default"
        ini_value = config.getini(setting.ini)
        if ini_value not in (None, ""):
            raw, source = ini_value, f"pytest.ini {setting.ini}"
        if setting.env in environ:
            raw, source = environ[setting.env], f"environment {setting.env}"
        if config.getoption(setting.dest) is not None:
            raw, source = config.getoption(setting.dest), f"option {setting.option}"
        try:
            values[setting.name] = setting.parse(raw)
        except Invalid as e:
            shown = MASK if setting.secret else repr(without_url_credentials(raw))
            problems.append(f"{setting.env}={shown} (from {source}): {e}")
        sources[setting.name] = source
    if not problems and values["cert_crit_days"] > values["cert_warn_days"]:
        problems.append(f"DIGITALME_CERT_CRIT_DAYS={values['cert_crit_days']} (from {sources['cert_crit_days']}): "
                        f"must not exceed DIGITALME_CERT_WARN_DAYS={values['cert_warn_days']}")
    problems += unknown_names(config, environ)
    problems += docker_host_variable(values, environ)
    if problems:
        raise pytest.UsageError("invalid DigitalMe setting" + ("s" if len(problems) > 1 else "") + ":\n  "
                                + "\n  ".join(problems))
    return Settings(values, sources)
