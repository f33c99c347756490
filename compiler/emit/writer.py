"""Write a compiled workflow into OUTDIR.

Layout (the contract downstream tools rely on):

* `workflow.json`: name, tasks in iDDS order (final task last), final task, release set;
* `jobs/<task>.jsonl`: the task's dependency map, one entry per line, in order-id order.

Job files are streamed: each line is built from pre-escaped strings (every pseudo-input
and task name is JSON-escaped once, though it appears in several lines), never as a list
of a million dicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from ..ir import Task, Workflow
from .atomic import atomic_outdir

WRITE_BUFFER = 1 << 20


def jobs_file(task: Task) -> str:
    """Where a task's dependency map lives, relative to OUTDIR."""
    return f"jobs/{task.name}.jsonl"


def workflow_document(wf: Workflow) -> dict[str, Any]:
    """The `workflow.json` document."""
    tasks = []
    for task in wf.all_tasks():
        tasks.append(
            {
                "name": task.name,
                "label": task.label,
                "job_count": 1 if task.is_final else len(task.jobs),
                "dependency_tasks": list(task.dependency_tasks),
                "jobs_file": jobs_file(task),
            }
        )
    return {
        "name": wf.name,
        "tasks": tasks,
        "final_task": wf.final_task.name if wf.final_task else None,
        "release_after": list(wf.release_after),
    }


class _EntryWriter:
    """Streams dependency-map lines for every task from the IR's index arrays."""

    def __init__(self, wf: Workflow) -> None:
        assert wf.pseudo_inputs is not None and wf.tasks is not None and wf.graph is not None
        self.wf = wf
        dumps = json.dumps
        self.names = [dumps(n) for n in wf.pseudo_inputs]
        self.task_names = [dumps(t.name) for t in wf.tasks]

    def write_task(self, task: Task, out: IO[str]) -> None:
        wf = self.wf
        if task.is_final:
            for entry in wf.dependency_entries(task):
                out.write(json.dumps(entry) + "\n")
            return
        assert wf.graph is not None and wf.task_of is not None and wf.order_ids is not None
        names, task_names, task_of = self.names, self.task_names, wf.task_of
        parents, order_ids = wf.graph.parents, wf.order_ids
        lines = []
        for j in task.jobs:
            deps = ", ".join(
                f'{{"task": {task_names[task_of[p]]}, "inputname": {names[p]}}}' for p in parents[j]
            )
            lines.append(f'{{"name": {names[j]}, "order_id": {order_ids[j]}, "dependencies": [{deps}]}}\n')
            if len(lines) >= 4096:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))


def write_documents(wf: Workflow, folder: Path) -> None:
    """Write every document of `wf` into an (empty) folder."""
    (folder / "jobs").mkdir()
    entry_writer = _EntryWriter(wf)
    for task in wf.all_tasks():
        with open(folder / jobs_file(task), "w", encoding="utf-8", buffering=WRITE_BUFFER) as out:
            entry_writer.write_task(task, out)
    with open(folder / "workflow.json", "w", encoding="utf-8") as out:
        json.dump(workflow_document(wf), out, indent=2)
        out.write("\n")


def write_outdir(wf: Workflow, outdir: str | Path, force: bool = False) -> Path:
    """Write `wf` into OUTDIR atomically; returns the folder."""
    with atomic_outdir(outdir, force=force) as tmp:
        write_documents(wf, tmp)
    return Path(outdir)
