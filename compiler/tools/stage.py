"""Files a local run needs where PanDA would have them: at the end point, then in each job's folder.

`run` repeats two copies a submission relies on: `submit` puts ``files_to_pre_stage`` at
``fileDistributionEndPoint`` (here: `stage_to_end_point`), and on the worker the
edge-node decoder copies a job's files from there into the job's folder before it runs
the payload (here: `deliver_inputs`, for the decoded payloads; with ``--as-pilot`` the
executable's own decoder does it). Both go through lsst-resources, so any end point
scheme it knows works. This is deliberately not ``runtime.staging`` (tools sit below
runtime): no skip-if-identical, no parallelism, just the copies.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..emit.staged import landing
from ..errors import CompileError
from .decode import ORDER_ID_MAP_KEY, DecoderCall

EXECUTABLE_KEY = "job_executable"


class StageError(CompileError):
    """A file that cannot be copied; the message names it and where it was going."""


def _resource_path() -> Any:
    return importlib.import_module("lsst.resources").ResourcePath


def stage_to_end_point(files: Mapping[str, str], end_point: str) -> int:
    """Copy ``files_to_pre_stage`` (key -> local path or URI) to `end_point`; files copied.

    Each lands where `submit` puts it (`compiler.emit.staged.landing`).
    """
    resource_path = _resource_path()
    dest = resource_path(end_point, forceDirectory=True)
    copied = 0
    for key, source_uri in files.items():
        source = resource_path(source_uri)
        try:
            pairs = landing(source, dest, resource_path)
            for src, target in pairs:
                target.transfer_from(src, transfer="copy", overwrite=True)
                copied += 1
        except Exception as exc:
            raise StageError(f"cannot stage {key} ({source_uri}) to {end_point}: {exc}") from None
    return copied


def deliver_inputs(call: DecoderCall, folder: Path) -> None:
    """Copy a job's files from the end point into its folder, as the edge-node decoder does.

    Every ``key:file`` of the files argument but the direct-IO ones (the skip-copy
    argument): a folder's files are copied flat into ``<folder>/<file name>/``; the
    executable is made executable; an order-id map already there is kept.
    """
    resource_path = _resource_path()
    source_dir = resource_path(call.end_point, forceDirectory=True)
    skip = call.skip_copy.split("+")
    if "jobO" in call.skip_copy:
        raise StageError(f"skip-copy argument {call.skip_copy!r}: job-option archives are not supported")
    for key, name in call.file_map().items():
        if key in skip:
            continue
        source = source_dir.join(name)
        try:
            is_dir = source.isdir()
            found = resource_path.findFileResources([source]) if is_dir else [source]
            base = folder / name if is_dir else folder
            base.mkdir(parents=True, exist_ok=True)
            for item in found:
                target = base / item.basename()
                if key == ORDER_ID_MAP_KEY and target.exists():
                    continue
                resource_path(str(target)).transfer_from(item, transfer="copy", overwrite=True)
                if key == EXECUTABLE_KEY:
                    os.chmod(target, 0o777)
        except Exception as exc:
            raise StageError(f"cannot copy {key} ({source}) into {folder}: {exc}") from None
