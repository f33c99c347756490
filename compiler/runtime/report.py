"""A run report from iDDS's view of a request: one state for the run, job counts per label.

Why its own module: the mapping from iDDS statuses and file counts to BPS job states is
the part of ``bps report`` that must agree with the reference plugin (and with a BPS
plugin built on panda-compile), and it is pure data-in, data-out, so it is tested on
replayed iDDS replies without a server (``tests/runtime/test_report.py``).

States are plain strings spelled as the members of ``lsst.ctrl.bps.WmsStates``
(``WmsStates[state]`` maps them 1:1); nothing here imports lsst or idds.

How a run is reported (the reference's ``PanDAService.report``, with the differences noted):

- The run's state comes from the request's iDDS status through `REQUEST_STATES`:
  Finished/SubFinished -> SUCCEEDED, Failed/Expired -> FAILED, Cancelled -> DELETED,
  Suspended -> HELD, any other iDDS request status -> RUNNING.  The reference's
  ``get_status`` maps SubFinished to FAILED while its ``report`` says SUCCEEDED; here one
  table serves both.  **Fallback**: a status that is not an iDDS ``RequestStatus`` name at
  all (a newer iDDS, a malformed reply) is UNKNOWN, with a message, where the reference
  says RUNNING.
- Each transform (PanDA task) row gives job counts from its collections' file counts,
  as the reference does (`TASK_JOB_STATES`, `FILE_COUNTS`): processed -> SUCCEEDED,
  processing + output new - input new -> RUNNING, failed -> FAILED, missing -> PRUNED,
  each only for task statuses where the reference counts it; the rest of the task's
  jobs are UNREADY (never negative here).  Rows without a transform (the request row of
  a request whose tasks do not exist yet) are skipped; a transform repeated by iDDS's
  outer joins is counted once.
- The label of a task comes from its name ``<workflow>_<NN>_<label>_<CC>``: with the
  request's name as the known ``<workflow>`` prefix the label is exactly what lies
  between the task number and the chunk number, so labels that contain ``_<digits>_`` or
  end in ``_<digits>`` survive (the reference's ``extract_taskname`` +
  ``aggregate_by_basename`` cut ``calibrate_2`` down to ``01``).  Names without that
  prefix fall back to the reference's rule (`reference_label`).
- Exit codes: a SubFinished or Failed task (not a ``build_task``) contributes one code 1
  per failed job, or, when asked, the non-zero ``trans_exit_code`` of its jobs from
  ``get_contents_output_ext``.  Codes of every chunk of a label are kept (the reference
  keeps them per chunk until it aggregates); a reply grouping jobs under several keys is
  merged rather than refused.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .submission_key import split_request_name

JOB_STATES: tuple[str, ...] = (
    "UNKNOWN",
    "MISFIT",
    "UNREADY",
    "READY",
    "PENDING",
    "RUNNING",
    "DELETED",
    "HELD",
    "SUCCEEDED",
    "FAILED",
    "PRUNED",
)
"""``lsst.ctrl.bps.WmsStates`` member names, in its order (the columns of ``bps report``)."""

REQUEST_STATES: Mapping[str, str] = {
    "Finished": "SUCCEEDED",
    "SubFinished": "SUCCEEDED",
    "Failed": "FAILED",
    "Expired": "FAILED",
    "Cancelled": "DELETED",
    "Suspended": "HELD",
}
"""iDDS request status -> run state; other known iDDS request statuses are RUNNING."""

IDDS_REQUEST_STATUSES = frozenset(
    {
        "New", "Ready", "Transforming", "Finished", "SubFinished", "Failed", "Extend", "ToCancel",
        "Cancelling", "Cancelled", "ToSuspend", "Suspending", "Suspended", "ToResume", "Resuming",
        "ToExpire", "Expiring", "Expired", "ToFinish", "ToForceFinish", "Terminating", "Building",
        "Built", "Throttling", "ToClose",
    }
)  # fmt: skip
"""The names of ``idds.common.constants.RequestStatus`` (idds 2.6): anything else is UNKNOWN."""

UNKNOWN_STATE = "UNKNOWN"

TASK_JOB_STATES: Mapping[str, tuple[str, ...]] = {
    "Finished": ("SUCCEEDED",),
    "SubFinished": ("SUCCEEDED", "FAILED", "PRUNED"),
    "Transforming": ("RUNNING", "SUCCEEDED", "FAILED", "PRUNED"),
    "Failed": ("FAILED", "PRUNED"),
}
"""Transform status -> the job states counted from file counts; the remainder is UNREADY."""

FILE_COUNTS: Mapping[str, str] = {
    "SUCCEEDED": "output_processed_files",
    "RUNNING": "output_processing_files",
    "FAILED": "output_failed_files",
    "PRUNED": "output_missing_files",
}
"""Job state -> the detail-row field holding its count (RUNNING adds new output - new input)."""

EXIT_CODE_STATUSES = frozenset({"SubFinished", "Failed"})

ExitCodeLookup = Callable[[int], Any]
"""workload id -> ``get_contents_output_ext`` reply ``{key: [job dict, ...]}``."""


@dataclasses.dataclass
class TaskReport:
    """One PanDA task (iDDS transform): its name, label, iDDS status and job counts."""

    name: str
    label: str
    status: str
    workload_id: int | None
    total_jobs: int
    counts: dict[str, int]


@dataclasses.dataclass
class RunReport:
    """What ``bps report`` shows for one request; states are ``WmsStates`` member names."""

    request_id: int
    name: str
    operator: str
    state: str
    total_jobs: int
    per_label: dict[str, dict[str, int]]
    exit_codes: dict[str, list[int]]
    message: str = ""
    idds_status: str = ""
    tasks: list[TaskReport] = dataclasses.field(default_factory=list)
    submission_key: str = ""
    """The OUTDIR key carried in the request name (empty if panda-compile did not name it)."""

    def state_counts(self) -> dict[str, int]:
        """Jobs per state over all labels (``WmsRunReport.job_state_counts``)."""
        totals = dict.fromkeys(JOB_STATES, 0)
        for counts in self.per_label.values():
            for state, count in counts.items():
                totals[state] += count
        return totals

    def label_totals(self) -> dict[str, int]:
        """Jobs per label, in report order."""
        return {label: sum(counts.values()) for label, counts in self.per_label.items()}

    @property
    def run_summary(self) -> str:
        """``label:count;...`` as ``WmsRunReport.run_summary`` carries it."""
        return ";".join(f"{label}:{count}" for label, count in self.label_totals().items())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``report --json``)."""
        return dataclasses.asdict(self)


