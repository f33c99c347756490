"""Helpers shared by the payload passes (job names, files, command lines, task parameters)."""

from __future__ import annotations

import os

from ..ir import Job, Task, Workflow


def first_job(wf: Workflow, task: Task) -> Job:
    """The job a task's command line and parameters come from (the reference's choice).

    PanDA runs every job of a task with one command line and one set of parameters, taken
    from the task's first job; the final task's job is the final job.
    """
    if task.is_final:
        assert wf.final_job is not None
        return wf.complete(wf.final_job)
    assert wf.graph is not None
    return wf.complete(wf.graph.jobs[task.jobs[0]])


def submit_file(wf: Workflow, name: str) -> str:
    """Where a map file that panda-compile writes will be, for staging (OUTDIR or submitPath)."""
    return os.path.join(wf.options.submit_path or ".", name)


QNODE_MAP_FILE = "qnode_map.json"
