"""Files out of a container through Docker's archive API (no exec): small files read into memory, the database
copied to disk as a stream (``docker``: a DockerProbe)."""

import io
import os
import posixpath
import shutil
import tarfile

from plugins.probes import ProbeError
from plugins.probes.docker_answers import one_line


def read_files(docker, container, path, max_bytes=1024 * 1024, links=5):
    """The regular files at ``path`` in the container (a file, or a folder's files), as {path in the
    container: bytes}, through the archive API (no exec). A symbolic link given as ``path`` (certbot's
    live/ folder) is followed, up to ``links`` times; files larger than ``max_bytes`` are left out."""
    not_found, _, failures = docker._errors()
    what = f"reading {path} in {container}"
    try:
        stream, _ = docker.client.api.get_archive(container, path)
        data = b"".join(stream)
    except not_found:
        raise ProbeError(f"{what}: no such file or folder") from None
    except failures as e:
        raise ProbeError(f"{what}: {one_line(e)}") from None
    found = {}
    parent = posixpath.dirname(path.rstrip("/")) or "/"
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        if len(members) == 1 and members[0].issym() and links > 0:
            return read_files(docker, container, posixpath.normpath(posixpath.join(parent, members[0].linkname)),
                              max_bytes, links - 1)
        for member in members:
            if member.isfile() and member.size <= max_bytes:
                found[posixpath.join(parent, member.name)] = archive.extractfile(member).read()
    return found


def copy_out(docker, container, paths, folder):
    """Copy files out of the container (running or not) into ``folder``; returns the local paths copied."""
    copied = []
    not_found, _, failures = docker._errors()
    for path in paths:
        try:
            stream, _ = docker.client.api.get_archive(container, path)
        except not_found:
            continue  # an absent -wal or -shm is normal
        except failures as e:
            raise ProbeError(f"copying {path} out of {container}: {one_line(e)}") from None
        # Streamed to disk, chunk by chunk ("r|": tarfile never seeks): the production host never holds a
        # database in memory, however large it grows.
        chunks = _ChunkReader(stream)
        target = os.path.join(folder, os.path.basename(path))
        try:
            with tarfile.open(fileobj=chunks, mode="r|") as archive:
                member = archive.next()
                source = archive.extractfile(member) if member is not None else None
                if source is None:
                    raise ProbeError(f"copying {path} out of {container}: not a regular file")
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, _COPY_CHUNK)
            chunks.drain()  # the archive's end blocks: leave the API connection clean for the next call
        except (tarfile.TarError, *failures) as e:
            raise ProbeError(f"copying {path} out of {container}: {one_line(e)}") from None
        finally:
            getattr(stream, "close", lambda: None)()  # a copy that stopped half-way ends its transfer now
        copied.append(target)
    return copied


_COPY_CHUNK = 1024 * 1024


class _ChunkReader(io.RawIOBase):
    """The Docker API's archive stream (an iterator of byte chunks) as a file tarfile can read in "r|" mode,
    holding one chunk at a time."""

    def __init__(self, chunks):
        self._chunks, self._pending = iter(chunks), memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)  # a view: handing out a part copies only that part
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        return size

    def drain(self):
        for _ in self._chunks:
            pass
