"""chunk: split each label into PanDA tasks of at most `maxJobsPerTask` jobs.

The split is the reference's: with n jobs and limit m, a label gets k = ceil(n/m) tasks,
each filled to ceil(n/k) jobs in order, the last one taking the rest. (This is "even" in
the reference's sense: all chunks equal but the last.) Tasks are numbered across the whole
workflow in label order and named `<workflow>_<NN>_<label>_<CC>`. A label that the order
pass split into waves numbers its chunks (and order ids) on across its blocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from ..errors import PassError
from ..ir import Task, Workflow
from ..limits import MAX_TASKS_KEY, WARN_TASKS_KEY, over_limit

_LOG = logging.getLogger(__name__)


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
        _bound_task_count(wf)
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


def _bound_task_count(wf: Workflow) -> None:
    """Refuse (or warn about) an absurd number of tasks before building any of them.

    Each task is two files in OUTDIR and one PanDA task: 200k jobs at ``maxJobsPerTask: 1``
    would be 400k files from a small pickle, almost certainly a config mistake.
    """
    assert wf.labels is not None
    limit, options = wf.options.max_jobs_per_task, wf.options
    count = sum(len(chunk_sizes(len(block.jobs), limit)) for block in wf.labels)
    if count > options.max_tasks:
        raise PassError(over_limit("PanDA tasks", options.max_tasks, "MAX_TASKS", MAX_TASKS_KEY, count))
    if count > options.warn_tasks:
        _LOG.warning(
            "warning: %s PanDA tasks (%s files in OUTDIR) is over %s (config key %s);"
            " is maxJobsPerTask %s meant?",
            f"{count:,}",
            f"{2 * count:,}",
            f"{options.warn_tasks:,}",
            WARN_TASKS_KEY,
            limit,
        )
