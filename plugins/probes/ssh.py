"""SSH as the ``ssh`` command does it: a Docker host ``ssh://alias`` reached by the system ``ssh`` itself.

OpenSSH reads the operator's ssh config (``~/.ssh/config`` and ``/etc/ssh/ssh_config``, or only the file of
``--ssh-config``, as ``ssh -F``): ``HostName``, ``Port``, ``User``, ``IdentityFile``, ``ProxyJump``, ``Match``,
the known-hosts files it names, the agent. Nothing here parses that config: ``ssh`` connects, and ``ssh -G``
says what an alias resolved to when a failure must name it. A port or user written in the URL wins over the
config, as ``ssh -p``/``-l`` do (the URL ``ssh://prod`` names neither: the config's apply).

One SSH connection per Docker host per run (:class:`DockerTunnel`): a master connection forwards a private local
socket to the remote Docker socket, and the suite's Docker client (pycurl, plugins/probes/docker_api.py) speaks to
that socket as to a local Docker. Forwarded channels are not sessions: sshd's MaxSessions (10) does not limit
the probes' concurrent calls.
"""

import atexit
import dataclasses
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

from plugins.probes import ProbeError

REMOTE_DOCKER_SOCKET = "/var/run/docker.sock"  # Docker's own default, where `docker system dial-stdio` connects
_RESOLVE_TIMEOUT_S = 5  # `ssh -G` reads files only, unless a Match exec runs a command


