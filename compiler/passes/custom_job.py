"""custom-job: a `bps submitcmd` workflow (run attribute ``bps_iscustom``) as PanDA runs it.

The reference packs the workflow's transferable executables into ``jobO.<id>.tar.gz``,
uploads it to the PanDA cache and makes the cache URL the direct-IO input of every task
that has no direct-IO file of its own; where no ``fileDistributionEndPoint`` is set, the
decoder is told ``FileDistribution``. This pass does the same at compile time without
talking to a server: it builds the archive (deterministic, `compiler.archive`) and puts
`cache_file_token` where the URL goes; `submit` uploads the archive and fills the URL in.

It runs after task-files (whose direct-IO sets it amends) and before command-lines (which
reads the end point). Workflows that are not custom pass through unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..archive import ArchiveError, build_archive, cache_file_token
from ..errors import PassError
from ..ir import Job, LabelOptions, Task, Workflow
from .payload_common import update_tasks

NO_DIRECT_IO = ("cmdlineplaceholder",)
"""The direct-IO set task-files gives a task without direct-IO files."""
DEFAULT_END_POINT = "FileDistribution"
"""The end point the reference names to the decoder of a custom job when none is set."""


def is_custom(wf: Workflow) -> bool:
    """Whether BPS built the workflow for `bps submitcmd` (ctrl_bps sets the string "True")."""
    value: Any = wf.run_attrs.get("bps_iscustom", False)
    return bool(value) and str(value).lower() not in ("false", "0")


def transferable_executables(wf: Workflow) -> list[str]:
    """Sources of the executables to ship, in job order (the reference's `get_executables`)."""
    assert wf.graph is not None
    jobs = [*wf.graph.jobs, *([wf.final_job] if wf.final_job is not None else [])]
    return [
        job.command.executable.src_uri
        for job in jobs
        if job.command.executable is not None and job.command.executable.transfer
    ]


def _with_end_point(wf: Workflow, label: str, options: LabelOptions) -> LabelOptions:
    """`options` whose end point is `DEFAULT_END_POINT` when the label has none in effect."""
    end_point = options.file_distribution_end_point
    if end_point and "LSST_RUN_TEMP_SPACE" in end_point and not wf.options.payload.run_temp_space_set:
        end_point = options.file_distribution_end_point_default
    if end_point:
        return options
    return dataclasses.replace(
        options, file_distribution_end_point=DEFAULT_END_POINT, file_distribution_end_point_default=None
    )


@dataclass(frozen=True)
class CustomJob:
    """Archive of a custom job's executables; its cache URL as the tasks' direct-IO input."""

    name: ClassVar[str] = "custom-job"
    description: ClassVar[str] = "bps submitcmd: archive the executables, cache URL as direct-IO input"

    def run(self, wf: Workflow) -> Workflow:
        if not is_custom(wf):
            return wf
        try:
            archive = build_archive(transferable_executables(wf))
        except ArchiveError as exc:
            raise PassError(str(exc)) from None
        token = cache_file_token(archive.name)

        def with_archive(task: Task, job: Job) -> Task:
            if task.direct_io != NO_DIRECT_IO:
                return task
            return dataclasses.replace(task, direct_io=(token,))

        labels = {label: _with_end_point(wf, label, o) for label, o in wf.options.labels.items()}
        wf = wf.replace(archive=archive, options=dataclasses.replace(wf.options, labels=labels))
        return update_tasks(wf, with_archive)
