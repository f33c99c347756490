"""stage-files: every file to copy to the file distribution end point before submitting.

The union of the tasks' staged files, in the reference's order (the order-id and qnode
map files first, then task by task, the final task last; a key seen again takes the later
value, as a dict update does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir import Workflow
from .payload_common import QNODE_MAP_FILE, submit_file


@dataclass(frozen=True)
class StageFiles:
    """Files to pre-stage for the whole workflow."""

    name: ClassVar[str] = "stage-files"
    description: ClassVar[str] = "files to copy to fileDistributionEndPoint before submit"

    def run(self, wf: Workflow) -> Workflow:
        payload = wf.options.payload
        files: dict[str, str] = {}
        if payload.job_name_map:
            files["orderIdMapFilename"] = submit_file(wf, payload.order_id_map_file)
        if payload.qnode_map:
            files["qnodemap"] = submit_file(wf, QNODE_MAP_FILE)
        for task in wf.all_tasks():
            files.update(task.files)
        return wf.replace(files_to_pre_stage=tuple(files.items()))
