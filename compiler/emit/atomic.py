"""Publish an output folder all at once, and only where it is safe to.

Everything is written into a temporary sibling of OUTDIR (``.OUTDIR.tmp-<pid>-<hex>``)
and moved into place only once complete, so a failed, interrupted or killed compile never
leaves a half-written OUTDIR behind. SIGINT and SIGTERM remove the temporary folder
before the process ends.

What may be replaced, and how (the README's threat model):

* `-o` must not be ``/``, the home folder, the current folder or one of its ancestors;
  a symlink to a folder is followed (its target is replaced, the link stays), a dangling
  one is refused.
* ``--force`` replaces only a folder panda-compile wrote (a `workflow.json` with its
  header) or an empty one; anything else is *foreign* and refused.
* Compiles of one OUTDIR are serialised by a lock on ``.OUTDIR.lock`` beside it; the
  second fails at once with one line.
* The replace is one atomic ``renameat2(RENAME_EXCHANGE)``; where the system lacks it,
  two renames through ``.OUTDIR.old-<pid>-<hex>``, which the next run *restores* if the
  process died between them. Stale temporary folders are matched by their exact name
  pattern, never by a glob built from the OUTDIR name, and only when their process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import CompileError
from ..safepath import UnsafePathError, read_inside
from .provenance import TOOL_NAME

OWNERSHIP_LIMIT = 256 << 20  # workflow.json bytes read to decide whether a folder is ours
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _is_dead(pid: int) -> bool:
    if pid == os.getpid():
        return True  # ours: a leftover of this process is stale by definition
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, someone else's
    return False


def _remove(path: Path) -> None:
    """Remove a file, symlink (not its target) or folder tree; missing is fine."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass


def _leftovers(target: Path) -> Iterator[tuple[str, Path]]:
    """(kind, path) of our own leftovers beside `target`: 'tmp' or 'old', by exact name."""
    name = re.escape(target.name)
    pattern = re.compile(rf"\.{name}\.(tmp|old)-(\d+)-[0-9a-f]{{8}}\Z|\.{name}\.(tmp)-(old)\Z")
    with os.scandir(target.parent) as entries:
        found = [(m, Path(e.path)) for e in entries if (m := pattern.match(e.name))]
    for match, path in found:
        kind = match.group(1) or "old"  # `.NAME.tmp-old`: what older releases renamed OUTDIR to
        pid = match.group(2)
        if pid is None or _is_dead(int(pid)):
            yield kind, path


def _clean_leftovers(target: Path) -> None:
    """Remove stale temporary folders; put back an OUTDIR a killed replace left aside."""
    for kind, path in _leftovers(target):
        if kind == "old" and not os.path.lexists(target) and path.is_dir() and not path.is_symlink():
            path.rename(target)  # the process died between its two renames: restore
        else:
            _remove(path)


def _refuse_dangerous(target: Path) -> None:
    """`/`, the home folder, the cwd and its ancestors are never an OUTDIR."""
    real = Path(os.path.realpath(target))
    cwd = Path(os.path.realpath(os.getcwd()))
    home = Path(os.path.realpath(os.path.expanduser("~")))
    if real == Path(real.anchor):
        why = "the root folder"
    elif real == home:
        why = "the home folder"
    elif cwd == real or cwd.is_relative_to(real):
        why = "the current folder" if cwd == real else "an ancestor of the current folder"
    else:
        return
    raise CompileError(f"refusing to use {target} as OUTDIR: it is {why}")


def output_target(outdir: str | os.PathLike[str]) -> Path:
    """The folder to write: absolute, through a symlink, never a dangerous one."""
    target = Path(os.path.abspath(outdir))
    if target.is_symlink():
        if not target.exists():
            raise CompileError(f"output path {target} is a dangling symlink")
        target = Path(os.path.realpath(target))
    _refuse_dangerous(target)
    if target.exists() and not target.is_dir():
        raise CompileError(f"output path {target} exists and is not a folder")
    return target


def is_own_outdir(folder: Path) -> bool:
    """True if `folder` holds a `workflow.json` written by panda-compile (header checked)."""
    try:
        doc = json.loads(read_inside(folder, "workflow.json", OWNERSHIP_LIMIT))
    except (OSError, UnsafePathError, ValueError, RecursionError):
        return False
    generator = doc.get("generator") if isinstance(doc, dict) else None
    schema = doc.get("$schema") if isinstance(doc, dict) else None
    return (
        isinstance(generator, dict)
        and generator.get("name") == TOOL_NAME
        and isinstance(schema, str)
        and "/workflow-" in schema
    )