def status_name(value: Any) -> str | None:
    """The name of an iDDS status however the reply carries it.

    Decoded with iDDS's JSON loader it is an enum; raw JSON (the reference's relay calls)
    has ``{"attributes": {"_name_": ...}}``; a plain string is taken as is.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        attributes = value.get("attributes")
        name = attributes.get("_name_") if isinstance(attributes, Mapping) else None
        return name if isinstance(name, str) else None
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else None


def run_state(idds_status: str | None) -> tuple[str, str]:
    """(run state, message) for an iDDS request status name; see `REQUEST_STATES`."""
    if idds_status in REQUEST_STATES:
        return REQUEST_STATES[idds_status], ""
    if idds_status in IDDS_REQUEST_STATUSES:
        return "RUNNING", ""
    shown = "no status" if idds_status is None else f"status {idds_status!r}"
    return UNKNOWN_STATE, f"iDDS reports {shown}, which panda-compile does not know: state UNKNOWN"


_UNDECODABLE = re.compile(r"(\S+) is not a valid (\w*Status)")


def undecodable_status(error: str) -> str | None:
    """The raw status value of an iDDS error "99 is not a valid RequestStatus", else None.

    That is how iDDS answers a request whose stored status its own code does not know
    (a newer iDDS wrote it): the whole request becomes unreadable, even its rows.
    """
    match = _UNDECODABLE.search(error)
    return f"{match[1].strip(chr(34) + chr(39))} (not a valid {match[2]})" if match else None


def unknown_report(request_id: int, raw_status: str, where: str) -> RunReport:
    """The report of a request whose status the server cannot decode: UNKNOWN, with the raw value."""
    return RunReport(
        request_id=int(request_id),
        name="",
        operator="",
        state=UNKNOWN_STATE,
        total_jobs=0,
        per_label={},
        exit_codes={},
        message=(
            f"iDDS at {where} cannot decode the status of request {request_id} ({raw_status}):"
            " state UNKNOWN; the server's code is older than what its database holds,"
            " ask the iDDS operators"
        ),
        idds_status=raw_status,
    )


def reference_label(task_name: str) -> str:
    """The reference's label of a task name: after the last ``_<digits>_``, minus ``_<digits>``."""
    text = task_name.strip().strip("'\"")
    numbers = re.findall(r"_(\d+)_", text)
    if numbers:
        marker = f"_{numbers[-1]}_"
        text = text[text.rfind(marker) + len(marker) :]
    return re.sub(r"_\d+$", "", text)


