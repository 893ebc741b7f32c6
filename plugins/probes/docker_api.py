"""The Docker Engine API on the local unix socket, through libcurl (pycurl): the subset DockerProbe uses.

The Docker SDK costs ~100 ms of every run's start-up (requests, urllib3, charset_normalizer...) and requests'
overhead on every call; the suite already loads pycurl for the app's endpoints. Method names, arguments and
return shapes are docker.APIClient's, so DockerProbe reads the same either way. Paths are unversioned: the daemon
answers with its own API version. One curl handle per thread, reused (and its connection with it); every
ordinary call is bounded by a connect timeout and a total one, an archive stream by a stall guard instead (a
database can be 1 GB) and it is streamed with bounded memory.
"""

import base64
import json
import queue
import threading
import urllib.parse

import pycurl

from plugins.probes.docker_answers import (APIError, DockerConnectionError, ImageNotFound, NotFound, demultiplex,
                                           error_message, header_map, interleaved)


_STREAM_QUEUE = 16  # chunks in flight of an archive stream (curl hands over at most BUFFERSIZE bytes each)
_STREAM_BUFFER = 256 * 1024


def _quote(part):
    return urllib.parse.quote(str(part), safe="/:")


class LocalDockerAPI:
    """docker.APIClient's calls that DockerProbe makes, over ``socket_path``; ``api`` is itself (the SDK's
    DockerClient has ``.api``: ``probe.client.api.inspect_container`` works with either)."""

    def __init__(self, socket_path="/var/run/docker.sock", timeout_s=15.0):
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._ttys = {}  # container -> whether it has a TTY (how its logs come): asked once a run, as its inspect

    @property
    def api(self):
        return self

    def _curl(self):
        """This thread's handle, its options reset (the connection it holds is kept for reuse)."""
        curl = getattr(self._local, "curl", None)
        if curl is None:
            curl = self._local.curl = pycurl.Curl()
        else:
            curl.reset()
        return curl

    def _setup(self, curl, method, path, params, body, headers):
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"http://localhost{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        curl.setopt(pycurl.UNIX_SOCKET_PATH, self.socket_path)
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.NOSIGNAL, True)
        curl.setopt(pycurl.NOPROXY, "*")
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(self.timeout_s * 1000))
        curl.setopt(pycurl.HEADERFUNCTION, lambda line: headers.append(line.decode("iso-8859-1")))
        sent = ["Expect:"]
        if method == "POST":
            curl.setopt(pycurl.POST, True)
            data = json.dumps(body).encode() if body is not None else b""
            curl.setopt(pycurl.POSTFIELDS, data)
            if body is not None:
                sent.append("Content-Type: application/json")
        curl.setopt(pycurl.HTTPHEADER, sent)
        return url

    def _request(self, method, path, params=None, body=None, not_found=NotFound):
        """(body bytes, response headers {lower name: value}) of a call, or the error."""
        curl, received, headers = self._curl(), [], []
        url = self._setup(curl, method, path, params, body, headers)
        curl.setopt(pycurl.TIMEOUT_MS, int(self.timeout_s * 1000))
        curl.setopt(pycurl.WRITEFUNCTION, received.append)
        try:
            curl.perform()
        except pycurl.error as e:
            raise DockerConnectionError(e.args[1] or f"curl error {e.args[0]}",
                                        timed_out=e.args[0] == pycurl.E_OPERATION_TIMEDOUT) from None
        data = b"".join(received)
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        if status >= 400:
            raise (not_found if status == 404 else APIError)(status, url, error_message(data))
        return data, header_map(headers)

    def _json(self, method, path, params=None, body=None, not_found=NotFound):
        return json.loads(self._request(method, path, params, body, not_found)[0] or b"null")

    def ping(self):
        return self._request("GET", "/_ping")[0] == b"OK"

    def containers(self, all=False, filters=None):  # noqa: A002 -- the SDK's name
        params = {"all": 1 if all else 0}
        if filters:
            params["filters"] = json.dumps({k: v if isinstance(v, list) else [v] for k, v in filters.items()})
        return self._json("GET", "/containers/json", params)

    def inspect_container(self, container):
        return self._json("GET", f"/containers/{_quote(container)}/json")

    def stats(self, container, stream=False, one_shot=True):
        if stream:
            raise ValueError("only stream=False is supported")
        return self._json("GET", f"/containers/{_quote(container)}/stats",
                          {"stream": "false", "one-shot": "true" if one_shot else "false"})

    def logs(self, container, stdout=True, stderr=True, timestamps=False, since=None, tail=None):
        data, headers = self._request("GET", f"/containers/{_quote(container)}/logs", {
            "stdout": int(stdout), "stderr": int(stderr), "timestamps": int(timestamps),
            "since": since, "tail": "all" if tail is None else tail})
        kind = headers.get("content-type", "")
        if "raw-stream" in kind:
            return data
        if "multiplexed-stream" not in kind and self._tty(container):
            return data  # a TTY container's log is its raw bytes (API < 1.42 does not say which in its header)
        return interleaved(data)  # the SDK's answer: the frames in their order, stdout and stderr together

    def _tty(self, container):
        """Whether the container has a TTY, asked once per container (each window of its logs asks)."""
        if container not in self._ttys:
            self._ttys[container] = bool(self.inspect_container(container)["Config"].get("Tty"))
        return self._ttys[container]

    def exec_create(self, container, cmd, stdout=True, stderr=True):
        return self._json("POST", f"/containers/{_quote(container)}/exec", body={
            "AttachStdin": False, "AttachStdout": stdout, "AttachStderr": stderr, "Tty": False,
            "Cmd": [cmd] if isinstance(cmd, str) else list(cmd)})

    def exec_start(self, exec_id, demux=True):
        data, _ = self._request("POST", f"/exec/{_quote(exec_id)}/start", body={"Detach": False, "Tty": False})
        out, err = demultiplex(data)
        if not demux:
            return interleaved(data)
        return out or None, err or None

    def exec_inspect(self, exec_id):
        return self._json("GET", f"/exec/{_quote(exec_id)}/json")

    def df(self):
        return self._json("GET", "/system/df")

    def inspect_image(self, image):
        return self._json("GET", f"/images/{_quote(image)}/json", not_found=ImageNotFound)

    def get_archive(self, container, path):
        """(iterator of byte chunks of the tar stream, stat of ``path``), streamed: at most _STREAM_QUEUE chunks
        are held; closing the iterator (or dropping it) aborts the transfer."""
        return _ArchiveStream(self, f"/containers/{_quote(container)}/archive", {"path": path}).start()


