"""What a user does with a compiled OUTDIR and the iDDS request made from it.

submit, report, status, cancel, restart, ping and list, as plain functions over
`compiler.runtime.idds` (which owns transports, retries and errors), so the CLI
(``compiler/cli_runtime.py``) and a BPS plugin built on panda-compile share one
implementation.  Return conventions follow the reference plugin's ``PanDAService`` where a
BPS plugin has to hand them on (cancel, restart, ping, list); everything else returns a
value or raises one `CompileError`.

Why ``submit_outdir`` records ``OUTDIR/submission.json``: submitting the same OUTDIR twice
makes two requests running the same jobs, which nobody wants by accident; the record
names the first request and a second submit needs ``force``.  The record is written only
once iDDS has accepted the request, so a failed submit leaves nothing behind (files
already staged stay staged: the next attempt skips them).  A submit whose answer was lost
is caught on the server side instead: the request is named after the OUTDIR's submission
key and looked up (and adopted) before submitting again (`compiler.runtime.submission_key`).

Every function takes ``config`` (a BPS config: path, mapping, ``BpsConfig`` or None),
``url`` (an iDDS REST URL, else the PanDA relay / ``IDDS_HOST`` from the environment) and
``client`` (a ready `IddsClient`, which wins over both: tests and long-lived callers).
lsst and idds are imported only when needed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CompileError, ConfigError
from .cache_upload import cache_base, upload_archive
from .errors import Failure, OutdirError, RuntimeServiceError
from .idds import IddsClient, client_from_config
from .listing import ListedRequest, listed_requests
from .report import RunReport, build_report, run_state, status_name, undecodable_status, unknown_report
from .staging import stage_files
from .submission_key import (
    Intent,
    clear_intent,
    read_intent,
    request_name,
    submission_key,
    write_intent,
)
from .submission_record import (  # noqa: F401  (SUBMISSION_FILE, AlreadySubmittedError, read_submission: API here too)
    SUBMISSION_FILE,
    AlreadySubmittedError,
    SubmitRecord,
    adopt,
    new_record,
    previous_ids,
    read_submission,
    recover_intent,
    submit_lock,
    write_record,
)
from .workflow import build_idds_workflow, load_workflow_document, split_for_submit

DEFAULT_MAX_REQUEST_LENGTH = 400_000_000  # the reference's PANDA_DEFAULT_MAX_REQUEST_LENGTH
DEFAULT_MAX_COPY_WORKERS = 10  # the reference's PANDA_DEFAULT_MAX_COPY_WORKERS
_RUN_TEMP = "LSST_RUN_TEMP_SPACE"
_HAS_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z\d+\-.]*://")
_LOG = logging.getLogger(__name__)


class RequestNotFound(RuntimeServiceError):
    """iDDS has no request with that id (a BPS plugin reports it as state UNKNOWN)."""

    def __init__(self, request_id: int, where: str) -> None:
        super().__init__(f"no iDDS request {request_id} at {where}; check the id", kind=Failure.REJECTED)
        self.request_id = request_id


# ----- shared helpers --------------------------------------------------------------------


def _as_config(config: Any) -> Any:
    """A config with ``search``: the caller's (path, mapping, BpsConfig) or the bundled defaults."""
    from ..config import as_config

    return as_config(config)


def _setting(config: Any, key: str) -> Any:
    """``key`` from the config as ``BpsConfig.search`` answers it, or None."""
    found, value = config.search(key, opt={"default": None})
    return value if found else None


def _client(config: Any, url: str | None, client: IddsClient | None) -> IddsClient:
    """The caller's client, else one built from config/url/environment."""
    if client is not None:
        return client
    return client_from_config(_as_config(config), url=url)


