"""What the Docker Engine API answers, read as the Docker SDK reads it: its errors, the daemon's error text, the
multiplexed output streams and the answer's headers (plugins/probes/docker_api.py asks)."""

import json
import re
import struct


class DockerAPIError(Exception):
    """Any failure of a call: the daemon's error answer or no answer at all."""


class APIError(DockerAPIError):
    """The daemon answered with an error (4xx/5xx); the text is like the SDK's, the daemon's message last."""

    def __init__(self, status, url, message):
        kind = "Client" if status < 500 else "Server"
        super().__init__(f"{status} {kind} Error for {url}: ({message})" if message else f"{status} {kind} Error "
                         f"for {url}")
        self.status_code, self.explanation = status, message


class NotFound(APIError):
    """404: no such container, exec, file or image."""


class ImageNotFound(NotFound):
    """404 of an image lookup."""


class DockerConnectionError(DockerAPIError):
    """No answer: nothing listens on the socket, or the daemon did not answer in time (curl's message)."""

    def __init__(self, message, timed_out=False):
        super().__init__(message)
        self.timed_out = timed_out


ERRORS = (DockerAPIError, OSError)  # everything a call of this module raises for a failure of Docker

def error_message(body):
    """The daemon's error text: its JSON ``message``, else the body itself."""
    try:
        return json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip()[:300]


def demultiplex(data):
    """Docker's multiplexed stream (8-byte headers: stream 1 stdout, 2 stderr, then the length) as (stdout,
    stderr) bytes; a truncated last frame keeps what arrived."""
    out, err, view, at = [], [], memoryview(data), 0
    while at + 8 <= len(view):
        kind, size = view[at], struct.unpack(">I", view[at + 4:at + 8])[0]
        frame = bytes(view[at + 8:at + 8 + size])
        (err if kind == 2 else out).append(frame)
        at += 8 + size
    return b"".join(out), b"".join(err)


def header_map(lines):
    found = {}
    for line in lines:
        if line.startswith("HTTP/"):
            found.clear()  # a 100 Continue's headers are not the answer's
        elif ":" in line:
            name, value = line.split(":", 1)
            found[name.strip().lower()] = value.strip()
    return found


def interleaved(data):
    """A multiplexed stream's frames in their order, headers removed (what the SDK returns for logs)."""
    parts, view, at = [], memoryview(data), 0
    while at + 8 <= len(view):
        size = struct.unpack(">I", view[at + 4:at + 8])[0]
        parts.append(bytes(view[at + 8:at + 8 + size]))
        at += 8 + size
    return b"".join(parts)


def one_line(error):
    """An API error in one line, without the library's noise."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"\s+", " ", text)[:300]
