"""Property-based checks of the whole pipeline over random DAGs, noops and groups included.

These are the workflows the reference plugin cannot compile (ZeroDivisionError,
NetworkXUnfeasible, "Could not recover"), so the check is against invariants rather than
against its output.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.ir import Graph, NodeKind
from compiler.passes.chunk import chunk_sizes
from compiler.passes.pipeline import run_pipeline
from tests.irbuild import graph, job, workflow

LABELS = ["isr", "calib", "coadd", "merge"]


@st.composite
def random_dag(draw: st.DrawFn, depth: int = 0, prefix: str = "") -> Graph:
    """Jobs in a random topological order; each may depend on any earlier node."""
    n = draw(st.integers(1 if depth else 2, 25 if not depth else 5))
    jobs, edges = [], []
    for i in range(n):
        kind = draw(
            st.sampled_from([NodeKind.JOB] * 6 + [NodeKind.NOOP] + ([NodeKind.GROUP] if depth < 2 else []))
        )
        name = f"{prefix}n{i}"
        if kind is NodeKind.GROUP:
            inner = draw(random_dag(depth=depth + 1, prefix=f"{name}."))
            jobs.append(job(name, "group", kind=kind, group=inner))
        else:
            jobs.append(
                job(name, draw(st.sampled_from(LABELS)) if kind is NodeKind.JOB else "noop", kind=kind)
            )
        if i:
            parents = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True))
            edges += [(jobs[p].name, name) for p in parents]
    return graph(jobs, edges, source_order=False)


def real_jobs(g: Graph) -> set[str]:
    out: set[str] = set()
    for j in g.jobs:
        if j.kind is NodeKind.JOB:
            out.add(j.name)
        elif j.kind is NodeKind.GROUP and j.group is not None:
            out |= real_jobs(j.group)
    return out


def ancestors_via_source(g: Graph) -> dict[str, set[str]]:
    """Real-job ancestors of every real job, computed on the unflattened source."""
    flat: dict[str, set[str]] = {}

    def walk(gr: Graph, outer_parents: set[str]) -> tuple[dict[str, set[str]], set[str]]:
        # returns per node name -> set of real ancestors, and the set of all real jobs in gr
        anc: dict[int, set[str]] = {}
        members: dict[int, set[str]] = {}
        has_child = {p for ps in gr.parents for p in ps}
        for i, j in enumerate(gr.jobs):  # jobs are in topological order by construction
            inherited = set(outer_parents) if not gr.parents[i] else set()
            for p in gr.parents[i]:
                inherited |= anc[p] | members[p]
            if j.kind is NodeKind.GROUP and j.group is not None:
                inner, everything = walk(j.group, inherited)
                flat.update(inner)
                members[i] = everything
                anc[i] = inherited
            else:
                members[i] = {j.name} if j.kind is NodeKind.JOB else set()
                anc[i] = inherited
                if j.kind is NodeKind.JOB:
                    flat[j.name] = inherited
        del has_child
        return flat, set().union(*members.values()) if members else set()

    walk(g, set())
    return flat


@settings(max_examples=150, deadline=None)
@given(random_dag(), st.integers(1, 7), st.booleans())
def test_invariants_on_random_dags(g: Graph, max_jobs: int, final: bool) -> None:
    wf = run_pipeline(workflow(g, final=final, max_jobs=max_jobs)).workflow
    assert wf.tasks is not None and wf.graph is not None and wf.pseudo_inputs is not None
    expected_jobs = real_jobs(g)
    task_index = {t.name: i for i, t in enumerate(wf.tasks)}
    entries_by_task = {t.name: list(wf.dependency_entries(t)) for t in wf.tasks}
    names_by_task = {name: {e["name"] for e in es} for name, es in entries_by_task.items()}

    # every job in exactly one task
    seen = [wf.graph.jobs[j].name for t in wf.tasks for j in t.jobs]
    assert sorted(seen) == sorted(expected_jobs)

    # chunk sizes: the reference's even split of each label block, never over the limit
    for block in wf.labels:
        sizes = [len(t.jobs) for t in wf.tasks if set(t.jobs) <= set(block.jobs)]
        assert sizes == chunk_sizes(len(block.jobs), max_jobs)

    # dependencies name existing tasks and pseudo-inputs, never a later task
    for ti, t in enumerate(wf.tasks):
        for e in entries_by_task[t.name]:
            for d in e["dependencies"]:
                assert d["task"] in task_index
                assert d["inputname"] in names_by_task[d["task"]]
                assert task_index[d["task"]] <= ti
        assert set(t.dependency_tasks) == {
            d["task"] for e in entries_by_task[t.name] for d in e["dependencies"]
        }

    # the flattened graph keeps exactly the orderings the source implied (transitively)
    flat_anc: dict[int, set[int]] = {}
    for j in _topo(wf.graph):
        flat_anc[j] = (
            set().union(*(flat_anc[p] | {p} for p in wf.graph.parents[j])) if wf.graph.parents[j] else set()
        )
    by_name = {wf.graph.jobs[j].name: {wf.graph.jobs[a].name for a in anc} for j, anc in flat_anc.items()}
    assert by_name == ancestors_via_source(g)

    # final task released after every task that holds a job without children
    if final:
        children = wf.graph.children_counts()
        assert set(wf.release_after) == {t.name for t in wf.tasks if any(children[j] == 0 for j in t.jobs)}
    else:
        assert wf.final_task is None

    # deterministic
    again = run_pipeline(workflow(g, final=final, max_jobs=max_jobs)).workflow
    assert [list(again.dependency_entries(t)) for t in again.all_tasks()] == [
        list(wf.dependency_entries(t)) for t in wf.all_tasks()
    ]


def _topo(g: Graph) -> list[int]:
    import networkx

    dg = networkx.DiGraph()
    dg.add_nodes_from(range(len(g.jobs)))
    dg.add_edges_from((p, c) for c, ps in enumerate(g.parents) for p in ps)
    return list(networkx.topological_sort(dg))
