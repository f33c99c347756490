"""The custom-job archive in OUTDIR: written at compile, listed in workflow.json, checked.

The archive (`compiler.archive`) is written next to workflow.json under its own name and
recorded in workflow.json's ``archive``: file name, SHA-256, size, member names and the
token the executables carry until submit fills in the cache URL. `check` (and so
`submit`, which runs it first) refuses an archive that is missing, not a regular file, or
not the bytes the compile wrote, so what is uploaded to the PanDA cache is what the
compile saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..archive import MAX_ARCHIVE_BYTES, Archive, cache_file_token
from ..safepath import UnsafePathError, checked_name, child, read_inside
from .validate import Problem

ARCHIVE_KEY = "archive"
"""The key of workflow.json that records the archive (only custom workflows have it)."""


def archive_entry(archive: Archive) -> dict[str, Any]:
    """The manifest entry of an archive, for workflow.json."""
    return {
        "file": archive.name,
        "sha256": archive.sha256,
        "size": archive.size,
        "members": [name for name, _ in archive.members],
        "placeholder": cache_file_token(archive.name),
    }


def write_archive(archive: Archive, folder: Path) -> dict[str, Any]:
    """Write the archive into (the temporary) OUTDIR; its manifest entry."""
    checked_name("custom job archive", archive.name)
    with open(child(folder, archive.name), "wb") as out:
        out.write(archive.data)
    return archive_entry(archive)


def read_archive(folder: str | Path, entry: Mapping[str, Any]) -> bytes:
    """The archive's bytes from OUTDIR, refused (`UnsafePathError`/`OSError`) if unsafe."""
    return read_inside(folder, str(entry["file"]), limit=MAX_ARCHIVE_BYTES)


def archive_problems(folder: str | Path, doc: Mapping[str, Any]) -> list[Problem]:
    """Why OUTDIR's archive is not the one the compile wrote (empty: it is, or there is none)."""
    entry = doc.get(ARCHIVE_KEY)
    if entry is None:
        return []
    where = f"workflow.json:{ARCHIVE_KEY}"
    if entry.get("placeholder") != cache_file_token(str(entry.get("file"))):
        return [Problem(where, "placeholder does not match the archive's file name (edited?)")]
    try:
        data = read_archive(folder, entry)
    except (OSError, UnsafePathError) as exc:
        return [Problem(f"{entry.get('file')}", f"the custom job archive cannot be read ({exc})")]
    if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        return [
            Problem(str(entry["file"]), "the custom job archive changed since compiling (size or digest)")
        ]
    return []
