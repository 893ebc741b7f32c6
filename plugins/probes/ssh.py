"""SSH as the ``ssh`` command does it: a Docker host ``ssh://alias`` reached by the system ``ssh`` itself.

OpenSSH reads the operator's ssh config (``~/.ssh/config`` and ``/etc/ssh/ssh_config``, or only the file of
``--ssh-config``, as ``ssh -F``): ``HostName``, ``Port``, ``User``, ``IdentityFile``, ``ProxyJump``, ``Match``,
the known-hosts files it names, the agent. Nothing here parses that config: ``ssh`` connects, and ``ssh -G``
says what an alias resolved to when a failure must name it. A port or user written in the URL wins over the
config, as ``ssh -p``/``-l`` do (the URL ``ssh://prod`` names neither: the config's apply).

One SSH connection per destination per run (:class:`Master`): through it a local socket is forwarded to the
remote Docker socket (:class:`DockerTunnel`), and the suite's Docker client (pycurl, plugins/probes/docker_api.py)
speaks to that socket as to a local Docker; forwarded channels are not sessions, so sshd's MaxSessions (10) does
not limit the probes' concurrent calls. testinfra's ssh commands to the same destination run over the same
master (:func:`share_connection`). A destination that cannot be reached is tried once per run.
"""

import atexit
import contextlib
import dataclasses
import hashlib
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import weakref

from plugins import adapters
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

    def control_name(self):
        """The name of this destination's control socket: one master per destination as given (an alias and its
        options), not per resolved user@host:port, which two aliases may share over different routes (a jump
        host, a key, a known-hosts file)."""
        return hashlib.sha256(repr(dataclasses.astuple(self)).encode()).hexdigest()[:24]

    def options(self):
        """ssh's options for this destination, before the name."""
        options = ["-F", self.config] if self.config else []
        options += ["-l", self.user] if self.user else []
        options += ["-p", self.port] if self.port else []
        return options + (["-i", self.identity] if self.identity else [])

    def effective_config(self, *extra):
        """ssh's effective configuration for the name (``ssh -G``: config, Match blocks and all), {lower-case
        keyword: value}; {} where ssh could not say."""
        try:
            done = subprocess.run(["ssh", "-G", *self.options(), *extra, "--", self.name], capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, timeout=_RESOLVE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        config = {}
        for line in done.stdout.splitlines() if done.returncode == 0 else ():
            key, _, value = line.partition(" ")
            config.setdefault(key.lower(), value.strip())
        return config

    def resolved(self):
        """``user@host:port`` as ssh resolves the name, with the jump host or proxy command it goes through; ""
        where ssh could not say."""
        config = self.effective_config()
        if not config:
            return ""
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


class Master:
    """This run's one master connection to a destination (``ssh -M``, in the foreground, ended with the run), at
    a control socket of the run's private folder; Docker's tunnel and testinfra's commands go through it."""

    def __init__(self, destination, control, timeout_s):
        self.destination, self.control, self.timeout_s = destination, control, timeout_s
        self.log = f"{control}.log"
        self.process = None
        self.error = None  # the ProbeError of a failed connection: not tried again in this run

    def ssh_said(self):
        """What ssh wrote to its stderr so far (its errors and refused channels: LogLevel INFO)."""
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return ssh_words(f.read())
        except OSError:
            return ""

    def connect(self):
        """Connected (the control socket is there), or a ProbeError in ssh's words. Waits no longer than the
        timeout: ssh's ConnectTimeout bounds each hop's connect and banner, this deadline the whole (jump hosts
        and authentication included)."""
        if self.error is None and (self.process is None or self.process.poll() is not None):
            try:
                self._start()
                self._wait()
            except ProbeError as e:
                self.error = e
        if self.error is not None:
            raise ProbeError(str(self.error)) from None

    def _start(self):
        command = ["ssh", *self.destination.options(), "-M", "-S", self.control, "-N", "-T",
                   # In the foreground (a ControlPersist master would detach), with none of the config's own
                   # forwardings (LocalForward...): only the Docker socket, asked for by the tunnel.
                   "-o", "ControlPersist=no", "-o", "ClearAllForwardings=yes",
                   "-o", "BatchMode=yes",  # no password or host-key prompt can be answered: fail instead
                   "-o", f"ConnectTimeout={max(1, math.ceil(self.timeout_s))}", "-o", "LogLevel=INFO",
                   "-o", "ServerAliveInterval=15", "--", self.destination.name]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.control)  # a master that died without removing it: its socket answers nobody
        with open(self.log, "wb") as log:
            try:
                # In the suite's process group: a Ctrl-C or a hangup that ends the run ends the master too.
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=log)
            except OSError as e:
                raise ProbeError(f"ssh could not be started ({e.strerror or e}): install openssh-client") from None

    def _wait(self):
        """Until the control socket exists (ssh makes it once connected and authenticated)."""
        # A second more than ssh's own ConnectTimeout: where ssh gives up on a silent host, its words say why.
        deadline = time.monotonic() + self.timeout_s + 1
        while not os.path.exists(self.control):
            if self.process.poll() is not None:
                raise ProbeError(self.ssh_said() or f"ssh exited {self.process.returncode}")
            if time.monotonic() > deadline:
                said = self.ssh_said()
                self.close()
                raise ProbeError(f"ssh did not connect within {self.timeout_s:g} s{': ' + said if said else ''}")
            time.sleep(0.02)

    def close(self):
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


