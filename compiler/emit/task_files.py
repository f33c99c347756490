"""Write `tasks/<task>.json`: a task's JEDI taskParamMap, with the document header.

The parameters come from `task_params.json.j2` (bundled or a site's override) through
`taskparams.render_task_params_text`, exactly as iDDS's `DomaPanDAWork.create_processing`
would build them (run-time values as `@@NAME@@` placeholders). The file is

    {
      "$schema": ".../task-params-1.0.json",
      "generator": {"name": "panda-compile", "version": "..."},
      "input_digest": "sha256:...",
      "task": "<task name>",
      "task_params": { ...the rendered map, its lines indented... }
    }

The rendered text is kept as the template laid it out (one key per line, `pfnList` on one
line) instead of being re-serialised: `json.dumps(indent=2)` runs in pure Python and
would cost more than the rendering. It is parsed once, for validation.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2

from ..errors import CompileError
from ..ir import Task, Workflow
from ..safepath import child
from .provenance import header
from .taskparams import TEMPLATE_NAME, render_task_params_text
from .validate import TASK_PARAMS_SCHEMA, task_params_problems


def task_params_file(task: Task) -> str:
    """Where a task's parameters live, relative to OUTDIR."""
    return f"tasks/{task.name}.json"


def _template_file(env: jinja2.Environment) -> str:
    """The file the task template comes from (bundled or override), for error messages."""
    try:
        return env.get_template(TEMPLATE_NAME).filename or TEMPLATE_NAME
    except jinja2.TemplateError:
        return TEMPLATE_NAME


def dependency_inputs(wf: Workflow, task: Task) -> list[dict[str, Any]]:
    """What the template context needs of the task's dependency map, cheaply.

    `task_context` reads each entry's `name` and whether it has dependencies; only event
    service reads more (order ids, groups), so only event-service and final tasks get the
    full entries. At 10^5 jobs this saves building 10^5 nested dependency lists.
    """
    if task.is_final or (task.work is not None and task.work.es):
        return list(wf.dependency_entries(task))
    assert wf.graph is not None
    names, parents = wf.entry_names_or_pseudo(), wf.graph.parents
    return [{"name": names[j], "dependencies": bool(parents[j])} for j in task.jobs]


def task_document_text(head: dict[str, Any], task_name: str, rendered: str) -> str:
    """The file's text: header keys, then the rendered map indented under `task_params`.

    Raw newlines only occur between JSON tokens (a JSON string cannot hold one), so
    indenting every line keeps valid JSON valid.
    """
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    lines.append(f'  "task": {json.dumps(task_name)},')
    body = rendered.strip().replace("\n", "\n  ")
    return "{\n" + "\n".join(lines) + f'\n  "task_params": {body}\n}}\n'


def write_task_file(
    wf: Workflow, task: Task, folder: Path, env: jinja2.Environment, input_digest: str
) -> str:
    """Render, validate and write one task file; returns its SHA-256 (hex)."""
    assert task.work is not None
    rendered = render_task_params_text(task.name, task.work.as_kwargs(), dependency_inputs(wf, task), env=env)
    template = _template_file(env)
    try:
        params = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise CompileError(
            f"{template}: rendered invalid JSON for task '{task.name}' "
            f"(output line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    head = header(TASK_PARAMS_SCHEMA, input_digest)
    document = {**head, "task": task.name, "task_params": params}
    relative = task_params_file(task)
    problems = task_params_problems(document, relative)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CompileError(f"{template}: rendered task parameters break the schema: {problems[0]}{more}")
    data = task_document_text(head, task.name, rendered).encode("utf-8")
    with open(child(folder, relative), "wb") as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest()
