"""A compiled OUTDIR read back as a job graph: what `run`, `graph` and `view` work from.

The folder is untrusted, so it must pass `check` first (schemas, manifest digests, every
dependency naming a job of a listed dependency task); the reader then relies on the
shape check guarantees. Jobs are numbered in file order (tasks in workflow.json order,
entries in line order), so a smaller number is "earlier" wherever there is a choice:
that is the run order of `run --dry-run` and of `run --workers 1`.

The final task's job depends on no entry; iDDS releases it once the sink tasks have
ended, which for a local run means: after every other selected job ended or was blocked.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CompileError
from ..safepath import UnsafePathError, bounded_lines, open_inside, read_inside
from .check import check_outdir


class PlanError(CompileError):
    """An OUTDIR `run`/`graph`/`view` cannot work from; the message names file or option."""


@dataclass
class Plan:
    """The jobs of an OUTDIR and their parents, by job number (see the module doc)."""

    outdir: Path
    doc: dict[str, Any]  # workflow.json
    job_task: list[int] = field(default_factory=list)  # job -> task index
    job_name: list[str] = field(default_factory=list)  # job -> entry name
    parents: list[tuple[int, ...]] = field(default_factory=list)
    task_jobs: list[range] = field(default_factory=list)  # task index -> its job numbers
    final_job: int | None = None
    _maps: dict[str, Any] = field(default_factory=dict, repr=False)  # map file name -> parsed

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """workflow.json's tasks, in its order (the final task last)."""
        return self.doc["tasks"]

    def children(self) -> list[list[int]]:
        """job -> the jobs that depend on it (built on demand: `run` needs it, `view` not)."""
        out: list[list[int]] = [[] for _ in self.job_name]
        for child, parents in enumerate(self.parents):
            for parent in parents:
                out[parent].append(child)
        return out

    def read_map(self, name: str) -> Any:
        """A name-map file of the folder (order-id or qnode map), parsed once."""
        cache = self._maps
        if name not in cache:
            listed = {os.path.basename(m["file"]): m["file"] for m in self.doc["maps"]}
            if name not in listed:
                raise PlanError(
                    f"{self.outdir}: the jobs use map file {name!r}, which workflow.json does not list"
                )
            cache[name] = json.loads(read_inside(self.outdir, listed[name]))
        return cache[name]


def _entries(outdir: Path, relative: str) -> Iterator[dict[str, Any]]:
    with open_inside(outdir, relative) as fh:
        for line in bounded_lines(fh):
            yield json.loads(line)


def load_plan(outdir: str | os.PathLike[str]) -> Plan:
    """The job graph of a compiled folder; `PlanError` if `check` finds any problem."""
    folder = Path(outdir)
    problems = check_outdir(folder)
    if problems:
        more = f" (and {len(problems) - 1} more: see `panda-compile check`)" if len(problems) > 1 else ""
        raise PlanError(f"{folder} fails check: {problems[0]}{more}")
    try:
        doc = json.loads(read_inside(folder, "workflow.json"))
        plan = Plan(folder, doc)
        index: dict[tuple[str, str], int] = {}
        wanted: list[list[tuple[str, str]]] = []  # resolved once every entry is known:
        for t, task in enumerate(doc["tasks"]):  # a parent may come later in its own task
            first = len(plan.job_name)
            for entry in _entries(folder, task["jobs_file"]):
                index[task["name"], entry["name"]] = len(plan.job_name)
                plan.job_task.append(t)
                plan.job_name.append(entry["name"])
                wanted.append([(d["task"], d["inputname"]) for d in entry["dependencies"]])
            plan.task_jobs.append(range(first, len(plan.job_name)))
            if task["name"] == doc["final_task"]:
                plan.final_job = first
        plan.parents = [tuple(index[d] for d in deps) for deps in wanted]
    except (OSError, UnsafePathError, ValueError, KeyError) as exc:
        raise PlanError(f"{folder}: changed while being read ({exc})") from None
    return plan


def select_jobs(
    plan: Plan, labels: Sequence[str] = (), tasks: Sequence[str] = (), max_jobs: int | None = None
) -> list[bool]:
    """Which jobs to run: those of the named labels/tasks (all without), at most `max_jobs`
    per task, plus every job they need (their ancestors). The final job is in when nothing
    is named or its label/task is."""
    known_labels = {t["label"] for t in plan.tasks}
    known_tasks = {t["name"] for t in plan.tasks}
    for option, names, known in (("--labels", labels, known_labels), ("--tasks", tasks, known_tasks)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise PlanError(f"{option}: no {option[2:-1]} named {unknown[0]!r} in {plan.outdir}")
    chosen = [False] * len(plan.job_name)
    stack: list[int] = []
    for t, task in enumerate(plan.tasks):
        if (labels or tasks) and task["label"] not in labels and task["name"] not in tasks:
            continue
        jobs = plan.task_jobs[t]
        stack.extend(jobs if max_jobs is None else jobs[:max_jobs])
    while stack:
        job = stack.pop()
        if not chosen[job]:
            chosen[job] = True
            stack.extend(plan.parents[job])
    return chosen


def run_order(plan: Plan, chosen: Sequence[bool]) -> list[int]:
    """The chosen jobs, parents first, earliest-numbered first where free; the final job last."""
    waiting = [0] * len(plan.job_name)
    children = plan.children()
    ready: list[int] = []
    for job, parents in enumerate(plan.parents):
        if chosen[job] and job != plan.final_job:
            waiting[job] = len(parents)
            if not parents:
                ready.append(job)
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        job = heapq.heappop(ready)
        order.append(job)
        for child in children[job]:
            if chosen[child]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
    stuck = [j for j, c in enumerate(chosen) if c and waiting[j] and j != plan.final_job]
    if stuck:
        task = plan.tasks[plan.job_task[stuck[0]]]
        raise PlanError(f"{task['jobs_file']}: job {plan.job_name[stuck[0]]!r} is in a dependency cycle")
    if plan.final_job is not None and chosen[plan.final_job]:
        order.append(plan.final_job)
    return order


def chosen_count(chosen: Iterable[bool]) -> int:
    """How many jobs are selected."""
    return sum(1 for c in chosen if c)
