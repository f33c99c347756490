"""task-files: the files each task's jobs need on the worker node, and which they read in place.

From the task's first job (see `first_job`): a transferred executable (`job_executable`),
the order-id map file when job names are mapped, every transferred input file (with a
trailing `/` for a folder, so the worker-side URI knows it is one) and the qnode map file.
Transferred files that the job reads remotely are its direct-IO set; a task with none
gets the decoder's `cmdlineplaceholder`. The final task only gets its executable and
inputs, as in the reference.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import ClassVar

from ..ir import Job, Task, Workflow
from .payload_common import QNODE_MAP_FILE, submit_file, update_tasks


@functools.lru_cache(maxsize=4096)
def _is_dir(uri: str) -> bool:
    return os.path.isdir(uri)


def task_files(wf: Workflow, task: Task, job: Job) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(files as (key, uri) in staging order, direct-IO keys) of one task, first job `job`."""
    payload = wf.options.payload
    files: dict[str, str] = {}
    executable = job.command.executable
    if executable is not None and executable.transfer:
        files["job_executable"] = executable.src_uri
    if payload.job_name_map and not task.is_final:
        files["orderIdMapFilename"] = submit_file(wf, payload.order_id_map_file)
    direct_io: dict[str, None] = {}
    for gwfile in job.inputs:
        if not gwfile.wms_transfer:
            continue
        uri = gwfile.src_uri or ""
        files[gwfile.name] = uri + "/" if _is_dir(uri) else uri
        if gwfile.job_access_remote:
            direct_io[gwfile.name] = None
    if payload.qnode_map and not task.is_final:
        files["qnodemap"] = submit_file(wf, QNODE_MAP_FILE)
    return tuple(files.items()), tuple(direct_io) or ("cmdlineplaceholder",)


@dataclass(frozen=True)
class TaskFiles:
    """Files to stage and direct-IO files per task."""

    name: ClassVar[str] = "task-files"
    description: ClassVar[str] = "files each task needs staged, and its direct-IO set"

    def run(self, wf: Workflow) -> Workflow:
        def with_files(task: Task, job: Job) -> Task:
            files, direct_io = task_files(wf, task, job)
            return dataclasses.replace(task, files=files, direct_io=direct_io)

        return update_tasks(wf, with_files)
