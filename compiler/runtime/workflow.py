"""A compiled OUTDIR as an iDDS workflow: DOMA PanDA works, dependency maps, the final condition.

`build_idds_workflow` is the one place that turns `workflow.json` (whose `work` entries are
DomaPanDAWork's keyword arguments) and the `jobs/*.jsonl` dependency maps back into the
iDDS client objects the reference plugin would have built in memory; `split_for_submit`
cuts a large request into the steps iDDS accepts, as the reference does.

idds is imported on first use: ``import compiler`` must work without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..safepath import UnsafePathError, bounded_lines, open_inside, read_inside
from .errors import OutdirError
from .idds import _import

_REQUIRED_TASK_KEYS = ("name", "dependency_tasks", "jobs_file", "work")


def load_workflow_document(outdir: str | os.PathLike[str]) -> dict[str, Any]:
    """``OUTDIR/workflow.json``, checked for what building the iDDS workflow needs."""
    path = Path(outdir) / "workflow.json"
    try:
        doc = json.loads(read_inside(outdir, "workflow.json"))
    except (OSError, ValueError, RecursionError, UnsafePathError) as exc:
        raise OutdirError(f"{path}: cannot read the compiled workflow ({exc})") from exc
    problems = [
        f"task #{i} ({t.get('name', '?')}) lacks '{key}'"
        for i, t in enumerate(doc.get("tasks", []))
        for key in _REQUIRED_TASK_KEYS
        if key not in t
    ]
    if not doc.get("name") or not doc.get("tasks"):
        problems.insert(0, "no 'name' or no 'tasks'")
    names = {t.get("name") for t in doc.get("tasks", [])}
    wanted = [doc["final_task"]] if doc.get("final_task") else []
    problems += [
        f"unknown task '{n}' in final_task/release_after"
        for n in wanted + doc.get("release_after", [])
        if n not in names
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise OutdirError(f"{path}: {problems[0]}{more}; compile the workflow again")
    return doc


def read_dependency_map(outdir: str | os.PathLike[str], relative: str) -> list[dict[str, Any]]:
    """A ``jobs/<task>.jsonl`` file inside OUTDIR: one dependency-map entry per line."""
    try:
        with open_inside(outdir, relative) as fh:
            return [json.loads(line) for line in bounded_lines(fh) if line.strip()]
    except (OSError, ValueError, RecursionError, UnsafePathError) as exc:
        raise OutdirError(f"{Path(outdir) / relative}: cannot read the dependency map ({exc})") from exc


def build_idds_workflow(outdir: str | os.PathLike[str], fill: Mapping[str, str] | None = None) -> Any:
    """The iDDS ``Workflow`` of a compiled OUTDIR, built as the reference plugin builds it.

    Works are added in ``workflow.json`` order; a final task gets an ``AndCondition``
    releasing it once every ``release_after`` work is terminated. ``fill`` maps
    placeholders of the executables to what submit learnt (a custom job's cache URL).
    """
    doc = load_workflow_document(outdir)
    workflow_module = _import("idds.workflowv2.workflow")
    work_class = _import("idds.doma.workflowv2.domapandawork").DomaPanDAWork
    workflow = workflow_module.Workflow(name=doc["name"])
    final = doc.get("final_task")
    works: dict[str, Any] = {}
    for task in doc["tasks"]:
        dependency_map = read_dependency_map(outdir, task["jobs_file"])
        kwargs = {k: v for k, v in task["work"].items() if k != "task_name"}
        for token, value in (fill or {}).items():
            kwargs["executable"] = str(kwargs.get("executable", "")).replace(token, value)
        try:
            work = work_class(task_name=task["name"], dependency_map=dependency_map, **kwargs)
        except (TypeError, ValueError) as exc:  # a key this idds-doma does not know, a bad map entry
            raise OutdirError(f"task {task['name']}: DomaPanDAWork refused its arguments: {exc}") from exc
        if task["name"] != final or task["dependency_tasks"]:
            work.dependency_tasks = list(task["dependency_tasks"])
        workflow.add_work(work)
        works[task["name"]] = work
    if final:
        conditions = [works[name].is_terminated for name in doc.get("release_after", [])]
        workflow.add_condition(workflow_module.AndCondition(conditions=conditions, true_works=[works[final]]))
    return workflow


def split_for_submit(workflow: Any, max_request_length: int, cache_dir: str | os.PathLike[str]) -> list[Any]:
    """The workflow steps to upload before ``workflow`` itself (``[]`` if it is small enough).

    iDDS's own ``split_workflow_to_steps`` moves large dependency maps to files under
    ``cache_dir`` and marks ``workflow`` as having steps, so submitting it afterwards sends
    only references.  Call it once per workflow object.
    """
    os.makedirs(cache_dir, exist_ok=True)
    steps = workflow.split_workflow_to_steps(
        request_cache=str(cache_dir), max_request_length=max_request_length
    )
    return list(steps or [])
