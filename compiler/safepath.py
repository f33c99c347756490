"""Files inside an OUTDIR: which names may become paths, and reading them without surprises.

An OUTDIR may come from anywhere (a shared area, another user, a doctored copy), and the
names in it come from pickles. Two rules keep every read and write inside the folder:

* a name that becomes a file name (workflow, label, task, map file) is a *plain name*:
  no ``/``, no NUL or control character, not ``.``/``..``, not hidden, at most
  `MAX_NAME_BYTES` bytes. The writer checks every name before it writes anything.
* a file is opened one component at a time from the folder's own descriptor with
  ``O_NOFOLLOW`` (`open_inside`): a symlink anywhere under the folder, ``..``, an absolute
  path, a FIFO or a device is refused, never followed, opened or blocked on. Reads are
  bounded (`read_inside`, `bounded_lines`), so ``/dev/zero`` or a 100 GB line cannot
  exhaust memory.

Only the OUTDIR itself (the path the user typed) may be a symlink.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from .errors import CompileError

MAX_NAME_BYTES = 200  # a task name; with ".jsonl" it stays far below NAME_MAX (255)
MAX_DOCUMENT_BYTES = 1 << 30  # a JSON document read whole (workflow.json, a task file, a map)
MAX_LINE_BYTES = 64 << 20  # one dependency-map line
_CONTROL = frozenset(chr(c) for c in range(32)) | {"\x7f"}


class UnsafePathError(CompileError):
    """A name or path that would leave, or misuse, the folder it belongs to."""


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a file name inside OUTDIR (None: it can)."""
    if type(name) is not str or not name:
        return "is empty or not a string"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if not _CONTROL.isdisjoint(name):
        return "contains a NUL or control character"
    if name.startswith("."):
        return "starts with '.'"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


def relative_problem(relative: object) -> str | None:
    """Why `relative` is not a plain ``sub/name`` path inside a folder (None: it is)."""
    if type(relative) is not str or not relative:
        return "is empty or not a string"
    if relative.startswith("/"):
        return "is an absolute path (outside the folder)"
    for part in relative.split("/"):
        if part in ("", ".", ".."):
            return f"has a '{part}' component (outside the folder)" if part else "has an empty component"
        problem = name_problem(part)
        if problem:
            return f"component '{part[:60]}' {problem}"
    return None


def _refuse(folder: os.PathLike[str] | str, relative: str, why: str) -> UnsafePathError:
    return UnsafePathError(f"{os.path.join(folder, relative)!r}: {why}")


@contextlib.contextmanager
def open_inside(folder: str | os.PathLike[str], relative: str) -> Iterator[BinaryIO]:
    """Open ``folder/relative`` for reading, refusing anything but a regular file inside it.

    Raises `UnsafePathError` (symlink, FIFO, device, ``..``, absolute) or `OSError`
    (missing, unreadable). Never blocks: FIFOs are opened non-blocking and then refused.
    """
    problem = relative_problem(relative)
    if problem:
        raise _refuse(folder, relative, problem)
    *dirs, leaf = relative.split("/")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in dirs:
            try:
                new = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                raise _symlink_or(exc, folder, relative) from None
            os.close(fd)
            fd = new
        try:
            leaf_fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            raise _symlink_or(exc, folder, relative) from None
    finally:
        os.close(fd)
    with open(leaf_fd, "rb", closefd=True) as handle:
        if not stat.S_ISREG(os.fstat(leaf_fd).st_mode):
            raise _refuse(folder, relative, "is not a regular file (FIFO, device, socket or folder)")
        yield handle


def _symlink_or(exc: OSError, folder: str | os.PathLike[str], relative: str) -> Exception:
    import errno

    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return _refuse(folder, relative, "is or passes through a symlink or non-folder (refused)")
    return exc


def read_inside(folder: str | os.PathLike[str], relative: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of ``folder/relative`` (see `open_inside`), refusing more than `limit`."""
    with open_inside(folder, relative) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _refuse(folder, relative, f"is larger than the {limit}-byte limit for a document")
    return data


def bounded_lines(fh: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of `fh`, raising `UnsafePathError` for one longer than `limit` bytes."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            raise UnsafePathError(f"a line is longer than the {limit}-byte limit")
        yield line


def _short(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def checked_name(kind: str, name: object) -> str:
    """`name` if it can be a file name in OUTDIR, else `UnsafePathError` naming `kind`."""
    problem = name_problem(name)
    if problem:
        raise UnsafePathError(f"{kind} {_short(name)} {problem}: it cannot name a file in OUTDIR")
    assert isinstance(name, str)
    return name


def child(folder: str | os.PathLike[str], relative: str) -> str:
    """``folder/relative`` for writing, refusing a `relative` that could leave `folder`."""
    problem = relative_problem(relative)
    if problem:
        raise UnsafePathError(f"refusing to write {_short(relative)}: it {problem}")
    return os.path.join(folder, relative)
