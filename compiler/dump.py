"""A readable text dump of the IR, for `--dump-after PASS` and for humans debugging a pass.

It shows every field that is filled so far, and at most a few jobs/entries per task, so
dumping a million-job workflow stays one screen per task.
"""

from __future__ import annotations

from itertools import islice

from .ir import Workflow


def dump_ir(wf: Workflow, max_items: int = 3) -> str:
    """The IR as indented text."""
    lines = [f"workflow {wf.name!r}: {len(wf.source)} source nodes", f"  options: {wf.options}"]
    if wf.final_job is not None:
        lines.append(f"  final job: {wf.final_job.name!r} (label {wf.final_job.label!r})")
    if wf.graph is not None:
        edges = sum(len(p) for p in wf.graph.parents)
        lines.append(f"  graph: {len(wf.graph)} jobs, {edges} dependencies")
    if wf.labels is not None:
        lines.append("  label blocks:")
        lines += [f"    {b.label}: {len(b.jobs)} jobs" for b in wf.labels]
    for task in wf.all_tasks():
        lines.append(f"  task {task.name}: label {task.label!r}, {len(task.jobs)} jobs")
        if task.dependency_tasks:
            lines.append(f"    depends on: {', '.join(task.dependency_tasks)}")
        if (
            wf.pseudo_inputs is not None
            and wf.order_ids is not None
            and (wf.dependencies_done or task.is_final)
        ):
            for entry in islice(wf.dependency_entries(task), max_items):
                lines.append(f"    {entry}")
            if len(task.jobs) > max_items:
                lines.append(f"    ... {len(task.jobs) - max_items} more")
    if wf.release_after:
        lines.append(f"  final task released after: {', '.join(wf.release_after)}")
    return "\n".join(lines) + "\n"
