"""Render `summary.md`: tasks, labels, jobs per task, chunking, sites and memory, for review.

The numbers come from the IR (via the work keyword arguments, so they are what PanDA
gets) and are formatted here; the template only lays them out (loops and ifs), so a site
can restyle the page by overriding `summary.md.j2` without re-deriving anything.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import jinja2

from ..ir import Task, Workflow
from .taskparams import render_template

SUMMARY_TEMPLATE = "summary.md.j2"
SUMMARY_FILE = "summary.md"


def cell(value: Any) -> str:
    """A Markdown table cell: text with `|` escaped and no line breaks; '' for None."""
    if value is None:
        return ""
    return " ".join(str(value).split()).replace("|", "\\|")


def chunks_text(sizes: list[int]) -> str:
    """`2x33 + 1` style: how a label was cut into tasks."""
    counts = Counter(sizes)
    return " + ".join(
        f"{n}x{size}" if n > 1 else str(size) for size, n in sorted(counts.items(), reverse=True)
    )


def _work(task: Task) -> dict[str, Any]:
    return task.work.as_kwargs() if task.work is not None else {}


def memory_text(work: dict[str, Any]) -> str:
    """`4096 MB, retry step 8192.0 MB, max 16384 MB`: the memory parameters PanDA gets."""
    rss = work.get("task_rss")
    if not rss:
        return ""
    parts = [f"{rss} MB"]
    if work.get("task_rss_retry_offset"):
        parts.append(f"retry offset {work['task_rss_retry_offset']} MB")
    if work.get("task_rss_retry_step"):
        parts.append(f"retry step {work['task_rss_retry_step']} MB")
    if work.get("task_rss_max"):
        parts.append(f"max {work['task_rss_max']} MB")
    return ", ".join(parts)


def _distinct(values: list[Any]) -> str:
    return cell(", ".join(str(v) for v in dict.fromkeys(values) if v not in (None, "")))


def _task_row(task: Task, jobs: int) -> dict[str, Any]:
    work = _work(task)
    return {
        "number": task.number,
        "name": cell(task.name),
        "label": cell(task.label),
        "jobs": jobs,
        "depends_on": cell(", ".join(task.dependency_tasks)),
        "site": cell(work.get("task_site")),
        "queue": cell(work.get("task_queue")),
        "memory": cell(memory_text(work)),
        "cores": cell(work.get("core_count")),
        "priority": cell(work.get("task_priority")),
        "attempts": cell(work.get("maxattempt")),
        "walltime": cell(work.get("maxwalltime")),
        "event_service": f"{work.get('max_events_per_job')} per job" if work.get("es") else "",
    }


def _label_rows(wf: Workflow) -> list[dict[str, Any]]:
    by_label: dict[str, list[Task]] = {}
    for task in wf.tasks or ():
        by_label.setdefault(task.label, []).append(task)
    rows = []
    for label, tasks in by_label.items():
        works = [_work(t) for t in tasks]
        sizes = [len(t.jobs) for t in tasks]
        rows.append(
            {
                "label": cell(label),
                "jobs": sum(sizes),
                "tasks": len(tasks),
                "chunks": chunks_text(sizes),
                "sites": _distinct([w.get("task_site") for w in works]),
                "queues": _distinct([w.get("task_queue") for w in works]),
                "memory": _distinct([memory_text(w) for w in works]),
                "cores": _distinct([w.get("core_count") for w in works]),
            }
        )
    return rows


def summary_context(wf: Workflow, input_digest: str, maps: list[dict[str, Any]]) -> dict[str, Any]:
    """The plain data `summary.md.j2` gets (see the template's header)."""
    tasks = wf.all_tasks()
    final = wf.final_task
    return {
        "workflow": {
            "name": cell(wf.name),
            "jobs": sum(len(t.jobs) for t in wf.tasks or ()),
            "tasks": len(tasks),
            "input_digest": input_digest,
        },
        "labels": _label_rows(wf),
        "tasks": [_task_row(t, 1 if t.is_final else len(t.jobs)) for t in tasks],
        "final": {"name": cell(final.name), "release_after": [cell(n) for n in wf.release_after]}
        if final is not None
        else None,
        "files": [{"key": cell(k), "path": cell(v)} for k, v in wf.files_to_pre_stage],
        "maps": [{"kind": m["kind"], "file": cell(m["file"]), "entries": m["entries"]} for m in maps],
        "generic_runner": wf.options.generic_runner,
        "warnings": [cell(text) for text in wf.options.config_warnings],
    }


def provenance_line(generator: dict[str, str], input_digest: str) -> str:
    """The first line of summary.md: Markdown has no schema, so tool and input only."""
    return f"<!-- {generator['name']} {generator['version']}; input {input_digest}; do not edit -->\n"


def render_summary(env: jinja2.Environment, context: dict[str, Any]) -> str:
    """The rendered Markdown; a template error names the template file and line."""
    return render_template(env, SUMMARY_TEMPLATE, context, SUMMARY_FILE)
