"""How far an intruder in the app would get: file permissions in the container, the container's privileges and
user, and how current the image and the host are.

Manual: the image runs as the non-root user ``digitalme``; Morning 4 ``docker exec digitalme-digitalme-1 ls -la
/app/data/``; deployment guide, ``docker-compose.production.yml`` (no privileged mode, no Docker socket);
Update Procedure (``docker-compose pull``, rebuild) and the host's own updates (``apt-get upgrade``).
"""

import datetime as dt
import re

import pytest

from plugins.severity import ProbeError

DOCKER_SOCKETS = ("docker.sock", "podman.sock", "containerd.sock")
APT_LISTS_MAX_AGE_DAYS = 7  # older package lists cannot tell which security updates are pending
# "Inst openssl [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/oldstable-security [amd64])"
APT_INST_LINE = re.compile(r"^Inst (?P<package>\S+)(?: \[(?P<installed>[^\]]*)\])? \((?P<candidate>[^)]*)\)")


@pytest.mark.warning
@pytest.mark.weekly
def test_data_files_not_world_readable(container_files, settings, check):
    """The database (with -wal/-shm) and every file in the backup folder are not readable by any user.

    Manual: Morning 4, `docker exec digitalme-digitalme-1 ls -la /app/data/` and `ls -la /app/backups/`
    (user data and its copies belong to the app's user only).
    """
    files = [f for f in container_files.files.values()
             if f.path.startswith(settings.db_path) or f.path.startswith(settings.backup_dir.rstrip("/") + "/")]
    if not files:
        pytest.fail(f"neither {settings.db_path} nor any file in {settings.backup_dir} was found in {settings.container}")
    exposed = [f for f in files if f.world_readable]
    check.record(len(exposed), 0)
    check.attach("ls -la (world-readable)", "\n".join(f.ls_line() for f in exposed[:20]))
    assert not exposed, (
        f"{len(exposed)} of {len(files)} data file(s) readable by any user in {settings.container} (expected 0): "
        + "; ".join(f"{f.mode:04o} {f.owner} {f.path}" for f in exposed[:5]) + ("; ..." if len(exposed) > 5 else ""))


@pytest.mark.critical
@pytest.mark.weekly
def test_container_not_privileged_and_no_docker_socket(app_container, settings, check):
    """The app container is not privileged and does not mount the Docker socket.

    Manual: deployment guide, `docker-compose.production.yml` (ports, volumes and certs only: a privileged
    container or the Docker socket hands the host to whoever takes over the app).
    """
    privileged = bool(app_container["HostConfig"].get("Privileged"))
    sockets = [f"{m.get('Source', '?')} -> {m.get('Destination', '?')}" for m in app_container.get("Mounts") or []
               if any(str(m.get(side, "")).endswith("/" + name) for side in ("Source", "Destination")
                      for name in DOCKER_SOCKETS)]
    check.record({"privileged": privileged, "docker socket mounts": sockets}, {"privileged": False, "docker socket mounts": []})
    problems = ([f"{settings.container} runs privileged (HostConfig.Privileged true, expected false)"] if privileged else []) \
        + ([f"{settings.container} mounts the Docker socket ({', '.join(sockets)}; expected no such mount)"] if sockets else [])
    assert not problems, "; ".join(problems)


@pytest.mark.warning
@pytest.mark.weekly
def test_app_runs_as_non_root(app_container, docker, settings, check):
    """The app runs as a non-root user (the container's Config.User and the uid of its PID 1).

    Manual: the image runs as the non-root user `digitalme` (aspnet:8.0 `USER`).
    """
    configured = app_container["Config"].get("User") or ""
    code, status, _ = docker.exec(settings.container, ["cat", "/proc/1/status"], f"reading PID 1 of {settings.container}")
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.MULTILINE) if code == 0 else None
    effective = int(uids.group(2)) if uids else None
    check.record({"Config.User": configured or "(image default: root)", "PID 1 uid": effective}, "not root (uid != 0)")
    if effective is not None:
        assert effective != 0, (
            f"PID 1 of {settings.container} runs as uid 0 (root; Config.User {configured or 'unset'!r}), expected a "
            f"non-root user")
    else:
        assert configured.split(":")[0] not in ("", "root", "0"), (
            f"{settings.container} runs as {configured or 'the default user'!r}: root (Config.User unset or root), "
            f"expected a non-root user")


