"""validate: reject workflows PanDA cannot run, with every problem named at once.

The reference plugin finds these late (a KeyError deep in command-line embedding, a
networkx exception, a silently empty executable); here each is one line naming the job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from ..errors import PassError, job_problem
from ..ir import Graph, Job, Workflow
from .base import capped


def find_cycle(graph: Graph) -> list[str] | None:
    """Names of jobs on one dependency cycle, or None when the graph is acyclic (Kahn)."""
    n = len(graph.jobs)
    pending = [len(p) for p in graph.parents]
    children: list[list[int]] = [[] for _ in range(n)]
    for child, plist in enumerate(graph.parents):
        for p in plist:
            children[p].append(child)
    ready = [i for i in range(n) if pending[i] == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        for c in children[node]:
            pending[c] -= 1
            if pending[c] == 0:
                ready.append(c)
    if done == n:
        return None
    # Walk parents among the unfinished nodes until one repeats: that loop is a cycle.
    node = next(i for i in range(n) if pending[i] > 0)
    seen: dict[int, int] = {}
    path: list[int] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(p for p in graph.parents[node] if pending[p] > 0)
    return [graph.jobs[i].name for i in path[seen[node] :]]


def job_problems(job: Job) -> Iterable[str]:
    """Problems of one job that make its command line or task impossible to build."""
    if not job.label:
        yield job_problem(job.name, None, "has no label")
    if job.executable is None or not job.executable.src_uri:
        yield job_problem(job.name, job.label, "has no executable")
    missing = [k for k in job.command.params if k not in job.cmdvals]
    if missing:
        names = ", ".join(f"{{{k}}}" for k in missing)
        yield job_problem(job.name, job.label, f"command line uses {names} but cmdvals has no value for it")


def _duplicates(jobs: list[Job]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for job in jobs:
        if job.name in seen:
            problems.append(job_problem(job.name, job.label, "job name is not unique"))
        seen.add(job.name)
    return problems


@dataclass(frozen=True)
class Validate:
    """Check the flattened graph and the final job."""

    name: ClassVar[str] = "validate"
    description: ClassVar[str] = "acyclic, unique names, labels, executables, placeholder values, final job"

    def run(self, wf: Workflow) -> Workflow:
        assert wf.graph is not None
        problems: list[str] = []
        jobs = list(wf.graph.jobs)
        if wf.final_job is not None:
            jobs.append(wf.final_job)
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            problems += _duplicates(jobs)
        for job in jobs:  # the common case costs a few attribute reads per job
            command = job.command
            executable = command.executable
            cmdvals = job.cmdvals
            if (
                not job.label
                or executable is None
                or not executable.src_uri
                or not all(k in cmdvals for k in command.params)
            ):
                problems.extend(job_problems(job))
        if wf.final_is_workflow:
            problems.append("the final job is a workflow; PanDA needs a single final job")
        cycle = find_cycle(wf.graph)
        if cycle:
            problems.append("dependency cycle: " + " -> ".join([*cycle, cycle[0]]))
        if problems:
            raise PassError(capped(problems))
        return wf