class _ArchiveStream:
    """One archive download in its own thread and curl handle, handing chunks over through a bounded queue."""

    _END = object()

    def __init__(self, api, path, params):
        self.api, self.path, self.params = api, path, params
        self.chunks = queue.Queue(maxsize=_STREAM_QUEUE)
        self.head = queue.Queue()  # (status, headers) once the answer's headers are in, or an error
        self.stop = threading.Event()
        self.headers, self.status, self.error_body = [], 0, []
        self._head_sent = False

    def start(self):
        self.curl = pycurl.Curl()
        self.url = self.api._setup(self.curl, "GET", self.path, self.params, None, self.headers)
        # A stall guard, not a total timeout: less than 1 byte/s for the timeout fails the copy; a 1 GB
        # database that keeps flowing takes as long as it takes.
        self.curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        self.curl.setopt(pycurl.LOW_SPEED_TIME, max(1, int(round(self.api.timeout_s))))
        self.curl.setopt(pycurl.BUFFERSIZE, _STREAM_BUFFER)
        self.curl.setopt(pycurl.WRITEFUNCTION, self._write)
        self.thread = threading.Thread(target=self._run, name="docker-archive", daemon=True)
        self.thread.start()
        head = self.head.get()
        if isinstance(head, Exception):
            self.thread.join()
            self.curl.close()
            raise head
        status, headers = head
        if status >= 400:
            self.thread.join()  # an error answer is small: its body is the daemon's message
            self.curl.close()
            raise (NotFound if status == 404 else APIError)(status, self.url, error_message(b"".join(self.error_body)))
        stat = headers.get("x-docker-container-path-stat")
        stat = json.loads(base64.b64decode(stat)) if stat else None
        return self._iterate(), stat

    def _send_head(self):
        if not self._head_sent:
            self._head_sent = True
            # getinfo() is refused while perform() runs: the status is read from the answer's status line
            lines = [line for line in self.headers if line.startswith("HTTP/")]
            self.status = int(lines[-1].split()[1]) if lines else self.curl.getinfo(pycurl.RESPONSE_CODE)
            self.head.put((self.status, header_map(self.headers)))

    def _write(self, data):
        self._send_head()
        if self.status >= 400:
            self.error_body.append(data)
            return None
        while not self.stop.is_set():
            try:
                self.chunks.put(data, timeout=0.5)
                return None
            except queue.Full:
                continue
        return 0  # the consumer stopped: curl aborts the transfer (a write error)

    def _run(self):
        try:
            self.curl.perform()
            self._send_head()
            outcome = self._END
        except pycurl.error as e:
            outcome = DockerConnectionError(e.args[1] or f"curl error {e.args[0]}",
                                            timed_out=e.args[0] == pycurl.E_OPERATION_TIMEDOUT)
            if not self._head_sent:
                self._head_sent = True
                self.head.put(outcome)
                return
        if self.status >= 400:
            return
        while not self.stop.is_set():
            try:
                self.chunks.put(outcome, timeout=0.5)
                return
            except queue.Full:
                continue

    def _iterate(self):
        try:
            while True:
                chunk = self.chunks.get()
                if chunk is self._END:
                    return
                if isinstance(chunk, Exception):
                    raise chunk
                yield chunk
        finally:
            self.stop.set()
            self.thread.join()
            self.curl.close()
