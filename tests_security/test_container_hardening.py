"""How far an intruder in the app would get: file permissions in the container, the container's privileges and
user, and how current the image and the host are.

Each check's ``manual`` marker names its lines: Morning Health Check 4 and 5 (``ls -la /app/data/``), Weekly
Maintenance 3 (``docker-compose pull``, the host's ``apt-get upgrade``), and the deployment guide's compose file
(no privileged mode, no Docker socket) and non-root user ``digitalme``.
"""

import pytest

from plugins.probes import ProbeError
from plugins.probes.apt import APT_LISTS_MAX_AGE_DAYS, pending_updates
from plugins.probes.host_paths import reachable_on_host

DOCKER_SOCKETS = ("docker.sock", "podman.sock", "containerd.sock")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Morning Health Check 4", "Morning Health Check 5")
def test_data_files_not_exposed(container_files, app_container, host, settings, check):
    """No data file is writable by group or others, nor readable by other users of the host.

    The manual's `docker exec digitalme-digitalme-1 ls -la /app/data/` and `ls -la /app/backups/`
    (user data and its copies belong to the app's user only). A 0644 file (ASP.NET images run with umask 022)
    exposes data only where others reach it: in a bind mount whose host folders are all open to others (o+x).
    Named volumes live under Docker's data root (/var/lib/docker, 0710 root), where other users cannot go.
    """
    database = [container_files.get(settings.db_path + suffix) for suffix in ("", "-wal", "-shm")]
    files = [f for f in database if f] + container_files.in_folder(settings.backup_dir)
    if not files:
        pytest.fail(f"neither {settings.db_path} nor any file in {settings.backup_dir} was found in "
                    f"{settings.container} (required: the data files, none exposed)")
    writable = [f for f in files if f.mode & 0o022]
    reachable = reachable_on_host(host, app_container, [f for f in files if f.world_readable])
    check.record({"writable by group/others": [f.path for f in writable],
                  "readable by other host users": {f.path: at for f, at in reachable}}, "none")
    check.attach("ls -la (exposed)", "\n".join([f.ls_line() for f in writable]
                                               + [f"{f.ls_line()}  (host: {at})" for f, at in reachable]))
    problems = []
    if writable:
        problems.append(f"{len(writable)} of {len(files)} data file(s) writable by group or others in "
                        f"{settings.container}: "
                        + "; ".join(f"{f.mode:04o} {f.owner} {f.path}" for f in writable[:5])
                        + ("; ..." if len(writable) > 5 else ""))
    if reachable:
        problems.append(f"{len(reachable)} of {len(files)} data file(s) readable by any user of the host (o+r, and "
                        f"every folder above open to others, o+x): "
                        + "; ".join(f"{f.mode:04o} {f.path} at {at}" for f, at in reachable[:5])
                        + ("; ..." if len(reachable) > 5 else ""))
    assert not problems, ("; ".join(problems)
                          + " (required: none writable by group or others, none readable by other users)")


@pytest.mark.critical
@pytest.mark.emergency("security incident")
@pytest.mark.weekly
@pytest.mark.manual("Deployment Guide: Compose file")
def test_container_not_privileged_and_no_docker_socket(app_container, settings, check):
    """The app container is not privileged and does not mount the Docker socket.

    The deployment guide's `docker-compose.production.yml` (ports, volumes and certs only: a privileged
    container or the Docker socket hands the host to whoever takes over the app).
    """
    privileged = bool(app_container["HostConfig"].get("Privileged"))
    sockets = [f"{m.get('Source', '?')} -> {m.get('Destination', '?')}" for m in app_container.get("Mounts") or []
               if any(str(m.get(side, "")).endswith("/" + name) for side in ("Source", "Destination")
                      for name in DOCKER_SOCKETS)]
    check.record({"privileged": privileged, "docker socket mounts": sockets}, {"privileged": False, "docker socket mounts": []})
    problems = ([f"{settings.container} runs privileged (HostConfig.Privileged true)"] if privileged else []) \
        + ([f"{settings.container} mounts the Docker socket ({', '.join(sockets)})"] if sockets else [])
    assert not problems, "; ".join(problems) + " (required: not privileged, no Docker socket mounted)"


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Deployment Guide: Non-root user")
def test_app_runs_as_non_root(app_container, docker, settings, check):
    """The app runs as a non-root user (the container's Config.User and the uid of its PID 1).

    The deployment guide: the image runs as the non-root user `digitalme` (aspnet:8.0 `USER`).
    """
    configured = app_container["Config"].get("User") or ""
    effective = docker.pid1_uid(settings.container)  # None where /proc/1/status could not be read
    check.record({"Config.User": configured or "(image default: root)", "PID 1 uid": effective}, "not root (uid != 0)")
    if effective is not None:
        assert effective != 0, (
            f"PID 1 of {settings.container} runs as uid 0 (root; Config.User {configured or 'unset'!r}) "
            f"(required: a non-root user)")
    else:
        assert configured.split(":")[0] not in ("", "root", "0"), (
            f"{settings.container} runs as {configured or 'the default user'!r}: root (Config.User unset or root) "
            f"(required: a non-root user)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 3")
