"""HTTP probe: fetch the app's endpoints the way the manual's curl does, all at once, with curl's own timers.

libcurl (through pycurl) gives exactly the manual's ``curl-format.txt`` breakdown (namelookup, connect,
appconnect, starttransfer, total, redirect) and runs every request concurrently in one multi handle, which
also keeps their connections for reuse. Redirects are followed and the final answer judged (the real app may
answer 307 to HTTPS); certificates are not verified (``curl -k``: the certificate has checks of its own);
connect and total timeouts are always set. A port counts as served when it answered (an HTTP answer, else a
TCP connection accepted): whatever serves it, a process or Docker's NAT with ``userland-proxy: false``.
"""

import dataclasses
import io
import socket
import time
import urllib.parse

import pycurl


@dataclasses.dataclass
class Answer:
    """One endpoint's answer, or the reason there was none."""
    url: str
    status: int = 0
    body: str = ""
    headers: dict = dataclasses.field(default_factory=dict)  # lower-case names, final response only
    final_url: str = ""
    timings: dict = dataclasses.field(default_factory=dict)  # an answer's curl timers; empty without an answer
    error: str = ""
    waited_s: float = 0.0  # how long the request took, answered or not (how long it waited for none)

    @property
    def answered(self):
        return not self.error and self.status > 0

    @property
    def seconds(self):
        """The response time, or None without an answer: a refused connection has no response time (its
        0.02 s would be recorded and charted as a fast answer)."""
        return self.timings.get("total_s") if self.answered else None

    def describe(self, path=None, required=None):
        """``/health answered 503 'Unhealthy' in 0.02 s`` or ``/health gave no answer after 3.00 s: ...``, then
        what the check requires where it is given: ``... (required: 200 Healthy)``."""
        name = path or self.url
        wanted = f" (required: {required})" if required else ""
        if not self.answered:
            return f"{name} gave no answer after {self.waited_s:.2f} s: {self.error}{wanted}"
        redirect = f" (redirected to {self.final_url})" if self.final_url and self.final_url != self.url else ""
        body = self.body.strip()
        shown = repr(body[:60] + ("..." if len(body) > 60 else ""))
        return f"{name} answered {self.status} {shown} in {self.seconds:.2f} s{redirect}{wanted}"


def _timings(curl):
    """curl's -w timers, as seconds from the start of the request (the manual's curl-format.txt)."""
    return {
        "dns_s": round(curl.getinfo(pycurl.NAMELOOKUP_TIME), 4),
        "connect_s": round(curl.getinfo(pycurl.CONNECT_TIME), 4),
        "tls_s": round(curl.getinfo(pycurl.APPCONNECT_TIME), 4),
        "first_byte_s": round(curl.getinfo(pycurl.STARTTRANSFER_TIME), 4),
        "total_s": round(curl.getinfo(pycurl.TOTAL_TIME), 4),
        "redirect_s": round(curl.getinfo(pycurl.REDIRECT_TIME), 4),
    }


