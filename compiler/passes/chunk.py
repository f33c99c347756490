"""chunk: split each label into PanDA tasks of at most `maxJobsPerTask` jobs.

The split is the reference's: with n jobs and limit m, a label gets k = ceil(n/m) tasks,
each filled to ceil(n/k) jobs in order, the last one taking the rest. (This is "even" in
the reference's sense: all chunks equal but the last.) Tasks are numbered across the whole
workflow in label order and named `<workflow>_<NN>_<label>_<CC>`. A label that the order
pass split into waves numbers its chunks (and order ids) on across its blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir import Task, Workflow


def chunk_sizes(n_jobs: int, max_per_task: int) -> list[int]:
    """Sizes of the chunks a label of `n_jobs` jobs is split into."""
    if n_jobs <= 0:
        return []
    n_chunks = -(-n_jobs // max_per_task)
    per_chunk = -(-n_jobs // n_chunks)
    sizes = [per_chunk] * (n_jobs // per_chunk)
    if n_jobs % per_chunk:
        sizes.append(n_jobs % per_chunk)
    return sizes


def task_name(workflow: str, number: int, label: str, chunk: int) -> str:
    """The PanDA task name the reference gives task `number`, chunk `chunk` of `label`."""
    return f"{workflow}_{number:02d}_{label}_{chunk:02d}"


@dataclass(frozen=True)
class Chunk:
    """Cut label blocks into tasks and record each job's task."""

    name: ClassVar[str] = "chunk"
    description: ClassVar[str] = "split labels into tasks of at most maxJobsPerTask jobs"

    def run(self, wf: Workflow) -> Workflow:
        assert wf.labels is not None and wf.graph is not None
        tasks: list[Task] = []
        task_of = [-1] * len(wf.graph.jobs)
        chunks_so_far: dict[str, int] = {}  # a label split into waves keeps counting chunks
        jobs_so_far: dict[str, int] = {}
        for block in wf.labels:
            start = 0
            chunk = chunks_so_far.get(block.label, 0)
            first_order_id = jobs_so_far.get(block.label, 0)
            for size in chunk_sizes(len(block.jobs), wf.options.max_jobs_per_task):
                jobs = block.jobs[start : start + size]
                number, chunk = len(tasks) + 1, chunk + 1
                for j in jobs:
                    task_of[j] = number - 1
                name = task_name(wf.name, number, block.label, chunk)
                tasks.append(Task(name, block.label, number, chunk, jobs, first_order_id + start))
                start += size
            chunks_so_far[block.label] = chunk
            jobs_so_far[block.label] = first_order_id + len(block.jobs)
        return wf.replace(tasks=tuple(tasks), task_of=tuple(task_of))
