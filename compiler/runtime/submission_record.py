"""OUTDIR's submission record: one request per folder, however often submit runs.

`submit` (and the remote build) hold `submit_lock`, refuse a folder already recorded
unless forced (`previous_ids`), settle a submit that was interrupted after its intent was
written (`recover_intent`: adopt the request iDDS made, or forget the intent), and write
``submission.json`` atomically (`write_record`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CompileError
from .errors import OutdirError
from .idds import IddsClient
from .submission_key import Intent, clear_intent, write_json_record

SUBMISSION_FILE = "submission.json"
_LOG = logging.getLogger(__name__)


class AlreadySubmittedError(CompileError):
    """OUTDIR records a submission already; submitting again needs ``force``."""

    def __init__(self, message: str, request_id: int) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclasses.dataclass(frozen=True)
class SubmitRecord:
    """What ``OUTDIR/submission.json`` holds: which request runs this OUTDIR, where, since when."""

    request_id: int
    server: str
    submitted_at: str
    steps: int
    workflow: str = ""
    tool_version: str = ""
    file_distribution_end_point: str = ""
    staged_files: int = 0
    previous_request_ids: tuple[int, ...] = ()
    request_name: str = ""
    submission_key: str = ""
    adopted: bool = False
    """True when no new request was made: an earlier one with this OUTDIR's name was found."""

    def to_json(self) -> dict[str, Any]:
        """The record as written (tuples as lists)."""
        data = dataclasses.asdict(self)
        data["previous_request_ids"] = list(self.previous_request_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmitRecord:
        """Read a record back; unknown keys (a newer tool's) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["previous_request_ids"] = tuple(values.get("previous_request_ids") or ())
        return cls(**values)


def read_submission(outdir: str | os.PathLike[str]) -> SubmitRecord | None:
    """The recorded submission of OUTDIR, or None if it was never submitted."""
    path = Path(outdir) / SUBMISSION_FILE
    if not path.exists():
        return None
    try:
        return SubmitRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise OutdirError(f"{path}: unreadable submission record ({exc}); remove it or use force") from exc


@contextlib.contextmanager
def submit_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUTDIR so two submits of it cannot race past the record check."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise OutdirError(f"{folder}: not a compiled OUTDIR ({exc.strerror})") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutdirError(f"{folder}: another submit of this OUTDIR is under way") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def previous_ids(folder: Path, force: bool) -> tuple[int, ...]:
    """Request ids OUTDIR was submitted as before; refuse unless ``force``."""
    record = read_submission(folder)
    if record is None:
        return ()
    if not force:
        raise AlreadySubmittedError(
            f"{folder} was already submitted as iDDS request {record.request_id}"
            f" ({record.server}, {record.submitted_at}); use force to submit it again",
            record.request_id,
        )
    return (*record.previous_request_ids, record.request_id)


def write_record(folder: Path, record: SubmitRecord) -> None:
    """Write ``submission.json`` atomically; a failure still names the request made."""
    path = folder / SUBMISSION_FILE
    try:
        write_json_record(path, record.to_json())
    except OSError as exc:
        raise OutdirError(
            f"submitted as iDDS request {record.request_id} but cannot record it in {path}: {exc}"
        ) from exc


def new_record(
    service: IddsClient, request_id: int, steps: int, doc: dict[str, Any], name: str, key: str
) -> SubmitRecord:
    """The record of a request made (or adopted) now."""
    from .. import __version__

    return SubmitRecord(
        request_id=request_id,
        server=service.transport.description,
        submitted_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        steps=steps,
        workflow=str(doc["name"]),
        tool_version=__version__,
        request_name=name,
        submission_key=key,
    )


def adopt(
    folder: Path,
    service: IddsClient,
    request_id: int,
    name: str,
    key: str,
    workflow: str,
    previous: tuple[int, ...],
) -> SubmitRecord:
    """Record an existing request as OUTDIR's submission instead of submitting again."""
    record = dataclasses.replace(
        new_record(service, request_id, 0, {"name": workflow}, name, key),
        previous_request_ids=previous,
        adopted=True,
    )
    write_record(folder, record)
    clear_intent(folder)
    return record


def recover_intent(
    folder: Path, service: IddsClient, intent: Intent, key: str, workflow: str
) -> SubmitRecord | None:
    """Settle an interrupted submit: adopt its request if iDDS has it, else forget the intent."""
    if intent.key != key:
        _LOG.warning("%s: the interrupted submit was of other content (key %s); ignored", folder, intent.key)
        clear_intent(folder)
        return None
    found = service.request_id_by_name(intent.request_name)
    if found is not None:
        return adopt(folder, service, found, intent.request_name, key, workflow, intent.previous_request_ids)
    _LOG.warning(
        "the submit of %s started %s made no request on %s: submitting it now",
        intent.request_name,
        intent.started_at,
        service.transport.description,
    )
    clear_intent(folder)
    return None