def test_image_not_older_than_max_age(app_container, docker, settings, check):
    """The running image was built no more than {image_max_age_days} days ago.

    The manual's `docker-compose pull` (the deployment guide's Update Procedure: `build --no-cache`): an old
    image carries old fixes.
    """
    image_id = app_container["Image"]
    age = docker.image_age(image_id)
    name = app_container["Config"].get("Image") or image_id[:19]
    check.record(round(age.days, 6), settings.image_max_age_days, unit="days")
    assert age.days <= settings.image_max_age_days, (
        f"image {name} ({image_id[7:19]}) was built {_days(age.days)} days ago "
        f"({age.created:%Y-%m-%d %H:%M} UTC): rebuild or pull it (required: at most {settings.image_max_age_days:g} "
        f"days ago)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 3")
def test_running_image_is_the_pulled_one(app_container, docker, check):
    """The app container runs the image its image reference (Config.Image) names now: no `up -d` is pending.

    The manual's `docker-compose pull` then `docker-compose up -d` (pulled without `up -d`, a newer image
    sits under the tag while the container runs the old one).
    """
    running = app_container["Image"]
    reference = app_container["Config"].get("Image") or running
    named = docker.image_id(reference)
    if named is None:
        # Nothing to compare with: the tag was removed (`docker image rm`, a prune of an untagged pull).
        raise ProbeError(f"image reference {reference} of {app_container['Name'].lstrip('/')} names no image on "
                         f"the Docker host now (removed or untagged): `docker-compose pull` fetches it again")
    check.record({"running": running[7:19], reference: named[7:19]}, "the same image")
    assert running == named, (
        f"{app_container['Name'].lstrip('/')} runs image {running[7:19]} but {reference} names {named[7:19]} now "
        f"(pulled or rebuilt since the container was created): `docker-compose up -d` is pending (required: the "
        f"image {reference} names)")


@pytest.mark.warning
@pytest.mark.weekly
@pytest.mark.manual("Weekly Maintenance 3")
def test_no_pending_security_updates(host, check):
    """The host has no pending security updates (held-back ones included), and its apt lists are at most 7 days old.

    The manual's system updates (`apt-get update && apt-get upgrade`, security updates first).
    Simulated with `apt-get -s dist-upgrade`: `upgrade` keeps back what needs a new package (a kernel update).
    """
    updates = pending_updates(host)
    if not updates.has_apt:
        check.record("no apt-get", "Debian/Ubuntu")
        pytest.skip("the host has no apt-get (not Debian/Ubuntu): pending security updates cannot be judged here")
    if updates.lists_too_old:
        # Old lists cannot show this week's security updates: that is the finding (the weekly update is not run).
        check.record(updates.lists_too_old, f"apt lists at most {APT_LISTS_MAX_AGE_DAYS} days old")
        pytest.fail(f"{updates.lists_too_old}: the weekly apt-get update is not running; pending security updates "
                    f"cannot be known (required: apt lists at most {APT_LISTS_MAX_AGE_DAYS} days old)")
    pending = updates.security
    check.attach("pending security updates", "\n".join(f"{p} ({origin})" for p, origin in pending[:100]))
    check.record(len(pending), 0)
    assert not pending, (
        f"{len(pending)} pending security update(s) on the host (apt-get -s dist-upgrade): "
        + ", ".join(p for p, _ in pending[:10]) + (", ..." if len(pending) > 10 else "") + " (required: none)")


def _days(days):
    """An age readable beside a whole-day threshold and beside a tiny one (0.00001 days)."""
    return f"{days:.1f}" if days >= 1 else f"{days:.3g}"
