"""Print the README's settings table from plugins/configuration/settings.py, so the two never disagree."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from plugins.configuration.settings import DECLARED  # noqa: E402


def table():
    rows = ["| environment variable | command line | default | meaning |", "|---|---|---|---|"]
    for s in DECLARED:
        default = f"`{s.default}`" if s.default else "(unset)"
        rows.append(f"| `{s.env}` | `{s.option}` | {default} | {s.help}{' Secret: never printed.' if s.secret else ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
