"""validate: reject workflows PanDA cannot run, with every problem named at once.

The reference plugin finds these late (a KeyError deep in command-line embedding, a
networkx exception, a silently empty executable); here each is one line naming the job.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import networkx

from ..errors import PassError, job_problem
from ..ir import Graph, Job, Workflow
from .base import capped


def _edges_follow_label_order(graph: Graph) -> list[tuple[int, int]] | None:
    """The same-label edges, if every other edge goes forward in the source's label order.

    Then only same-label edges can close a cycle (a cycle through several labels needs an
    edge going back), and those are few, usually none. None when this does not apply.
    All C-level maps: at 10^6 edges this costs a fraction of a Kahn sort in Python.
    """
    if graph.label_order is None:
        return None
    rank = {label: i for i, label in enumerate(graph.label_order)}
    job_rank = list(map(rank.get, map(_LABEL, graph.jobs), itertools.repeat(-1)))
    children = list(
        itertools.chain.from_iterable(map(itertools.repeat, range(len(graph.jobs)), map(len, graph.parents)))
    )
    parents = list(itertools.chain.from_iterable(graph.parents))
    child_rank = list(map(job_rank.__getitem__, children))
    parent_rank = list(map(job_rank.__getitem__, parents))
    if -1 in job_rank or any(map(operator.gt, parent_rank, child_rank)):
        return None
    same = itertools.compress(zip(parents, children, strict=True), map(operator.eq, parent_rank, child_rank))
    return list(same)


def find_cycle(graph: Graph) -> list[str] | None:
    """Names of jobs on one dependency cycle, or None when the graph is acyclic."""
    same_label = _edges_follow_label_order(graph)
    if same_label is not None:
        try:
            cycle = networkx.find_cycle(networkx.DiGraph(same_label)) if same_label else []
        except networkx.NetworkXNoCycle:
            cycle = []
        return [graph.jobs[u].name for u, _ in cycle] or None
    return _kahn_cycle(graph)


def _kahn_cycle(graph: Graph) -> list[str] | None:
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


def _all_jobs_fine(jobs: list[Job]) -> bool:
    """Whether no job has a problem `job_problems` would report, in C-level passes.

    Labels are checked per job, executables per distinct command, and `{params}` against
    each job's cmdvals as one set comparison per job: no Python code runs per job.
    """
    if not all(map(_LABEL, jobs)):
        return False
    commands = list(map(_COMMAND, jobs))
    distinct = dict(zip(map(id, commands), commands, strict=True))
    if not all(c.executable is not None and c.executable.src_uri for c in distinct.values()):
        return False
    needed = {key: frozenset(c.params) for key, c in distinct.items()}
    params = map(needed.__getitem__, map(id, commands))
    return all(map(operator.le, params, map(dict.keys, map(_CMDVALS, jobs))))


_LABEL = operator.attrgetter("label")
_NAME = operator.attrgetter("name")
_COMMAND = operator.attrgetter("command")
_CMDVALS = operator.attrgetter("cmdvals")


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
        if len(set(map(_NAME, jobs))) != len(jobs):
            problems += _duplicates(jobs)
        if not _all_jobs_fine(jobs):  # rare: find and name every problem, job by job
            for job in jobs:
                problems.extend(job_problems(job))
        if wf.final_is_workflow:
            problems.append("the final job is a workflow; PanDA needs a single final job")
        cycle = find_cycle(wf.graph)
        if cycle:
            problems.append("dependency cycle: " + " -> ".join([*cycle, cycle[0]]))
        if problems:
            raise PassError(capped(problems))
        return wf
