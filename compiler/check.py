"""`panda-compile check OUTDIR`: is a compiled folder complete, valid and self-consistent?

What CI runs on a folder before it is submitted (or after someone edited it). It checks

* every document against its schema, every line of every jobs file included (the fast
  acceptor first, jsonschema for the details of what it rejects; see emit/validate.py);
* the manifest: every file workflow.json lists exists with the SHA-256 it lists, and no
  file in jobs/ or tasks/ is unlisted;
* the graph: task names are unique, dependency tasks exist and come earlier, every
  dependency of every job names a listed dependency task and a job (pseudo-input) of
  it, the final task is last, the release set names tasks;
* the counts: a task's job_count is its number of lines, the workflow's is their sum,
  an order-id map has one entry per job;
* the task files: same header as workflow.json, the right task, a taskName iDDS would
  derive from it, and (without event service) a pfnList equal to the jobs file's names.

Problems are located as `file[:line][:json.path]`, e.g. `workflow.json:tasks[3].job_count`
or `jobs/<task>.jsonl:17:dependencies[0].inputname`; at most MAX_PROBLEMS per file.
Memory: the entry names of every task (to resolve dependencies), about 150 MB at 10^6 jobs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .emit.provenance import TOOL_NAME, schema_id
from .emit.summary import provenance_line
from .emit.validate import (
    MAX_PROBLEMS,
    TASK_PARAMS_SCHEMA,
    WORKFLOW_SCHEMA,
    Problem,
    entry_ok,
    entry_problems,
    map_problems,
    schema_problems,
    task_params_problems,
)

PSEUDO_FILE = "pseudo_file"  # iDDS's pfnList when a task has no entries


def _capped(problems: list[Problem], where: str) -> list[Problem]:
    """At most MAX_PROBLEMS for one file, then one line saying how many more."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], Problem(where, f"... and {len(problems) - MAX_PROBLEMS} more problems")]


def _read_json(path: Path, where: str) -> tuple[Any, bytes | None, list[Problem]]:
    """(document, raw bytes, problems) of a JSON file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, [Problem(where, f"cannot read: {exc.strerror or exc}")]
    try:
        return json.loads(data), data, []
    except (ValueError, UnicodeDecodeError) as exc:
        return None, data, [Problem(where, f"not valid JSON: {exc}")]


@dataclass
class _Checker:
    """State shared by the checks of one folder: the workflow document and what was read."""

    folder: Path
    doc: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)  # task name -> first index
    names: dict[str, set[str]] = field(default_factory=dict)  # task name -> its entry names
    job_entries: int = 0  # non-final entries seen, for the order-id map count

    def add(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    # ----- workflow.json alone -----------------------------------------------------------

    def check_workflow(self) -> None:
        tasks = self.doc["tasks"]
        for i, task in enumerate(tasks):
            if task["name"] in self.position:
                self.add(f"workflow.json:tasks[{i}].name", f"duplicate task name '{task['name']}'")
            else:
                self.position[task["name"]] = i
        for i, task in enumerate(tasks):
            for k, name in enumerate(task["dependency_tasks"]):
                where = f"workflow.json:tasks[{i}].dependency_tasks[{k}]"
                if name not in self.position:
                    self.add(where, f"no task named '{name}'")
                elif self.position[name] >= i:
                    self.add(where, f"task '{name}' is not earlier than this task (it is tasks[{self.position[name]}])")
        total = sum(t["job_count"] for t in tasks)
        if self.doc["job_count"] != total:
            self.add("workflow.json:job_count", f"{self.doc['job_count']} but the tasks' job_count add up to {total}")
        final = self.doc["final_task"]
        if final is not None and final != tasks[-1]["name"]:
            self.add("workflow.json:final_task", f"'{final}' is not the last task")
        for k, name in enumerate(self.doc["release_after"]):
            if name not in self.position:
                self.add(f"workflow.json:release_after[{k}]", f"no task named '{name}'")

    def check_unlisted(self) -> None:
        listed = {os.path.normpath(t[key]) for t in self.doc["tasks"] for key in ("jobs_file", "task_params_file")}
        for sub in ("jobs", "tasks"):
            folder = self.folder / sub
            for path in sorted(folder.iterdir()) if folder.is_dir() else ():
                relative = f"{sub}/{path.name}"
                if os.path.normpath(relative) not in listed:
                    self.add(relative, "not listed in workflow.json")
