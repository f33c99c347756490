"""Publish an output folder all at once.

Everything is written into a temporary sibling of OUTDIR and renamed into place only
after it is complete, so a failed, interrupted or killed compile never leaves a
half-written OUTDIR behind (at worst a hidden `.OUTDIR.tmp-*` sibling after SIGKILL,
which the next run of the same OUTDIR removes).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import CompileError


def _stale_siblings(outdir: Path) -> list[Path]:
    return list(outdir.parent.glob(f".{outdir.name}.tmp-*"))


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
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        _publish(tmp, target)
    except BaseException:
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
