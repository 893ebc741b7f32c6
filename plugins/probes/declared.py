"""The probes the checks read, each declared once: its name (the function's, and its session fixture's), the
function that fetches it for a target, and the probes it reads (plugins/probes/registry.py).

Adding a probe is one declaration here. Each fetches its value once per target; the slow ones start in background
threads as soon as a collected check uses their fixture (plugins/probes/prefetch.py). A probe that cannot reach the
target raises ProbeError, so each check depending on it ends as "could not be checked" at its own severity.
"""

from plugins.probes import ProbeError
from plugins.probes.docker_clients import docker_probe
from plugins.probes.registry import Registry

PROBES = Registry()


@PROBES.probe()
def endpoints(config, target):
    """Every endpoint's answer (status, body, headers, curl-style timings), all fetched concurrently."""
    from plugins.probes.http import Endpoints
    return Endpoints(target.settings)


@PROBES.probe(background=False)  # cheap: the client is made on first use
def docker(config, target):
    """The target's one Docker client, behind a probe that turns failures into ProbeError."""
    return docker_probe(config, target)


@PROBES.probe()
def app_container(config, target):
    """``docker inspect`` of the app container, started in the background."""
    return docker_probe(config, target).inspect(target.settings.container)


@PROBES.probe()
def container_exec(config, target):
    """The one exec in the app container that both container_files and inside_container read (their answers)."""
    from plugins.probes.container_exec import read_both
    settings = target.settings
    return read_both(docker_probe(config, target), settings.container, settings.db_path, settings.backup_dir)


@PROBES.probe(reads=("container_exec",))
def container_files(config, target):
    """``stat`` of the database (with -wal/-shm) and of every file in the backup folder, in one exec."""
    from plugins.probes.container_files import list_files
    settings = target.settings
    answer = PROBES.fetched(config, target, "container_exec")[0]
    return list_files(docker_probe(config, target), settings.container, settings.db_path, settings.backup_dir, answer)


@PROBES.probe()
def inside_container(config, target):
    """MemAvailable, the load average, its CPUs and a 0.25 s sample of its CPU use, as the app container sees them."""
    # With CPU counters from a recent run (no sample) it reads the exec container_files reads too: one exec less
    from plugins.probes.host import KeptCounters
    from plugins.probes.inside import read_inside
    settings = target.settings
    kept = KeptCounters(settings.report_dir, "container", settings.container, target.name)
    shared = lambda: PROBES.fetched(config, target, "container_exec")[1]  # noqa: E731
    return read_inside(docker_probe(config, target), settings.container, kept, shared)


@PROBES.probe(reads=("inside_container",))
def container_memory(config, target):
    """(memory in use, limit) of the app container, as ``docker stats --no-stream`` shows it."""
    # From its cgroup, read in the inside-the-container exec (no wait); `docker stats` only where that could not be
    # read
    try:
        memory = PROBES.fetched(config, target, "inside_container").memory
    except ProbeError:
        memory = None  # docker stats says why, in its own words
    return memory or docker_probe(config, target).memory_usage(target.settings.container)


@PROBES.probe()
def compose_services(config, target):
    """The services the deployment's compose file declares (``docker compose config --services``), or why not known."""
    # Found from the configured file or the containers' label; compose's answer kept in the report folder's state
    # for runs with the same inputs (per target)
    from plugins.files import state_path
    from plugins.probes.compose import declared_services
    settings = target.settings
    kept = state_path(settings.report_dir, "compose-services", target.name) if settings.report_dir else None
    project = docker_probe(config, target).project_containers(settings.compose_project)
    return declared_services(settings.compose_file, project, kept)


@PROBES.probe(on_hosts=True)
def host_facts_by_host(config, target):
    """Memory, disks, load and a CPU sample of every checked host (one command each), started in the background."""
    from plugins.configuration.targets import checked_hosts
    return host_facts_of(checked_hosts(config, target), target.settings.report_dir, target.name)


def host_facts_of(hosts, report_dir=None, target=None):
    """pytest id of each host -> its HostFacts, or the ProbeError that stopped reading it. Each host's CPU
    counters are kept in ``report_dir`` for the next run (per target)."""
    from plugins.probes.host import HostFacts, KeptCounters
    facts = {}
    for host in hosts:
        kept = KeptCounters(report_dir, "host", host.backend.get_pytest_id(), target) if report_dir else None
        try:
            facts[host.backend.get_pytest_id()] = HostFacts(host, kept)
        except ProbeError as e:
            facts[host.backend.get_pytest_id()] = e
    return facts


@PROBES.probe()
def tls(config, target):
    """The TLS probe of the HTTPS URL with the certificate it serves fetched (its ProbeError kept for the checks
    that ask); None where there is no HTTPS URL (the security checks' own ``tls`` fixture skips)."""
    settings = target.settings
    if not settings.https_url:
        return None
    from plugins.probes.tls import TlsProbe, https_address
    probe = TlsProbe(*https_address(settings.https_url), settings.connect_timeout_s + settings.read_timeout_s)
    try:
        probe.certificate()
    except ProbeError:
        pass  # kept by the probe: the checks asking for this certificate get the same error
    return probe


@PROBES.probe(reads=("app_container",), on_hosts=True)
def certificate_on_disk_by_host(config, target):
    """pytest id of each of the target's hosts -> the certificate file the app is configured with, read from the
    container (plugins/probes/certificate_files.py ``certificate_file``), or the ProbeError that stopped reading it."""
    from plugins.configuration.targets import checked_hosts
    from plugins.probes.certificate_files import certificate_file
    found = {}
    for host in checked_hosts(config, target):
        try:
            inspected = PROBES.fetched(config, target, "app_container")
            found[host.backend.get_pytest_id()] = certificate_file(docker_probe(config, target), inspected, host,
                                                                   target.settings)
        except ProbeError as e:
            found[host.backend.get_pytest_id()] = e
    return found
