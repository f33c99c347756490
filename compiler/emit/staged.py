"""The staged-files manifest: what a compile saw of every file `submit` will copy.

`submit` copies `files_to_pre_stage` from the submit machine to the file distribution end
point. An OUTDIR from elsewhere, or one edited after compiling, could name any local file
there (``~/.ssh/id_rsa``, a whole folder). So the compile records, per key, the source and
what it was then (`record_staged`: kind, size and SHA-256 of a local regular file), and
`check` (which `submit` runs first) refuses a source that is not the recorded one, has
changed since, or is not a regular file or folder (`staged_problems`).

Sources that did not exist at compile time (the name-map files the compile itself writes,
a file created later) are recorded with kind ``absent``; at submit they must then be
regular files. Remote URIs (``s3://``, ``davs://``...) are recorded as they are.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from .validate import Problem

_BLOCK = 1 << 20


def landing(source: Any, dest: Any, resource_path: Any) -> list[tuple[Any, Any]]:
    """(file, target) pairs for one source at end point ``dest`` (ResourcePaths), as the
    reference stages: a file lands as ``dest/<name>``, a local folder's files as
    ``dest/<folder name>/<file>``. `submit` and `run` both copy by these pairs."""
    base = os.path.basename(os.path.normpath(source.ospath if source.isLocal else source.path))
    if source.isLocal and os.path.isdir(source.ospath):
        folder = dest.join(base, forceDirectory=True)
        return [
            (f, folder.join(f.basename(), forceDirectory=False))
            for f in resource_path.findFileResources([source.ospath])
        ]
    return [(source, dest.join(base, forceDirectory=False))]


def local_path(source: str) -> str | None:
    """The local file a source names (None: a remote URI)."""
    parsed = urlparse(source)
    if parsed.scheme in ("", "file"):
        return parsed.path if parsed.scheme == "file" else source
    return None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(source: str) -> dict[str, Any]:
    """What `source` is now: ``{"source", "kind", ["size", "sha256"]}``."""
    path = local_path(source)
    if path is None:
        return {"source": source, "kind": "remote"}
    try:
        info = os.lstat(path.rstrip("/") or "/")
    except OSError:
        return {"source": source, "kind": "absent"}
    if stat.S_ISDIR(info.st_mode):
        return {"source": source, "kind": "folder"}
    if stat.S_ISREG(info.st_mode):
        return {"source": source, "kind": "file", "size": info.st_size, "sha256": _sha256(path)}
    kind = "symlink" if stat.S_ISLNK(info.st_mode) else "special"
    return {"source": source, "kind": kind}


def record_staged(files: Mapping[str, str], written: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The manifest for workflow.json's ``staged_files``: `describe` of every source.

    `written` maps the keys of files this compile writes itself (the name maps) to their
    name in OUTDIR: they are recorded as kind ``written`` (their digest is in ``maps``),
    so compiling twice gives the same document.
    """
    return {
        key: {"source": source, "kind": "written"} if key in written else describe(source)
        for key, source in files.items()
    }


def _written_problem(source: str, files: set[str]) -> str | None:
    path = local_path(source)
    if path is None or os.path.basename(path) not in files:
        return f"{source!r} is not a map file this OUTDIR lists"
    return None


def staged_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """Why `submit` must not copy the files workflow.json lists (empty: it may).

    A map file (kind ``written``) is staged from the compile's submitPath, as the reference
    does; that is OUTDIR for the CLI and the plugin.
    """
    files: Mapping[str, str] = doc.get("files_to_pre_stage") or {}
    recorded: Mapping[str, Any] = doc.get("staged_files") or {}
    map_files = {str(m.get("file")) for m in doc.get("maps") or ()}
    problems = []
    for key, source in files.items():
        where = f"workflow.json:files_to_pre_stage.{key}"
        then = recorded.get(key)
        if not isinstance(then, dict) or then.get("source") != source:
            problems.append(Problem(where, f"{source!r} is not the file the compile recorded (edited?)"))
            continue
        if then["kind"] == "written":
            why = _written_problem(source, map_files)
            if why:
                problems.append(Problem(where, why))
            continue
        now = describe(source)
        if now["kind"] in ("symlink", "special"):
            why = f"{source!r} is a {now['kind']} file, not a regular file or folder"
            problems.append(Problem(where, why))
        elif then["kind"] == "absent":
            if now["kind"] not in ("absent", "file"):
                problems.append(Problem(where, f"{source!r} is a {now['kind']} now; the compile saw no file"))
        elif now != then:
            why = f"{source!r} changed since compiling (a {then['kind']} then; size or digest differ)"
            problems.append(Problem(where, why))
    return problems
