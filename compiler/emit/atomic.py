"""Publish an output folder all at once.

Everything is written into a temporary sibling of OUTDIR and renamed into place only
after it is complete, so a failed, interrupted or killed compile never leaves a
half-written OUTDIR behind (at worst a hidden `.OUTDIR.tmp-*` sibling after SIGKILL,
which the next run of the same OUTDIR removes). SIGINT and SIGTERM remove the temporary
folder before the process ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import CompileError


def _stale_siblings(outdir: Path) -> list[Path]:
    return list(outdir.parent.glob(f".{outdir.name}.tmp-*"))


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
def atomic_outdir(outdir: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes `outdir`, on failure it vanishes."""
    target = Path(outdir).absolute()
    if target.exists() and not force:
        raise CompileError(f"output folder {target} exists; use --force to replace it")
    if target.exists() and not target.is_dir():
        raise CompileError(f"output path {target} exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_siblings(target):
        shutil.rmtree(stale, ignore_errors=True)
    # Named here and created inside the try: a signal arriving just after the folder is
    # made (mkdtemp would still be returning) must find the cleanup in place.
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    with _Termination() as termination:
        try:
            tmp.mkdir(mode=0o700)
            yield tmp
            with termination.shielded():
                _publish(tmp, target)
        except BaseException as exc:
            if not (isinstance(exc, FileExistsError) and exc.filename == str(tmp)):  # not ours
                with termination.shielded():
                    shutil.rmtree(tmp, ignore_errors=True)
            raise


def _publish(tmp: Path, target: Path) -> None:
    tmp.chmod(0o755)
    if not target.exists():
        tmp.rename(target)
        return
    old = target.parent / f".{target.name}.tmp-old"
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