def _refuse_foreign(target: Path, force: bool) -> None:
    if not target.exists():
        return
    if not force:
        raise CompileError(f"output folder {target} exists; use --force to replace it")
    try:
        with os.scandir(target) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise CompileError(f"cannot read output folder {target}: {exc.strerror}") from None
    if not empty and not is_own_outdir(target):
        raise CompileError(
            f"refusing to replace {target}: a foreign folder (no panda-compile workflow.json in it);"
            " remove it yourself or choose another OUTDIR"
        )


@contextlib.contextmanager
def _outdir_lock(target: Path) -> Iterator[None]:
    """Exclusive, non-blocking lock on ``.OUTDIR.lock`` for the whole compile-and-publish.

    The lock file is removed while still held; a process that opened it before then finds,
    after locking, that the name no longer leads to its file, and counts as the loser.
    """
    lock = target.parent / f".{target.name}.lock"
    busy = f"another panda-compile is writing {target}; try again when it is done"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CompileError(f"cannot create {lock}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(lock).st_ino != os.fstat(fd).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            raise CompileError(busy) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
    finally:
        os.close(fd)


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing ancestors; the ones created, deepest first."""
    missing = []
    for parent in (folder, *folder.parents):
        if os.path.lexists(parent):
            break
        missing.append(parent)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompileError(f"cannot create {folder}: {exc.strerror}") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


class _Termination:
    """SIGTERM as an exception while OUTDIR is being written, so the temp folder is removed.

    Python's default SIGTERM action ends the process on the spot, leaving the temporary
    sibling behind; SIGINT already arrives as KeyboardInterrupt. The handler raises
    SystemExit(128 + SIGTERM), the status the default action would give, except while
    the folder is being renamed into place or removed: then it (and SIGINT) waits until
    that is done, so a replaced OUTDIR is never lost half-way. Installed only from the main
    thread and only over the default action (an application's own handler is left alone).
    """

    def __init__(self) -> None:
        self.installed = False
        self.holding = False
        self.pending: int | None = None

    def __enter__(self) -> _Termination:
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, self._handle)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _handle(self, signum: int, frame: object) -> None:
        if self.holding:
            if self.pending != signal.SIGTERM:  # a termination outranks an interrupt
                self.pending = signum
            return
        raise SystemExit(128 + signum)

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """Hold SIGTERM and SIGINT back while the block runs; act on them afterwards.

        Used for the final rename and for the cleanup, which a second signal must not cut
        short either.
        """
        previous_int = None
        if self.installed and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous_int = signal.signal(signal.SIGINT, self._handle)
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            if previous_int is not None:
                signal.signal(signal.SIGINT, previous_int)
        pending, self.pending = self.pending, None
        if pending == signal.SIGINT:
            raise KeyboardInterrupt
        if pending is not None:
            raise SystemExit(128 + pending)


@contextlib.contextmanager
def atomic_outdir(outdir: str | os.PathLike[str], force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes `outdir`, on failure it vanishes.

    Every refusal (see the module doc) happens before the first byte is written, and
    every OS failure (read-only parent, /proc, no space) is one `CompileError` line.
    """
    target = output_target(outdir)
    _refuse_foreign(target, force)
    created = _make_parents(target.parent)
    published = False
    try:
        with _outdir_lock(target):
            yield from _write_and_publish(target, force)
            published = True
    finally:
        if not published:
            _remove_empty(created)  # a failed compile leaves no folder it made behind


def _write_and_publish(target: Path, force: bool) -> Iterator[Path]:
    """The body of `atomic_outdir`, once the lock is held."""
    _clean_leftovers(target)  # may put back an OUTDIR a killed replace left aside
    _refuse_foreign(target, force)  # again, now that no other compile can change it
    # Named here and created inside the try: a signal arriving just after the folder is
    # made (mkdtemp would still be returning) must find the cleanup in place.
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    with _Termination() as termination:
        try:
            try:
                tmp.mkdir(mode=0o700)
            except OSError as exc:
                raise CompileError(f"cannot write in {target.parent}: {exc.strerror}") from None
            try:
                yield tmp
            except OSError as exc:
                where = exc.filename or target
                raise CompileError(f"cannot write OUTDIR {target}: {where}: {exc.strerror}") from None
            with termination.shielded():
                _publish(tmp, target)
        except BaseException:
            with termination.shielded():
                _remove(tmp)
            raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    function = getattr(_LIBC, "renameat2", None) if _LIBC is not None else None
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _publish(tmp: Path, target: Path) -> None:
    """Move `tmp` to `target`; an existing `target` is never only under a name cleanup deletes."""
    tmp.chmod(0o755)
    if not target.exists():
        tmp.rename(target)
        return
    if _exchange(tmp, target):
        _remove(tmp)  # holds the old OUTDIR now; if killed here, cleanup removes it: fine
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    target.rename(old)  # if killed before the next line, the next run restores `old`
    tmp.rename(target)
    _remove(old)