class HttpProbe:
    """Fetches many URLs concurrently; one probe per run keeps its connections for reuse."""

    def __init__(self, connect_timeout_s=3.0, read_timeout_s=10.0):
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.share = pycurl.CurlShare()
        self.share.setopt(pycurl.SH_SHARE, pycurl.LOCK_DATA_DNS)

    def _handle(self, url):
        curl = pycurl.Curl()
        body, headers = io.BytesIO(), {}

        def header_line(line):
            line = line.decode("iso-8859-1")
            if line.startswith("HTTP/"):
                headers.clear()  # a redirect's headers are not the final answer's
            elif ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()

        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.FOLLOWLOCATION, True)
        curl.setopt(pycurl.MAXREDIRS, 5)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(self.connect_timeout_s * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, int((self.connect_timeout_s + self.read_timeout_s) * 1000))
        curl.setopt(pycurl.SSL_VERIFYPEER, False)
        curl.setopt(pycurl.SSL_VERIFYHOST, 0)
        curl.setopt(pycurl.NOSIGNAL, True)
        curl.setopt(pycurl.NOPROXY, "*")  # the target is addressed directly, never through a proxy
        curl.setopt(pycurl.USERAGENT, "digitalme-ops-checks")
        curl.setopt(pycurl.SHARE, self.share)
        curl.setopt(pycurl.WRITEDATA, body)
        curl.setopt(pycurl.HEADERFUNCTION, header_line)
        return curl, Answer(url=url), body, headers

    def fetch(self, urls):
        """Fetch every URL at once; returns ``{url: Answer}``. Never raises for a target that fails."""
        multi = pycurl.CurlMulti()
        pending = {}
        for url in dict.fromkeys(urls):
            curl, answer, body, headers = self._handle(url)
            multi.add_handle(curl)
            pending[curl] = (answer, body, headers)
        remaining = len(pending)
        deadline = time.monotonic() + self.connect_timeout_s + self.read_timeout_s + 5
        while remaining and time.monotonic() < deadline:
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            _, done, failed = multi.info_read()
            for curl in done:
                answer, body, headers = pending[curl]
                answer.status = curl.getinfo(pycurl.RESPONSE_CODE)
                answer.final_url = curl.getinfo(pycurl.EFFECTIVE_URL)
                answer.body = body.getvalue().decode("utf-8", "replace")
                answer.headers = dict(headers)
            for curl, _code, message in failed:
                pending[curl][0].error = message or "request failed"
            for curl in [*done, *(f[0] for f in failed)]:
                answer = pending[curl][0]
                answer.waited_s = round(curl.getinfo(pycurl.TOTAL_TIME), 4)
                answer.timings = _timings(curl) if answer.answered else {}
                multi.remove_handle(curl)
                curl.close()
                remaining -= 1
            if remaining:
                multi.select(0.05)
        results = {answer.url: answer for answer, _, _ in pending.values()}
        for answer in results.values():
            if not answer.answered and not answer.error:
                answer.error = "no answer within the probe's deadline"
        multi.close()
        return results


class Endpoints:
    """The app's endpoints, fetched all at once: ``endpoints["/health"]``, ``endpoints.https("/health")``."""

    PATHS = ("/health", "/health/ready", "/info")

    def __init__(self, settings):
        self.base_url, self.https_url = settings.base_url, settings.https_url
        self.connect_timeout_s = settings.connect_timeout_s
        urls = [self.base_url + path for path in self.PATHS]
        if self.https_url:
            urls.append(self.https_url + "/health")
        self.answers = HttpProbe(settings.connect_timeout_s, settings.read_timeout_s).fetch(urls)

    def __getitem__(self, path):
        return self.answers[self.base_url + path]

    def https(self, path):
        return self.answers[self.https_url + path]

    def ports(self):
        """``host:port`` of each configured URL -> how it was found served, or why it was not (``served``, ``how``).

        An endpoint that answered on the port proves it served; only a port with no answer is connected to again
        (TCP alone), so that a TLS or HTTP failure is told apart from nothing answering at all.
        """
        found = {}
        for base in filter(None, (self.base_url, self.https_url)):
            parts = urllib.parse.urlsplit(base)
            host, port = parts.hostname, parts.port or {"http": 80, "https": 443}[parts.scheme]
            answered = [a for a in self.answers.values() if a.url.startswith(base + "/") and a.answered]
            if answered:
                found[f"{host}:{port}"] = (True, f"{answered[0].url} answered {answered[0].status}")
            else:
                refused = tcp_refusal(host, port, self.connect_timeout_s)
                found[f"{host}:{port}"] = (not refused, refused or "TCP connection accepted (no HTTP answer)")
        return found


def tcp_refusal(host, port, timeout_s):
    """Why a TCP connection to host:port was not accepted within the timeout, or "" when it was."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return ""
    except socket.timeout:
        return f"no answer within {timeout_s:g} s"
    except OSError as e:
        return (e.strerror or str(e)).lower()
