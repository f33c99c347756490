"""Write a compiled workflow into OUTDIR.

Layout (the contract downstream tools rely on):

* `workflow.json`: name, tasks in iDDS order (final task last) with their DomaPanDAWork
  keyword arguments (`work`), final task, release set, files to pre-stage;
* `jobs/<task>.jsonl`: the task's dependency map, one entry per line, in order-id order;
* the order-id map (`enableJobNameMap`/`enableEventService`) and `qnode_map.json`
  (`enableQnodeMap`) when those are on.

Job files are streamed: each line is built from pre-escaped strings (every pseudo-input
and task name is JSON-escaped once, though it appears in several lines), never as a list
of a million dicts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from ..ir import Task, Workflow
from ..passes.payload_common import QNODE_MAP_FILE
from .atomic import atomic_outdir

WRITE_BUFFER = 1 << 20


def jobs_file(task: Task) -> str:
    """Where a task's dependency map lives, relative to OUTDIR."""
    return f"jobs/{task.name}.jsonl"


def workflow_document(wf: Workflow) -> dict[str, Any]:
    """The `workflow.json` document."""
    tasks = []
    for task in wf.all_tasks():
        entry: dict[str, Any] = {
            "name": task.name,
            "label": task.label,
            "job_count": 1 if task.is_final else len(task.jobs),
            "dependency_tasks": list(task.dependency_tasks),
            "jobs_file": jobs_file(task),
        }
        if task.work is not None:
            entry["work"] = task.work.as_kwargs()
        tasks.append(entry)
    return {
        "name": wf.name,
        "tasks": tasks,
        "final_task": wf.final_task.name if wf.final_task else None,
        "release_after": list(wf.release_after),
        "files_to_pre_stage": dict(wf.files_to_pre_stage),
    }


def order_id_map(wf: Workflow) -> dict[str, dict[str, str]]:
    """`{label: {order id: pseudo-input}}`: how the edge node finds a job from its short name."""
    assert wf.labels is not None and wf.pseudo_inputs is not None and wf.order_ids is not None
    out: dict[str, dict[str, str]] = {}
    for block in wf.labels:
        per_label = out.setdefault(block.label, {})
        for j in block.jobs:
            per_label[str(wf.order_ids[j])] = wf.pseudo_inputs[j]
    return out


def qnode_map(wf: Workflow) -> dict[str, str]:
    """`{PH:<job>: pseudo-input}` for enableQnodeMap."""
    assert wf.labels is not None and wf.pseudo_inputs is not None and wf.graph is not None
    jobs, pseudo = wf.graph.jobs, wf.pseudo_inputs
    return {"PH:" + jobs[j].name: pseudo[j] for block in wf.labels for j in block.jobs}


def write_maps(wf: Workflow, folder: Path) -> None:
    """The name-map files, when their modes are on (same content and format as the reference)."""
    payload = wf.options.payload
    if payload.job_name_map:
        with open(folder / os.path.basename(payload.order_id_map_file), "w", encoding="utf-8") as out:
            json.dump(order_id_map(wf), out)
    if payload.qnode_map:
        with open(folder / QNODE_MAP_FILE, "w", encoding="utf-8") as out:
            json.dump(qnode_map(wf), out, indent=2)


class _EntryWriter:
    """Streams dependency-map lines for every task from the IR's index arrays."""

    def __init__(self, wf: Workflow) -> None:
        assert wf.pseudo_inputs is not None and wf.tasks is not None and wf.graph is not None
        self.wf = wf
        dumps = json.dumps
        self.names = [dumps(n) for n in wf.entry_names_or_pseudo()]
        self.task_names = [dumps(t.name) for t in wf.tasks]

    def write_task(self, task: Task, out: IO[str]) -> None:
        wf = self.wf
        if task.is_final or (task.work is not None and task.work.es):  # rare: the plain way
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
    write_maps(wf, folder)
    with open(folder / "workflow.json", "w", encoding="utf-8") as out:
        json.dump(workflow_document(wf), out, indent=2)
        out.write("\n")


def write_outdir(wf: Workflow, outdir: str | Path, force: bool = False) -> Path:
    """Write `wf` into OUTDIR atomically; returns the folder."""
    with atomic_outdir(outdir, force=force) as tmp:
        write_documents(wf, tmp)
    return Path(outdir)
