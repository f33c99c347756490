"""dependencies: the tasks each task depends on.

A job's dependency-map entry lists, for each parent, the parent's task and pseudo-input
name; `Workflow.dependency_entries` renders those entries from the index arrays on demand
(never a million dicts at once). This pass computes what must be known per task: the tasks
it depends on, in the order their first dependency appears, as the reference lists them
(a job whose parent is in its own task lists that task too, as the reference does).

The reference walks jobs label by label and, when a parent has not been seen yet, defers
the job to a "recovery" loop that names its entry after the job instead of its
pseudo-input (so children cannot match it). Every job here has its task before this pass
runs, so there is no such path: entries are always named by pseudo-input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from ..ir import Workflow


@dataclass(frozen=True)
class Dependencies:
    """Task-level dependencies from job-level ones."""

    name: ClassVar[str] = "dependencies"
    description: ClassVar[str] = "dependency-map entries and dependency task list per task"

    def run(self, wf: Workflow) -> Workflow:
        assert wf.graph is not None and wf.tasks is not None and wf.task_of is not None
        parents, task_of, tasks = wf.graph.parents, wf.task_of, wf.tasks
        new_tasks = []
        for task in tasks:
            # dict as an ordered set: first appearance order, like the reference's list.
            dep_tasks: dict[int, None] = {}
            for j in task.jobs:
                for p in parents[j]:
                    dep_tasks[task_of[p]] = None
            names = tuple(tasks[pt].name for pt in dep_tasks)
            new_tasks.append(dataclasses.replace(task, dependency_tasks=names))
        return wf.replace(tasks=tuple(new_tasks), dependencies_done=True)
