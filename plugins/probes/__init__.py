"""Probes: how the suite looks at the target (HTTP, Docker, files in the container, the host).

A probe that cannot look raises :class:`ProbeError`; every check depending on it ends as "could not be checked"
at its own severity, and the run goes on.
"""


class ProbeError(Exception):
    """The target could not be looked at (Docker down, host unreachable, command hung): not a finding."""
