"""Helpers shared by the payload passes (job names, files, command lines, task parameters)."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import PassError, job_problem
from ..ir import Job, Task, Workflow
from .base import capped


class TaskProblem(ValueError):
    """Raised by a per-task update: this task's first job cannot be turned into a task."""


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


def update_tasks(wf: Workflow, update: Callable[[Task, Job], Task]) -> Workflow:
    """Apply `update(task, first job)` to every task, the final one included.

    Problems (`TaskProblem`) are collected over all tasks and raised once, each naming
    the job it comes from.
    """
    assert wf.tasks is not None
    problems: list[str] = []

    def one(task: Task) -> Task:
        job = first_job(wf, task)
        try:
            return update(task, job)
        except TaskProblem as exc:
            problems.append(job_problem(job.name, job.label, str(exc)))
            return task

    tasks = tuple(one(t) for t in wf.tasks)
    final = one(wf.final_task) if wf.final_task is not None else None
    if problems:
        raise PassError(capped(problems))
    return wf.replace(tasks=tasks, final_task=final)
