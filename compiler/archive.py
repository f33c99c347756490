"""The job archive: files shipped through the PanDA cache as one deterministic tar.gz.

A custom job's transferable executables are shipped this way, and so are a remote
build's files (`compiler.runtime.remote_build`).

Why: `bps submitcmd` runs one script (a custom job) at the remote site; PanDA gets it
through its cache, as a ``jobO.<id>.tar.gz`` the job reads as its direct-IO input. The
reference packs it with ``tarfile`` defaults (file mtimes, owner, a random uuid4 name),
so two compiles of the same job differ. Here the archive is a pure function of the
files' names, contents and executable bits:

* members sorted by name, each a regular file with mtime 0, uid/gid 0, no user or
  group name, mode 0o755 if the owner may execute it else 0o644 (ustar format);
* gzip header with mtime 0 and no file name;
* the name ``jobO.<uuid>.tar.gz`` whose uuid is made from the archive's SHA-256.

The cache URL is known only once the archive is uploaded (at submit, where the PanDA
cache may also answer with another name for an identical file it holds), so the compiled
executables carry `cache_file_token` where the reference puts that URL; submit replaces
it (`compiler.runtime.cache_upload`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import CompileError

CACHE_URL_PLACEHOLDER = "@@PANDA_CACHE_URL@@"
"""Stands for ``$PANDACACHE_URL`` (the PanDA cache the archive is uploaded to) until submit."""
MAX_ARCHIVE_BYTES = 10 * 1024 * 1024
"""panda-client refuses a cache file over 10 MiB (its ``NO_BUILD_LIMIT``); so do we, at compile."""
MAX_MEMBERS = 1000
"""Files in one archive: a custom job has one executable, a remote build a few files."""


class ArchiveError(CompileError):
    """An executable cannot go into the archive; the message names the file."""


@dataclass(frozen=True, slots=True)
class Archive:
    """The archive of a custom workflow: its name, members, bytes and digest."""

    name: str
    members: tuple[tuple[str, str], ...]  # (name in the archive, source path), sorted by name
    sha256: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Bytes of the archive (what is uploaded)."""
        return len(self.data)


def cache_file_token(archive_name: str) -> str:
    """What the compiled executables hold where the cache URL of the archive goes."""
    return f"{CACHE_URL_PLACEHOLDER}/cache/{archive_name}"


def _read_member(source: str, what: str) -> tuple[bytes, int]:
    """(content, mode) of one file: a regular file, followed if a symlink (as the reference)."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ArchiveError(f"{what} {source!r}: cannot read it ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ArchiveError(f"{what} {source!r} is not a regular file")
    with open(fd, "rb") as fh:
        if info.st_size > MAX_ARCHIVE_BYTES:
            raise ArchiveError(
                f"{what} {source!r} has {info.st_size} bytes, over the PanDA cache's"
                f" {MAX_ARCHIVE_BYTES} (MAX_ARCHIVE_BYTES)"
            )
        content = fh.read(MAX_ARCHIVE_BYTES + 1)
    mode = 0o755 if info.st_mode & stat.S_IXUSR else 0o644
    return content, mode


def _members(sources: Sequence[str], what: str) -> list[tuple[str, str]]:
    """(archive name, source) per distinct source, sorted; two sources with one name refused."""
    by_name: dict[str, str] = {}
    for source in dict.fromkeys(sources):
        name = os.path.basename(source.rstrip("/"))
        if not name:
            raise ArchiveError(f"{what} {source!r} has no file name")
        if name in by_name and by_name[name] != source:
            raise ArchiveError(
                f"{what}s {by_name[name]!r} and {source!r} would both be {name!r} in the archive"
            )
        by_name[name] = source
    if len(by_name) > MAX_MEMBERS:
        raise ArchiveError(f"{len(by_name)} files for one archive, over {MAX_MEMBERS} (MAX_MEMBERS)")
    return sorted(by_name.items())


def tar_bytes(members: Sequence[tuple[str, bytes, int]]) -> bytes:
    """A gzipped ustar archive of (name, content, mode) members, in the order given, normalised."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def build_archive(sources: Sequence[str], what: str = "custom job executable") -> Archive:
    """The archive of `sources` (local paths); `ArchiveError` naming a bad one as a `what`."""
    if not sources:
        raise ArchiveError(f"no {what} to archive: the workflow has none")
    members = _members(sources, what)
    contents = []
    total = 0
    for name, source in members:
        content, mode = _read_member(source, what)
        total += len(content)
        contents.append((name, content, mode))
    data = tar_bytes(contents)
    if len(data) > MAX_ARCHIVE_BYTES or total > MAX_ARCHIVE_BYTES * 4:
        raise ArchiveError(
            f"the archive would have {len(data)} bytes, over the PanDA cache's"
            f" {MAX_ARCHIVE_BYTES} (MAX_ARCHIVE_BYTES)"
        )
    digest = hashlib.sha256(data).hexdigest()
    name = f"jobO.{uuid.UUID(hex=digest[:32])}.tar.gz"
    return Archive(name, tuple(members), digest, data)
