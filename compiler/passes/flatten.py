"""flatten: inline job groups and remove noop jobs, keeping every ordering they implied.

ctrl_bps uses `GenericWorkflowGroup` (a sub-DAG as one node) and `GenericWorkflowNoopJob`
(a node that only orders others) to express ordering between sets of jobs. PanDA tasks
only know job-to-job dependencies, so:

* an edge into a group attaches to the group's source jobs, an edge out of it leaves from
  its sink jobs (groups nest);
* a job after a noop depends on whatever the noop depended on, through chains of noops.

Most workflows have neither; then the graph is passed through untouched (the source's own
label order stays valid and later passes match the reference plugin exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import PassError
from ..ir import Graph, Job, NodeKind, Workflow


@dataclass
class _Expanded:
    """A graph with groups inlined (noops still present), built up node by node."""

    jobs: list[Job]
    parents: list[list[int]]


def _inline(graph: Graph, out: _Expanded) -> tuple[list[list[int]], list[list[int]]]:
    """Append `graph` to `out` with groups inlined.

    Returns, per node of `graph`, the indices in `out` that an incoming edge must reach
    (entries) and that an outgoing edge leaves from (exits).
    """
    entries: list[list[int]] = []
    exits: list[list[int]] = []
    for job in graph.jobs:
        if job.kind is NodeKind.GROUP and job.group is not None:
            start = len(out.jobs)
            inner_entries, inner_exits = _inline(job.group, out)
            inner = job.group
            has_child = [False] * len(inner.jobs)
            for plist in inner.parents:
                for p in plist:
                    has_child[p] = True
            entries.append(
                [i for k in range(len(inner.jobs)) if not inner.parents[k] for i in inner_entries[k]]
            )
            exits.append([i for k in range(len(inner.jobs)) if not has_child[k] for i in inner_exits[k]])
            if len(out.jobs) == start:  # an empty group still orders what is around it
                out.jobs.append(Job(name=job.name, label=job.label, kind=NodeKind.NOOP))
                out.parents.append([])
                entries[-1] = exits[-1] = [start]
        else:
            index = len(out.jobs)
            out.jobs.append(job)
            out.parents.append([])
            entries.append([index])
            exits.append([index])
    for child, plist in enumerate(graph.parents):
        for parent in plist:
            for target in entries[child]:
                out.parents[target].extend(exits[parent])
    return entries, exits


def _resolve_noops(expanded: _Expanded) -> Graph:
    """Drop noop nodes, giving their children the noops' own (resolved) parents."""
    jobs, parents = expanded.jobs, expanded.parents
    resolved: dict[int, list[int]] = {}

    def through(node: int) -> list[int]:
        # Iterative so that long noop chains cannot hit the recursion limit.
        stack, on_stack = [node], {node}
        while stack:
            top = stack[-1]
            pending = [p for p in parents[top] if jobs[p].kind is NodeKind.NOOP and p not in resolved]
            cyclic = [p for p in pending if p in on_stack]
            if cyclic:
                raise PassError(f"noop job '{jobs[top].name}' is part of a dependency cycle")
            if pending:  # depth first, one at a time: the stack is exactly the current path
                stack.append(pending[0])
                on_stack.add(pending[0])
                continue
            stack.pop()
            on_stack.discard(top)
            out: list[int] = []
            for p in parents[top]:
                out.extend(resolved[p] if jobs[p].kind is NodeKind.NOOP else (p,))
            resolved[top] = list(dict.fromkeys(out))
        return resolved[node]

    keep = [i for i, job in enumerate(jobs) if job.kind is NodeKind.JOB]
    new_index = {old: new for new, old in enumerate(keep)}
    new_parents = []
    for old in keep:
        plist: list[int] = []
        for p in parents[old]:
            plist.extend(through(p) if jobs[p].kind is NodeKind.NOOP else (p,))
        new_parents.append(tuple(new_index[p] for p in dict.fromkeys(plist)))
    return Graph(tuple(jobs[i] for i in keep), tuple(new_parents))


@dataclass(frozen=True)
class Flatten:
    """Inline groups and remove noop jobs."""

    name: ClassVar[str] = "flatten"
    description: ClassVar[str] = "inline job groups, remove noop jobs keeping their ordering"

    def run(self, wf: Workflow) -> Workflow:
        source = wf.source
        if source.only_jobs():
            return wf.replace(graph=source)
        expanded = _Expanded([], [])
        _inline(source, expanded)
        return wf.replace(graph=_resolve_noops(expanded))