@pytest.mark.warning
@pytest.mark.weekly
def test_image_not_older_than_max_age(app_container, docker, settings, check):
    """The running image was built no more than DIGITALME_IMAGE_MAX_AGE_DAYS ago.

    Manual: Update Procedure (`docker-compose pull`, `build --no-cache`): an old image carries old fixes.
    """
    image_id = app_container["Image"]
    image = docker.call(f"inspecting image {image_id[:19]}", docker.client.api.inspect_image, image_id)
    created = parse_docker_time(image["Created"])
    age_days = (dt.datetime.now(dt.timezone.utc) - created).total_seconds() / 86400
    name = app_container["Config"].get("Image") or image_id[:19]
    check.record(round(age_days, 6), settings.image_max_age_days)
    assert age_days <= settings.image_max_age_days, (
        f"image {name} ({image_id[7:19]}) was built {_days(age_days)} days ago "
        f"({created:%Y-%m-%d %H:%M} UTC) > {settings.image_max_age_days:g} days: rebuild or pull it")


@pytest.mark.warning
@pytest.mark.weekly
def test_no_pending_security_updates(host, check):
    """The host has no pending security updates (Debian/Ubuntu: `apt-get -s upgrade` installs nothing from -security).

    Manual: Weekly Maintenance, system updates (`apt-get update && apt-get upgrade`, security updates first).
    """
    result = host.run("command -v apt-get >/dev/null || { echo no-apt; exit 0; }; date +%s; "
                      "find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -printf '%T@\\n' 2>/dev/null "
                      "| sort -n | tail -n 1 | grep . || echo never; "
                      "LC_ALL=C apt-get -s -o Debug::NoLocking=1 upgrade 2>&1")
    if result.stdout.startswith("no-apt"):
        check.record("no apt-get", "Debian/Ubuntu")
        pytest.skip("the host has no apt-get (not Debian/Ubuntu): pending security updates cannot be judged here")
    now, newest, simulation = (result.stdout.split("\n", 2) + ["", ""])[:3]
    reason = apt_lists_too_old("" if newest == "never" else newest, float(now))
    if reason:
        check.record(reason, f"apt lists at most {APT_LISTS_MAX_AGE_DAYS} days old")
        pytest.skip(f"cannot judge: {reason}, run apt-get update")
    if result.rc != 0:
        raise ProbeError(f"apt-get -s upgrade on the host exited {result.rc}: {simulation.strip()[-200:]}")
    pending = security_updates(simulation)
    check.record(len(pending), 0)
    check.attach("pending security updates", "\n".join(f"{p} ({origin})" for p, origin in pending[:100]))
    assert not pending, (
        f"{len(pending)} pending security update(s) on the host > 0 (apt-get -s upgrade): "
        + ", ".join(p for p, _ in pending[:10]) + (", ..." if len(pending) > 10 else ""))


def security_updates(simulation):
    """(package, candidate origin) of each ``Inst`` line of ``apt-get -s upgrade`` coming from a -security suite."""
    found = []
    for line in simulation.splitlines():
        match = APT_INST_LINE.match(line)
        if match and re.search(r"-security\b|Security:", match.group("candidate"), re.IGNORECASE):
            found.append((match.group("package"), match.group("candidate")))
    return found


def apt_lists_too_old(newest, now):
    """Why the package lists cannot be trusted (never updated, or older than the limit), or "" when fresh."""
    if not newest:
        return "apt lists were never updated (/var/lib/apt/lists is empty)"
    age_days = (now - float(newest)) / 86400
    if age_days > APT_LISTS_MAX_AGE_DAYS:
        return f"apt lists are {age_days:.0f} days old (> {APT_LISTS_MAX_AGE_DAYS})"
    return ""


def parse_docker_time(text):
    """Docker's RFC 3339 time with nanoseconds (``2026-11-27T08:25:21.471101203Z``) as an aware datetime."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if not match:
        raise ProbeError(f"unreadable image creation time {text!r}")
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return dt.datetime.fromisoformat(f"{match.group(1)}.{fraction}{zone}")


def _days(days):
    """An age readable beside a whole-day threshold and beside a tiny one (0.00001 days)."""
    return f"{days:.1f}" if days >= 1 else f"{days:.3g}"