_OUR_TASK = re.compile(r"(\d+)_(.+)_(\d+)")


def task_label(task_name: str, workflow_name: str) -> str:
    """The label of ``<workflow>_<NN>_<label>_<CC>``, exactly, given ``<workflow>``."""
    prefix = f"{workflow_name}_"
    if workflow_name and task_name.startswith(prefix):
        match = _OUR_TASK.fullmatch(task_name[len(prefix) :])
        if match:
            return match.group(2)
    return reference_label(task_name)


def _count(row: Mapping[str, Any], key: str) -> int:
    """A file count of a detail row; iDDS leaves counts of new collections NULL."""
    value = row.get(key)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def task_job_counts(row: Mapping[str, Any], status: str | None) -> tuple[int, dict[str, int]]:
    """(total jobs, jobs per state) of one transform row; UNREADY is what is left."""
    total = _count(row, "output_total_files")
    counts = dict.fromkeys(JOB_STATES, 0)
    for state in TASK_JOB_STATES.get(status or "", ()):
        counts[state] = _count(row, FILE_COUNTS[state])
        if state == "RUNNING":
            counts[state] += _count(row, "output_new_files") - _count(row, "input_new_files")
    counts["UNREADY"] = max(total - sum(counts.values()), 0)
    return total, counts


def exit_codes_from_reply(reply: Any) -> list[int]:
    """Non-zero ``trans_exit_code`` of every job in a ``get_contents_output_ext`` reply."""
    groups: Iterable[Any] = reply.values() if isinstance(reply, Mapping) else [reply or []]
    codes = []
    for jobs in groups:
        for job in jobs if isinstance(jobs, Sequence) else []:
            code = job.get("trans_exit_code") if isinstance(job, Mapping) else None
            if code in (None, 0, "0", ""):
                continue
            try:
                codes.append(int(code))
            except (TypeError, ValueError):
                continue
    return codes


def _task_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows that are transforms, once each, by workload id (then transform id) as the reference."""
    seen: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        if row.get("transform_id") is not None:
            seen.setdefault(row["transform_id"], row)

    def key(row: Mapping[str, Any]) -> tuple[bool, int, int]:
        workload = row.get("transform_workload_id")
        return (workload is None, int(workload or 0), int(row["transform_id"]))

    return sorted(seen.values(), key=key)


def _task_exit_codes(
    row: Mapping[str, Any], status: str | None, lookup: ExitCodeLookup | None
) -> list[int] | None:
    """Exit codes of a failed/subfinished task (None if the task has none to give)."""
    name = str(row.get("transform_name") or "")
    workload = row.get("transform_workload_id")
    if status not in EXIT_CODE_STATUSES or name.startswith("build_task") or not workload:
        return None
    if lookup is None:
        return [1] * _count(row, "output_failed_files")
    return exit_codes_from_reply(lookup(int(workload)))


def build_report(
    request_id: int, rows: Sequence[Mapping[str, Any]], exit_code_lookup: ExitCodeLookup | None = None
) -> RunReport:
    """The `RunReport` of ``get_requests(request_id, with_detail=True)`` rows (not empty).

    ``exit_code_lookup`` (workload id -> ``get_contents_output_ext`` reply) is called for
    failed/subfinished tasks when given; without it each failed job counts as exit code 1.
    The request id is the one asked for: iDDS leaves it NULL in the row of a request
    without transforms.
    """
    head = rows[0]
    idds_status = status_name(head.get("status"))
    state, message = run_state(idds_status)
    name, key, _ = split_request_name(str(head.get("name") or ""))
    report = RunReport(
        request_id=int(request_id),
        name=name,
        operator=str(head.get("username") or ""),
        state=state,
        total_jobs=0,
        per_label={},
        exit_codes={},
        message=message,
        idds_status=idds_status or "",
        submission_key=key,
    )
    for row in _task_rows(rows):
        task_name = str(row.get("transform_name") or "")
        label = task_label(task_name, name)
        status = status_name(row.get("transform_status"))
        total, counts = task_job_counts(row, status)
        workload = row.get("transform_workload_id")
        report.tasks.append(TaskReport(task_name, label, status or "", workload, total, counts))
        report.total_jobs += total
        by_state = report.per_label.setdefault(label, dict.fromkeys(JOB_STATES, 0))
        for job_state, count in counts.items():
            by_state[job_state] += count
        codes = _task_exit_codes(row, status, exit_code_lookup)
        if codes is not None:
            report.exit_codes.setdefault(label, []).extend(codes)
    return report
