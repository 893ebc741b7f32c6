"""Sizes as the checks' messages print them."""


def mib(size, decimals=0):
    """Bytes in MiB: ``mib(3 * 1024**2)`` -> ``"3 MiB"``; ``mib(size, 1)`` -> ``"0.0 MiB"`` for a tiny one."""
    return f"{size / 1024**2:.{decimals}f} MiB"
