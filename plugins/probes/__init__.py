"""Stage 2, the probes: how the suite looks at the target. Checks read the facts they return and assert; they probe nothing
themselves.

    declared         every probe the checks read, declared once: name (= its session fixture), fetch, what it reads
    registry         what a declaration gives: the fixture, the value fetched once per target, refused unknown names
    prefetch         the probes a run's checks need, started in background threads as pytest collects them
    background       the thread one prefetched probe runs in
    docker_clients   the Docker client of each target, one for the run

    http             the endpoints, as the manual's curl sees them (status, body, headers, timings)
    tls              the HTTPS endpoint: its certificate, the protocol versions it accepts
    certificate_files  certificate files in the container (PEM, PFX): the configured one, the newest they hold
    docker           containers, stats, logs, reclaimable space, image age and the id a tag names, PID 1's user
    docker_api       the local (and ssh-forwarded) Docker API through pycurl; docker_answers: its errors and streams
    docker_archive   files read or copied out of the container (archive API); docker_sdk: tcp:// hosts (the SDK)
    container_files  the database and backup files inside the container, by one stat exec
    inside           MemAvailable, the load average, the CPUs and their use, as the container sees them (one exec)
    sqlite           databases copied out of the container, read-only
    compose          the deployment's compose file: whether it validates, which services it declares
                     (compose_template: the variables a value names)
    logs             the app's log lines read as entries
    exposure         secrets in what the app answers (patterns of plugins/secrets.py)
    host             the host's memory, disks, load and CPU
    host_paths       where a file of the container lives on the host, and who can reach it there
    apt              the host's pending security updates
    env              the deployment's .env: mode, key names, value lengths, never a value
    ssh              ``ssh://alias`` hosts through the system ssh (one master connection per host)

A probe that cannot look raises :class:`ProbeError`; every check depending on it ends as "could not be checked"
at its own severity, and the run goes on.
"""


class ProbeError(Exception):
    """The target could not be looked at (Docker down, host unreachable, command hung): not a finding."""