def _request_id(value: Any) -> int:
    """A request id as iDDS wants it (an int), or an error naming the bad value."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise CompileError(f"request id {value!r} is not a number") from None
    if number <= 0:
        raise CompileError(f"request id {value!r} is not a positive number")
    return number


# ----- submit ----------------------------------------------------------------------------


def file_distribution_uri(config: Any) -> str:
    """Where files are staged, as the reference's submit decides it.

    ``fileDistributionEndPoint``, or ``fileDistributionEndPointDefault`` when the former
    refers to ``LSST_RUN_TEMP_SPACE`` and that is not set here; a plain path gets ``file://``.
    """
    end_point = _setting(config, "fileDistributionEndPoint")
    if end_point and _RUN_TEMP in str(end_point) and _RUN_TEMP not in os.environ:
        end_point = _setting(config, "fileDistributionEndPointDefault")
    if not end_point:
        raise ConfigError(
            "config key 'fileDistributionEndPoint' is needed to stage files: give the submit"
            " config the workflow was compiled with"
        )
    end_point = str(end_point)
    return end_point if _HAS_SCHEME.match(end_point) else "file://" + end_point


def staging_uri(doc: Mapping[str, Any], config: Any) -> str:
    """Where to stage: the end point the compile put into every decoder (workflow.json), else
    the config's (folders compiled before the end point was recorded)."""
    recorded = doc.get("file_distribution_end_point")
    if isinstance(recorded, str) and recorded:
        return recorded if _HAS_SCHEME.match(recorded) else "file://" + recorded
    return file_distribution_uri(_as_config(config))


def _positive_int(explicit: int | None, config: Any, key: str, default: int) -> int:
    """An integer setting: the caller's, else the config's ``key``, else ``default``."""
    value = explicit if explicit is not None else _setting(config, key)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}': {value!r} is not an integer") from None
    if number <= 0:
        raise ConfigError(f"config key '{key}': {value!r} must be positive")
    return number


def _submit_workflow(client: IddsClient, workflow: Any, max_request_length: int) -> tuple[int, int]:
    """Upload the workflow's steps (if it is too large) then the workflow: (request id, steps).

    Steps are written to a temporary request cache: once uploaded they are on the server.
    """
    with tempfile.TemporaryDirectory(prefix="panda-compile-steps-") as cache:
        steps = split_for_submit(workflow, max_request_length, cache)
        for step in steps:
            # re-uploading a step rewrites the same files on the server: safe to retry
            result = client.call("submit", workflow=step, username=None, use_dataset_name=False)
            if result != 0:
                raise RuntimeServiceError(
                    f"iDDS submit of workflow step {step.step_name}: answered {result!r}"
                )
        return client.submit(workflow), len(steps)


def verify_outdir(folder: Path) -> None:
    """Refuse an OUTDIR that fails `panda-compile check`, before anything is staged or sent.

    A doctored folder (a staged file swapped for ``~/.ssh/id_rsa``, a jobs file pointing
    outside, an edited dependency map) stops here, naming the first problem.
    """
    from ..tools.check import check_outdir

    problems = check_outdir(folder)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise OutdirError(
            f"{folder} fails `panda-compile check`: {problems[0]}{more}; nothing staged or sent"
        )


def submit_plan(outdir: str | os.PathLike[str], config: Any = None) -> dict[str, Any]:
    """What `submit` would do, after the same checks, without staging or contacting a server."""
    folder = Path(outdir)
    verify_outdir(folder)
    doc = load_workflow_document(folder)
    archive = doc.get("archive")  # a custom job: uploaded to the PanDA cache, nothing staged
    files = {} if archive else dict(doc.get("files_to_pre_stage") or {})
    dest = staging_uri(doc, config) if files else ""
    staged = doc.get("staged_files") or {}
    return {
        "upload": dict(archive) if archive else None,
        "workflow": doc["name"],
        "request_name": request_name(str(doc["name"]), submission_key(folder), forced=0),
        "tasks": len(doc["tasks"]),
        "jobs": doc["job_count"],
        "stage": [
            {
                "key": key,
                "source": source,
                "to": dest,
                **{k: v for k, v in staged[key].items() if k != "source"},
            }
            for key, source in files.items()
        ],
    }


