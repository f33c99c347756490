"""Copying the files to pre-stage to the file distribution end point before a submit.

lsst-resources does the copying, so any URI scheme it knows works (file, s3, davs ...);
files already there with the same content are skipped, so resubmitting copies only what
changed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib
from collections.abc import Mapping
from typing import Any

from ..emit.staged import landing
from .errors import StagingError
from .idds import one_line

SMALL_FILE = 16 * 1024 * 1024


@dataclasses.dataclass
class StageReport:
    """What `stage_files` did, by destination URI."""

    copied: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)


def _digest(resource: Any) -> str:
    """md5 of a resource's bytes, streamed (for files too large to compare in memory)."""
    md5 = hashlib.md5()
    with resource.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            md5.update(block)
    return md5.hexdigest()


def same_content(source: Any, target: Any) -> bool:
    """True if ``target`` exists with ``source``'s bytes (size first, then bytes or md5)."""
    if not target.exists():
        return False
    size = source.size()
    if size != target.size():
        return False
    if size <= SMALL_FILE:
        return bool(source.read() == target.read())
    return _digest(source) == _digest(target)


def _stage_one(source: Any, target: Any) -> bool:
    """Copy one file unless already there; True if copied."""
    if same_content(source, target):
        return False
    target.transfer_from(source, transfer="copy", overwrite=True)
    return True


def stage_files(files: Mapping[str, str], dest_uri: str, max_workers: int = 10) -> StageReport:
    """Copy the files to pre-stage to ``dest_uri`` (``fileDistributionEndPoint``) in parallel.

    Files already there with the same content are skipped, so a resubmission copies only
    what changed.  Every failure is collected; one `StagingError` names the first.
    """
    resource_path = importlib.import_module("lsst.resources").ResourcePath
    dest = resource_path(dest_uri, forceDirectory=True)
    pairs = [pair for local in files.values() for pair in landing(resource_path(local), dest, resource_path)]
    dest.exists()  # instantiate S3 clients in this thread; boto3 client creation is not thread-safe
    report, errors = StageReport(), []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        futures = {pool.submit(_stage_one, src, dst): (src, dst) for src, dst in pairs}
        for future in concurrent.futures.as_completed(futures):
            src, dst = futures[future]
            try:
                (report.copied if future.result() else report.skipped).append(str(dst))
            except Exception as exc:
                errors.append(f"{src} -> {dst}: {one_line(exc)}")
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StagingError(f"cannot stage files to {dest_uri}: {errors[0]}{more}")
    report.copied.sort()
    report.skipped.sort()
    return report
