"""The deployment's secrets at rest: the ``.env`` beside ``docker-compose.production.yml`` on the host.

The deployment guide's ``.env`` with ``ANTHROPIC_API_KEY`` (``sk-ant-...``) and ``JWT_KEY`` (longer than 32
characters), ``chmod 600 .env``. The file is summarised on the host (key names and value lengths only): no value
is read into the suite, so none can be printed.
"""

import pytest

REQUIRED_KEYS = ("ANTHROPIC_API_KEY", "JWT_KEY")
JWT_KEY_MIN_LENGTH = 33  # "longer than 32 characters"


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Deployment Guide: Environment configuration")
def test_env_file_protected_and_complete(deployment_env, check):
    """The deployment's .env is not readable by others, sets ANTHROPIC_API_KEY and JWT_KEY, and JWT_KEY is longer
    than 32 characters (values never printed).

    The deployment guide's `.env`, `chmod 600`); JWT_KEY longer than 32 characters.
    """
    env = deployment_env
    if not env.exists:
        check.record("absent", "present, mode without o+r")
        pytest.fail(f"{env.path} (DIGITALME_ENV_FILE) does not exist on the host (required: present, not readable "
                    f"by others)")
    jwt_length = env.key_lengths.get("JWT_KEY", 0)
    check.record({"mode": f"{env.mode:04o}", "owner": env.owner, "keys set": sorted(k for k, n in env.key_lengths.items() if n),
                  "JWT_KEY length": jwt_length},
                 {"mode": "no o+r", "keys set": list(REQUIRED_KEYS), "JWT_KEY length": f">= {JWT_KEY_MIN_LENGTH}"})
    problems, required = [], []
    if env.readable_by_others:
        problems.append(f"{env.path} is mode {env.mode:04o} (owner {env.owner}): readable by others")
        required.append("no o+r, e.g. 0600")
    if not env.readable:
        if problems:
            pytest.fail(f"{'; '.join(problems)} (required: {'; '.join(required)})")
        pytest.skip(f"{env.path} is mode {env.mode:04o}, owner {env.owner}: its keys cannot be read by this user")
    missing = [key for key in REQUIRED_KEYS if not env.key_lengths.get(key)]
    if missing:
        problems.append(f"{', '.join(missing)} not set in {env.path}")
        required.append(f"{' and '.join(REQUIRED_KEYS)} set")
    if "JWT_KEY" not in missing and jwt_length < JWT_KEY_MIN_LENGTH:
        problems.append(f"JWT_KEY is {jwt_length} characters long")
        required.append("JWT_KEY longer than 32 characters")
    assert not problems, f"{'; '.join(problems)} (required: {'; '.join(required)})"