def submit_outdir(
    outdir: str | os.PathLike[str],
    config: Any = None,
    *,
    url: str | None = None,
    force: bool = False,
    max_request_length: int | None = None,
    max_copy_workers: int | None = None,
    client: IddsClient | None = None,
) -> SubmitRecord:
    """Stage OUTDIR's files, submit its workflow to iDDS, record ``OUTDIR/submission.json``.

    Order matters: everything that can fail locally (the record check, OUTDIR, config) is
    checked first, then iDDS is pinged (a wrong credential or a stopped server fails
    before any file is copied), then an earlier request of this OUTDIR is looked up by
    name and adopted if found (`compiler.runtime.submission_key`), then files are staged,
    the intent recorded, steps and workflow submitted.  ``force`` skips the look-up and
    makes a new request (under a new name) even when one is recorded.
    """
    folder = Path(outdir)
    with submit_lock(folder):
        verify_outdir(folder)
        intent = read_intent(folder)
        previous = previous_ids(folder, force or intent is not None)
        doc = load_workflow_document(folder)
        key = submission_key(folder)
        cfg = _as_config(config)
        archive = doc.get("archive")  # a custom job: its archive goes to the PanDA cache instead
        files = {} if archive else dict(doc.get("files_to_pre_stage") or {})
        if archive:
            cache_base()  # a missing PANDACACHE_URL fails before any server is contacted
        dest = staging_uri(doc, cfg) if files else ""
        length = _positive_int(max_request_length, cfg, "maxRequestLength", DEFAULT_MAX_REQUEST_LENGTH)
        workers = _positive_int(max_copy_workers, cfg, "maxCopyWorkers", DEFAULT_MAX_COPY_WORKERS)
        workflow = build_idds_workflow(folder)
        service = _client(cfg, url, client)
        service.ping()
        if intent is not None:
            recovered = recover_intent(folder, service, intent, key, str(doc["name"]))
            if recovered is not None:
                return recovered
            previous = previous_ids(folder, force)
        name = request_name(str(doc["name"]), key, forced=len(previous) + 1 if force else 0)
        if not force:
            existing = service.request_id_by_name(name)
            if existing is not None:
                return adopt(folder, service, existing, name, key, str(doc["name"]), previous)
        elif previous:
            _LOG.warning("force: submitting %s anew (it was submitted as request %s)", folder, previous[-1])
        staged = stage_files(files, dest, workers) if files else None
        if archive:
            url = upload_archive(folder, archive, service.policy)
            workflow = build_idds_workflow(folder, {archive["placeholder"]: url})
        workflow.name = name
        write_intent(folder, Intent.now(name, key, service.transport.description, previous))
        try:
            request_id, steps = _submit_workflow(service, workflow, length)
        except RuntimeServiceError as exc:
            if exc.kind is not Failure.TRANSIENT:  # certainly not applied: nothing to recover
                clear_intent(folder)
            raise
        record = new_record(service, request_id, steps, doc, name, key)
        record = dataclasses.replace(
            record,
            file_distribution_end_point=dest,
            staged_files=len(staged.copied) if staged else 0,
            previous_request_ids=previous,
        )
        write_record(folder, record)
        clear_intent(folder)
    return record


# ----- status and report -----------------------------------------------------------------


def request_status(
    request_id: int | str, config: Any = None, *, url: str | None = None, client: IddsClient | None = None
) -> str:
    """The run state (a ``WmsStates`` member name) of a request, from the one status table.

    Raises `RequestNotFound` for an id iDDS does not know (the reference answers UNKNOWN
    with a message: a BPS plugin catches it and does the same).
    """
    number = _request_id(request_id)
    service = _client(config, url, client)
    rows = _request_rows(service, number, with_detail=False)
    if rows is None:
        return "UNKNOWN"
    return run_state(status_name(rows[0].get("status")))[0]


def _request_rows(service: IddsClient, number: int, *, with_detail: bool) -> list[Any] | None:
    """The request's rows; None if the server cannot decode its status; `RequestNotFound` if none."""
    try:
        rows = service.get_requests(number, with_detail=with_detail)
    except RuntimeServiceError as exc:
        if undecodable_status(str(exc)) is None:
            raise
        return None
    if not rows:
        raise RequestNotFound(number, service.transport.description)
    return rows


def report(
    request_id: int | str,
    config: Any = None,
    *,
    url: str | None = None,
    exit_codes: bool = False,
    client: IddsClient | None = None,
) -> RunReport:
    """The `RunReport` of a request (see `compiler.runtime.report` for the mapping).

    With ``exit_codes`` the jobs' exit codes of failed tasks are fetched (one call per such
    task); otherwise each failed job counts as exit code 1, as the reference does.
    """
    number = _request_id(request_id)
    service = _client(config, url, client)
    try:
        rows = service.get_requests(number, with_detail=True)
    except RuntimeServiceError as exc:
        raw = undecodable_status(str(exc))
        if raw is None:
            raise
        return unknown_report(number, raw, service.transport.description)
    if not rows:
        raise RequestNotFound(number, service.transport.description)

    def lookup(workload_id: int) -> Any:
        return service.call("get_contents_output_ext", request_id=number, workload_id=workload_id)

    return build_report(number, rows, lookup if exit_codes else None)


