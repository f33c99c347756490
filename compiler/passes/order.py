"""order: fix the order of labels, and of jobs within a label.

Task numbers, chunk contents and order ids all follow from this order, so it must be the
reference plugin's: `GenericWorkflow.labels` (a topological sort of ctrl_bps' label graph)
and `get_jobs_by_label`. Ingest records both from the source. When flatten had to rebuild
the graph (groups, noops) the source's label graph is unusable (it contains the noop and
group labels, and may be cyclic), so the order is derived from the flattened graph: a
topological sort of its label graph, ties broken by where a label first appears.

Noop orderings can make labels depend on each other in a cycle (label1 of visit 2 after
label2 of visit 1) although jobs do not. Such a label is then split into waves, one block
per wave, so that every job's parents sit in earlier blocks or its own: tasks still only
depend on tasks before them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import networkx

from ..ir import Graph, LabelBlock, Workflow


def _label_ranks(graph: Graph) -> tuple[dict[str, int], bool]:
    """A rank per label that follows label dependencies as far as they allow.

    Returns the ranks and whether the label graph is acyclic. Labels of one strongly
    connected component (labels that depend on each other through different jobs, as noop
    orderings produce) are ranked by where they first appear.
    """
    first_seen: dict[str, int] = {}
    for job in graph.jobs:
        first_seen.setdefault(job.label, len(first_seen))
    label_graph = networkx.DiGraph()
    label_graph.add_nodes_from(first_seen)
    jobs = graph.jobs
    label_graph.add_edges_from(
        (jobs[p].label, jobs[c].label)
        for c, plist in enumerate(graph.parents)
        for p in plist
        if jobs[p].label != jobs[c].label
    )
    condensed = networkx.condensation(label_graph)
    comp_first = {c: min(first_seen[lb] for lb in condensed.nodes[c]["members"]) for c in condensed}
    comp_order = networkx.lexicographical_topological_sort(condensed, key=comp_first.__getitem__)
    ordered = [
        label
        for comp in comp_order
        for label in sorted(condensed.nodes[comp]["members"], key=first_seen.__getitem__)
    ]
    acyclic = len(condensed) == len(first_seen)
    return {label: rank for rank, label in enumerate(ordered)}, acyclic


def _waves(graph: Graph, rank: dict[str, int]) -> list[int]:
    """Per job, how many times its ancestry steps back in label rank.

    A job whose parent has a later-ranked label (possible only when labels depend on each
    other cyclically) must go to a later task of its label than its siblings: its wave.
    """
    nx_graph = networkx.DiGraph()
    nx_graph.add_nodes_from(range(len(graph.jobs)))
    nx_graph.add_edges_from((p, c) for c, plist in enumerate(graph.parents) for p in plist)
    jobs = graph.jobs
    wave = [0] * len(jobs)
    for c in networkx.topological_sort(nx_graph):
        rc = rank[jobs[c].label]
        for p in graph.parents[c]:
            w = wave[p] + (1 if rank[jobs[p].label] > rc else 0)
            if w > wave[c]:
                wave[c] = w
    return wave


def derived_blocks(graph: Graph) -> tuple[LabelBlock, ...]:
    """Label blocks for a graph whose source label order is unusable.

    Blocks follow a topological order of the label graph (ties: first appearance). If
    labels depend on each other cyclically, a label is split into waves so that every job
    still comes after all of its parents in block order.
    """
    rank, acyclic = _label_ranks(graph)
    wave = [0] * len(graph.jobs) if acyclic else _waves(graph, rank)
    blocks: dict[tuple[int, int], list[int]] = {}
    for i, job in enumerate(graph.jobs):
        blocks.setdefault((wave[i], rank[job.label]), []).append(i)
    return tuple(LabelBlock(graph.jobs[js[0]].label, tuple(js)) for _, js in sorted(blocks.items()))


def _source_order_fits(graph: Graph) -> bool:
    """Whether the source's label order covers exactly the graph's jobs."""
    if graph.label_order is None or graph.label_jobs is None:
        return False
    covered = sum(len(graph.label_jobs.get(label, ())) for label in graph.label_order)
    return covered == len(graph.jobs) and all(graph.label_jobs.get(lb) for lb in graph.label_order)


@dataclass(frozen=True)
class Order:
    """Label blocks in the reference's order."""

    name: ClassVar[str] = "order"
    description: ClassVar[str] = "labels in GenericWorkflow.labels order, jobs in get_jobs_by_label order"

    def run(self, wf: Workflow) -> Workflow:
        graph = wf.graph
        assert graph is not None
        if not _source_order_fits(graph):
            return wf.replace(labels=derived_blocks(graph))
        assert graph.label_order is not None and graph.label_jobs is not None
        label_jobs = graph.label_jobs
        return wf.replace(labels=tuple(LabelBlock(lb, tuple(label_jobs[lb])) for lb in graph.label_order))
