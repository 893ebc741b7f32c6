"""Alerts: after a run, failed checks become alerts that arrive once, repeat sparingly, say when they are resolved
to everyone who was told, wait out the maintenance window, and are not lost when a receiver is down or slow.
The cycle (plan, hold, deliver, keep) and why: docs/design.md, "Alerts: the cycle".
"""

from plugins.outputs.alerting.cycle import send
from plugins.outputs.alerting.terminal import terminal_lines

__all__ = ["send", "terminal_lines"]  # what the end-of-run pipeline calls (plugins/pipeline.py)