# ----- cancel, restart, ping, list (the reference's return conventions) -------------------


_CANCEL_DONE: dict[str, str] = {
    "Cancelled": "cancelled",
    "ToCancel": "being cancelled",
    "Cancelling": "being cancelled",
    "Finished": "finished",
    "SubFinished": "finished",
    "Failed": "failed",
    "Expired": "expired",
}
"""iDDS request statuses in which a cancel has nothing to do, and how to say so."""
_RESTART_DONE: dict[str, str] = {"Finished": "finished"}
"""iDDS request statuses in which a restart has nothing to do (every job succeeded)."""


def _nothing_to_do(service: IddsClient, number: int, done: dict[str, str], verb: str) -> str | None:
    """ "request N is already <state> (iDDS <status>): nothing to <verb>", or None to go ahead.

    An unknown id raises `RequestNotFound`; a status panda-compile does not know goes ahead
    (iDDS decides).
    """
    rows = _request_rows(service, number, with_detail=False)
    if rows is None:  # a status the server cannot decode: let iDDS decide
        return None
    status = status_name(rows[0].get("status"))
    if status in done:
        return f"request {number} is already {done[status]} (iDDS {status}): nothing to {verb}"
    return None


def cancel(
    request_id: int | str, config: Any = None, *, url: str | None = None, client: IddsClient | None = None
) -> tuple[bool, str]:
    """Ask iDDS to abort the request: (True, iDDS's message) or (False, why not).

    A request already cancelled or finished is not aborted again: (True, "request N is
    already cancelled (iDDS Cancelled): nothing to do").
    """
    try:
        number = _request_id(request_id)
        service = _client(config, url, client)
        already = _nothing_to_do(service, number, _CANCEL_DONE, "do")
        if already:
            return True, already
        messages = service.abort(number)
    except CompileError as exc:
        return False, f"cannot cancel request {request_id}: {exc}"
    return True, "; ".join(messages)


def restart(
    request_id: int | str, config: Any = None, *, url: str | None = None, client: IddsClient | None = None
) -> tuple[int | None, str]:
    """Ask iDDS to retry the request's failed work: (request id, message) or (None, why not).

    A finished request (every job succeeded) is not retried: (request id, "request N is
    already finished (iDDS Finished): nothing to do").
    """
    try:
        number = _request_id(request_id)
        service = _client(config, url, client)
        already = _nothing_to_do(service, number, _RESTART_DONE, "do")
        if already:
            return number, already
        messages = service.retry(number)
    except CompileError as exc:
        return None, f"cannot restart request {request_id}: {exc}"
    return number, "; ".join(messages)


def ping(
    config: Any = None, *, url: str | None = None, client: IddsClient | None = None
) -> tuple[int, str | None]:
    """(0, None) if iDDS answers and accepts the credentials, else (-1, why not)."""
    try:
        _client(config, url, client).ping()
    except CompileError as exc:
        return -1, str(exc)
    return 0, None


def list_requests(
    request_id: int | str | None = None,
    config: Any = None,
    *,
    url: str | None = None,
    client: IddsClient | None = None,
) -> list[int]:
    """Ids of the request (``[]`` if unknown), or of every request iDDS shows when None.

    As the reference's ``list_submitted_jobs``: errors raise, an unknown id is ``[]``.
    """
    return [r.request_id for r in list_details(request_id, config, url=url, client=client)]


def list_details(
    request_id: int | str | None = None,
    config: Any = None,
    *,
    url: str | None = None,
    client: IddsClient | None = None,
) -> list[ListedRequest]:
    """Id, workflow name, status, creation time and OUTDIR key of each request (``list``)."""
    number = None if request_id is None else _request_id(request_id)
    service = _client(config, url, client)
    try:
        return listed_requests(service.get_requests(number))
    except RuntimeServiceError as exc:
        raw = undecodable_status(str(exc))
        if raw is None:
            raise
        raise RuntimeServiceError(
            f"iDDS at {service.transport.description} cannot list requests: it holds a request whose"
            f" status it cannot decode ({raw}); ask the iDDS operators (report ID shows it as UNKNOWN)"
        ) from None
