"""Where a file in the container lives on the host, and whether other users of the host can reach it there.

A world-readable file (o+r) exposes data only where others can walk to it: every folder above it on the host
open to others (o+x). Read through testinfra's ``host``, which must be the Docker host; one ``stat`` command
looks at every folder above all the files.
"""

import shlex

from plugins.probes import ProbeError
from plugins.probes.host import run_on


def host_path(container, path):
    """(host path of a file in the container, what holds it), or (None, why) where it has none on a disk."""
    mounts = sorted(container.get("Mounts") or [], key=lambda m: len(m.get("Destination", "")), reverse=True)
    for mount in mounts:
        destination = mount.get("Destination", "").rstrip("/")
        if path == destination or path.startswith(destination + "/"):
            if not mount.get("Source"):
                return None, f"{mount.get('Type', '?')} mount"
            return mount["Source"].rstrip("/") + path[len(destination):], f"{mount.get('Type', '?')} mount"
    upper = ((container.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir")
    return (upper.rstrip("/") + path, "container layer") if upper else (None, "container layer")


def reachable_on_host(host, container, readable):
    """(file, host path) of each world-readable file that other host users can reach: every folder above it o+x.

    One command on the host (testinfra's ``host``, which must be the Docker host) stats every folder above them.
    """
    located = [(f, *host_path(container, f.path)) for f in readable]
    located = [(f, at, kind) for f, at, kind in located if at]
    folders = sorted({folder for _, at, _ in located for folder in ancestors(at)})
    if not folders:
        return []
    result = run_on(host, "stat -L -c '%a|%n' -- " + " ".join(shlex.quote(f) for f in folders))
    modes = {}
    for line in result.stdout.splitlines():
        mode, _, name = line.partition("|")
        modes[name] = int(mode, 8)
    found = []
    for f, at, kind in located:
        for folder in ancestors(at):
            if folder not in modes:  # every folder above was open, yet this one cannot be seen: not this host's
                raise ProbeError(f"{folder} (above {at}, the {kind} holding {f.path}) cannot be looked at on host "
                                 f"{host.backend.get_pytest_id()}: {result.stderr.strip()[:200] or 'not found'} "
                                 f"(--hosts must name the Docker host)")
            if not modes[folder] & 0o001:
                break  # others cannot pass this folder
        else:
            found.append((f, f"{at} ({kind})"))
    return found


def ancestors(path):
    """Every folder above a file, from the root down: ``/a/b/c.db`` -> ``/``, ``/a``, ``/a/b``."""
    parts = path.strip("/").split("/")[:-1]
    return ["/"] + ["/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1)]
