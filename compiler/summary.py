"""The one-screen summary the CLI prints after a compile."""

from __future__ import annotations

import textwrap
from collections import Counter

from .ir import Workflow


def _chunks_text(sizes: list[int]) -> str:
    counts = Counter(sizes)
    return " + ".join(
        f"{n}x{size}" if n > 1 else str(size) for size, n in sorted(counts.items(), reverse=True)
    )


def summarize(wf: Workflow, timings: dict[str, float] | None = None) -> str:
    """Tasks, jobs and chunking per label, final task, and time spent."""
    tasks = wf.tasks or ()
    n_jobs = sum(len(t.jobs) for t in tasks)
    lines = [f"workflow {wf.name}: {n_jobs} jobs in {len(wf.all_tasks())} PanDA tasks"]
    per_label: dict[str, list[int]] = {}
    for task in tasks:
        per_label.setdefault(task.label, []).append(len(task.jobs))
    width = max((len(label) for label in per_label), default=5)
    lines.append(f"  {'label':<{width}}  {'jobs':>8}  {'tasks':>5}  chunks")
    for label, sizes in per_label.items():
        lines.append(f"  {label:<{width}}  {sum(sizes):>8}  {len(sizes):>5}  {_chunks_text(sizes)}")
    if wf.final_task is not None:
        lines.append(
            f"  final task {wf.final_task.name}: released after {len(wf.release_after)} sink task(s)"
        )
    if wf.options.generic_runner:
        lines.append("  no site config: generic runner (the decoder runs directly, no container)")
    if timings:
        total = sum(timings.values())
        parts = [f"{name} {sec:.3f}s" for name, sec in timings.items()]
        lines.append(f"  time {total:.2f}s:")
        lines += textwrap.wrap(
            ", ".join(parts),
            width=88,
            initial_indent="    ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        )
    return "\n".join(lines)