@dataclasses.dataclass(frozen=True)
class SshDestination:
    """What ``ssh`` is given: the name (an alias or a host), the user and port only where the URL names them, and
    the run's ``--ssh-config`` (``-F``) and ``--ssh-identity-file`` (``-i``)."""
    name: str
    user: str = None
    port: str = None
    config: str = None
    identity: str = None

    @classmethod
    def from_url(cls, url, config=None, identity=None):
        """``ssh://[user@]name[:port]``, as DOCKER_HOST names it."""
        parts = urllib.parse.urlsplit(url)
        return cls(parts.hostname or "", parts.username, str(parts.port) if parts.port else None,
                   os.path.expanduser(config) if config else None,
                   os.path.expanduser(identity) if identity else None)

    def options(self):
        """ssh's options for this destination, before the name."""
        options = ["-F", self.config] if self.config else []
        options += ["-l", self.user] if self.user else []
        options += ["-p", self.port] if self.port else []
        return options + (["-i", self.identity] if self.identity else [])

    def resolved(self):
        """``user@host:port`` as ssh resolves the name (``ssh -G``: config, Match blocks and all), with the jump
        host or proxy command it goes through; "" where ssh could not say."""
        try:
            done = subprocess.run(["ssh", "-G", *self.options(), "--", self.name], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=_RESOLVE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        if done.returncode != 0:
            return ""
        config = {}
        for line in done.stdout.splitlines():
            key, _, value = line.partition(" ")
            config.setdefault(key.lower(), value.strip())
        host = config.get("hostname", self.name)
        host = f"[{host}]" if ":" in host else host
        text = f"{config.get('user', '?')}@{host}:{config.get('port', '22')}"
        if config.get("proxyjump", "none") != "none":
            text += f" via {config['proxyjump']}"
        elif config.get("proxycommand", "none") != "none":
            text += f" via ProxyCommand {config['proxycommand']}"
        return text

    def described(self):
        """``prod resolves to ops@10.0.0.5:2222 via bastion``: what the operator named, and what ssh made of it."""
        resolved = self.resolved()
        return f"{self.name} resolves to {resolved}" if resolved else f"ssh could not resolve {self.name}"


def ssh_words(text, limit=300):
    """ssh's own error in one line: its last lines, without blank ones."""
    lines = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    return "; ".join(lines[-3:])[:limit]


class DockerTunnel:
    """One ``ssh`` master connection to the Docker host for the run, forwarding a private local socket (in a
    0700 folder: it is the Docker API of the production host) to its Docker socket. Closed when the run ends."""

    def __init__(self, destination, timeout_s, remote_socket=REMOTE_DOCKER_SOCKET):
        self.destination = destination
        self.timeout_s = timeout_s
        self.remote_socket = remote_socket
        self.folder = None
        self.process = None

    @property
    def log(self):
        return os.path.join(self.folder, "ssh.log")

    def ssh_said(self):
        """What ssh wrote to its stderr so far (its errors: LogLevel ERROR)."""
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return ssh_words(f.read())
        except (OSError, TypeError):
            return ""

    def open(self):
        """The local socket path of the remote Docker API, or a ProbeError in ssh's words naming what the
        destination resolved to. Waits no longer than the timeout: ssh's ConnectTimeout bounds each hop's
        connect and banner, this deadline the whole (jump hosts and authentication included)."""
        self.folder = tempfile.mkdtemp(prefix="digitalme-ssh-")  # mode 0700
        _OPEN.add(self)
        control = os.path.join(self.folder, "control")
        self._start_master(control)
        self._wait_for(control)
        local = os.path.join(self.folder, "docker.sock")
        self._forward(control, local)
        return local

    def _start_master(self, control):
        command = ["ssh", *self.destination.options(), "-M", "-S", control, "-N", "-T",
                   # Ours alone, in the foreground (a ControlPersist master would detach), with no forwarding
                   # of the config's own (LocalForward...): only the Docker socket, added below.
                   "-o", "ControlPersist=no", "-o", "ClearAllForwardings=yes",
                   "-o", "BatchMode=yes",  # no password or host-key prompt can be answered: fail instead
                   "-o", f"ConnectTimeout={max(1, math.ceil(self.timeout_s))}", "-o", "LogLevel=INFO",
                   "-o", "ServerAliveInterval=15", "--", self.destination.name]
        with open(self.log, "wb") as log:
            try:
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=log, start_new_session=True)  # Ctrl-C is the suite's
            except OSError as e:
                raise ProbeError(f"ssh could not be started ({e.strerror or e}): install openssh-client") from None

    def _wait_for(self, control):
        """Until the master's control socket exists (ssh makes it once connected and authenticated)."""
        # A second more than ssh's own ConnectTimeout: where ssh gives up on a silent host, its words say why.
        deadline = time.monotonic() + self.timeout_s + 1
        while not os.path.exists(control):
            if self.process.poll() is not None:
                said = self.ssh_said() or f"ssh exited {self.process.returncode}"
                self.close()
                raise ProbeError(f"{said} ({self.destination.described()})")
            if time.monotonic() > deadline:
                said = self.ssh_said()
                self.close()
                raise ProbeError(f"ssh did not connect within {self.timeout_s:g} s"
                                 f"{': ' + said if said else ''} ({self.destination.described()})")
            time.sleep(0.02)

    def _forward(self, control, local):
        done = subprocess.run(["ssh", *self.destination.options(), "-S", control, "-O", "forward",
                               "-L", f"{local}:{self.remote_socket}", "--", self.destination.name],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=max(5.0, self.timeout_s))
        if done.returncode != 0 or not os.path.exists(local):
            self.close()
            raise ProbeError(f"ssh could not forward {self.remote_socket}: {ssh_words(done.stderr) or 'no reason'} "
                             f"({self.destination.described()})")

    def close(self):
        """The master ended (its forwarded socket with it) and the private folder removed."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        _OPEN.discard(self)


class _Open:
    """The tunnels open in this process, closed at its exit (the run's end; an xdist worker's end)."""

    def __init__(self):
        self._tunnels, self._lock, self._registered = set(), threading.Lock(), False

    def add(self, tunnel):
        with self._lock:
            self._tunnels.add(tunnel)
            if not self._registered:
                atexit.register(self.close_all)
                self._registered = True

    def discard(self, tunnel):
        with self._lock:
            self._tunnels.discard(tunnel)

    def close_all(self):
        with self._lock:
            tunnels = list(self._tunnels)
        for tunnel in tunnels:
            tunnel.close()


_OPEN = _Open()
