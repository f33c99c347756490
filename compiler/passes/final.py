"""final: the final job becomes its own task, released when every sink task has ended.

iDDS expresses "after everything" as an AND condition over the `is_terminated` state of
the works that hold sink jobs (jobs with no children). The reference decides whether a
task holds sink jobs by looking at the *first* job of each chunk only, so a chunk whose
later jobs are sinks is left out of the condition and the final job can start before that
task ends. Here a task is a sink task when any of its jobs has no children.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir import Task, Workflow
from .chunk import task_name


@dataclass(frozen=True)
class Final:
    """Add the final task and its release condition."""

    name: ClassVar[str] = "final"
    description: ClassVar[str] = "final job as a task released when all sink tasks have ended"

    def run(self, wf: Workflow) -> Workflow:
        assert wf.graph is not None and wf.tasks is not None
        if wf.final_job is None:
            return wf.replace(final_task=None, release_after=())
        children = wf.graph.children_counts()
        sinks = tuple(t.name for t in wf.tasks if any(children[j] == 0 for j in t.jobs))
        number = len(wf.tasks) + 1
        label = wf.final_job.label
        task = Task(task_name(wf.name, number, label, 1), label, number, 1, (), 0, (), is_final=True)
        return wf.replace(final_task=task, release_after=sinks)
