"""Which iDDS request belongs to an OUTDIR: the submission key, the request name, the intent record.

Why: a submit whose answer is lost (killed client, frozen server that resumes after the
client gave up) leaves a request on the server that ``submission.json`` does not name;
submitting again would run the whole campaign twice.  So every request made from an
OUTDIR carries the OUTDIR's *submission key* in its iDDS request name, the one field iDDS
keeps and can be queried by (``get_request_id_by_name``), and submit looks the name up
before submitting.

- key: ``<OUTDIR folder name>-<first 12 hex of sha256(workflow.json)>``.  workflow.json
  carries the digest of every other file, so the key names this compiled content in a
  folder of this name; a recompile that changes anything gets a new key.
- request name: ``<workflow name>.pc-<key>`` for the first submit, with ``.f<N>`` added
  for the N-th forced one (so each attempt's name is unique and a lookup unambiguous).
  Only ``[A-Za-z0-9._-]`` (the name travels in a URL path); at most 255 characters.
- intent record ``OUTDIR/submission-intent.json``: the exact name about to be submitted,
  written before the submit call and removed once ``submission.json`` is written; a
  leftover one tells the next submit to look that name up first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .errors import OutdirError

INTENT_FILE = "submission-intent.json"
MAX_NAME = 255
"""iDDS's request name column length."""
_MARK = ".pc-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME = re.compile(r"^(?P<workflow>.*)\.pc-(?P<key>[A-Za-z0-9._-]+?-[0-9a-f]{12})(?:\.f(?P<attempt>\d+))?$")


def safe(text: str) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9._-]`` made one ``-``."""
    return _UNSAFE.sub("-", text).strip("-") or "outdir"


def submission_key(outdir: str | os.PathLike[str]) -> str:
    """The OUTDIR's key: its folder name (made URL-safe, at most 64 chars) and workflow.json's digest."""
    folder = Path(outdir).resolve()
    try:
        digest = hashlib.sha256((folder / "workflow.json").read_bytes()).hexdigest()
    except OSError as exc:
        raise OutdirError(f"{folder / 'workflow.json'}: cannot read it ({exc.strerror})") from exc
    return f"{safe(folder.name)[:64]}-{digest[:12]}"


def request_name(workflow: str, key: str, forced: int = 0) -> str:
    """The iDDS request name of a submit: ``<workflow>.pc-<key>[.f<forced>]``, within 255 chars.

    The workflow part is shortened if need be: the key is what lookups rely on.
    """
    tail = f"{_MARK}{key}" + (f".f{forced}" if forced else "")
    head = safe(workflow)[: MAX_NAME - len(tail)]
    return head + tail


def split_request_name(name: str) -> tuple[str, str, int]:
    """(workflow name, key, forced attempt) of a request name; (name, "", 0) if it has no key."""
    match = _NAME.match(name or "")
    if not match:
        return name or "", "", 0
    return match["workflow"], match["key"], int(match["attempt"] or 0)


@dataclasses.dataclass(frozen=True)
class Intent:
    """A submit under way: the name it submits, where, since when, and the requests before it."""

    request_name: str
    key: str
    server: str
    started_at: str
    previous_request_ids: tuple[int, ...] = ()

    @classmethod
    def now(cls, request_name: str, key: str, server: str, previous: tuple[int, ...]) -> Intent:
        """An intent stamped with the current UTC time."""
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return cls(request_name, key, server, stamp, previous)


def read_intent(outdir: str | os.PathLike[str]) -> Intent | None:
    """The intent record an interrupted submit left in OUTDIR, or None."""
    path = Path(outdir) / INTENT_FILE
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return Intent(
            request_name=str(data["request_name"]),
            key=str(data["key"]),
            server=str(data.get("server", "")),
            started_at=str(data.get("started_at", "")),
            previous_request_ids=tuple(int(i) for i in data.get("previous_request_ids") or ()),
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise OutdirError(f"{path}: unreadable intent record ({exc}); remove it to submit") from exc


def write_json_record(path: Path, data: Any) -> None:
    """Write a small JSON record atomically and durably (fsync): it must survive a SIGKILL.

    Raises OSError, the temporary file removed; callers say what was (not) recorded.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=2) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_intent(outdir: str | os.PathLike[str], intent: Intent) -> None:
    """Write the intent record before the submit call (see the module doc)."""
    path = Path(outdir) / INTENT_FILE
    data = dataclasses.asdict(intent) | {"previous_request_ids": list(intent.previous_request_ids)}
    try:
        write_json_record(path, data)
    except OSError as exc:
        raise OutdirError(
            f"{path}: cannot write the intent record ({exc.strerror}); nothing submitted"
        ) from exc


def clear_intent(outdir: str | os.PathLike[str]) -> None:
    """Remove the intent record (the submission is recorded, or known not to have happened)."""
    with contextlib.suppress(FileNotFoundError):
        (Path(outdir) / INTENT_FILE).unlink()
