"""The TOML reader of the configuration's files (the targets file, the waivers file): one document, or the
file's problem handed to the caller's ``stop``. No hooks.
"""

def read_toml(path, stop):
    """The TOML document at ``path`` (a targets or waivers file); ``stop(problems)`` where it cannot be read or is
    not TOML (tomllib's message names the line and column)."""
    import tomllib  # here: a run without a targets or waivers file does not pay for it
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        stop([f"cannot be read: {e.strerror or e}"])
    except tomllib.TOMLDecodeError as e:
        stop([f"not valid TOML: {e}"])