class _Masters:
    """The run's masters, one per destination (:meth:`SshDestination.control_name`), in a private folder
    (0700: a master there is the production host's shell and Docker API) made on first use; ended and removed at
    the process's exit (the run's end; an xdist worker's end)."""

    def __init__(self):
        self._folder, self._masters, self._lock, self._registered = None, {}, threading.Lock(), False
        self._turns = {}  # control socket -> its lock: one connection attempt at a time per destination

    def folder(self):
        with self._lock:
            if self._folder is None:
                # Short: a unix socket's path has at most 107 bytes (the name takes 24, ".docker.sock" 12).
                self._folder = tempfile.mkdtemp(prefix="dm-ssh-", dir="/tmp" if os.path.isdir("/tmp") else None)
                if not self._registered:
                    atexit.register(self.close)
                    self._registered = True
            return self._folder

    def connected(self, destination, timeout_s):
        """The control socket of the destination's master, connected, or a ProbeError in ssh's words."""
        control = os.path.join(self.folder(), destination.control_name())
        with self._lock:
            turn = self._turns.setdefault(control, threading.Lock())
        with turn:
            with self._lock:
                master = self._masters.setdefault(control, Master(destination, control, timeout_s))
            master.connect()
        return master

    def close(self):
        with self._lock:
            masters, folder = list(self._masters.values()), self._folder
            self._masters, self._turns, self._folder = {}, {}, None
        for master in masters:
            master.close()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


_MASTERS = _Masters()
_SHARED = weakref.WeakSet()  # testinfra backends already sharing a master (testinfra caches its hosts)


def close_all():
    """Every master of this process ended and the private folder removed (the run's end: pytest_unconfigure; an
    xdist worker may end without running atexit)."""
    _MASTERS.close()


class DockerTunnel:
    """The Docker host's socket forwarded to a private local socket over the destination's master connection."""

    def __init__(self, destination, timeout_s, remote_socket=REMOTE_DOCKER_SOCKET):
        self.destination = destination
        self.timeout_s = timeout_s
        self.remote_socket = remote_socket
        self.master = None

    def ssh_said(self):
        return self.master.ssh_said() if self.master else ""

    def open(self):
        """The local socket path of the remote Docker API, or a ProbeError in ssh's words naming what the
        destination resolved to."""
        try:
            self.master = _MASTERS.connected(self.destination, self.timeout_s)
        except ProbeError as e:
            raise ProbeError(f"{e} ({self.destination.described()})") from None
        local = f"{self.master.control}.docker.sock"
        if os.path.exists(local):
            os.unlink(local)  # another probe's of this run (a test's second probe): the master forwards anew
        try:
            done = subprocess.run(["ssh", *self.destination.options(), "-S", self.master.control, "-O", "forward",
                                   "-L", f"{local}:{self.remote_socket}", "--", self.destination.name],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=max(5.0, self.timeout_s))
            said = ssh_words(done.stderr) if done.returncode != 0 or not os.path.exists(local) else None
        except subprocess.TimeoutExpired:
            said = f"no answer from the master within {max(5.0, self.timeout_s):g} s"
        except OSError as e:
            said = e.strerror or str(e)
        if said is not None:
            raise ProbeError(f"ssh could not forward {self.remote_socket}: {said or 'no reason'} "
                             f"({self.destination.described()})")
        return local


def share_connection(host):
    """testinfra's ``host`` (its ssh backend) runs its commands over the run's master connection to its
    destination, connected before its first command: testinfra otherwise makes one SSH connection per command
    (it passes ``ControlMaster=auto`` but no ControlPath). A master that cannot connect fails the command in
    ssh's words, once per run. Left alone where --ssh-extra-args names a ControlMaster or ControlPath."""
    options = adapters.testinfra_ssh_options(host)
    if options is None or host.backend in _SHARED:
        return host
    extra = options.extra_args.lower()
    if options.controlpath or "controlmaster" in extra or "controlpath" in extra:
        return host
    destination = SshDestination(options.name, options.user, options.port, options.ssh_config, options.identity)
    # A client of the master only (never a master itself, whose ControlPersist would outlive the run)
    adapters.run_ssh_commands_over(host, lambda: _MASTERS.connected(destination, options.timeout).control)
    _SHARED.add(host.backend)
    return host
