"""Workflows the reference plugin cannot compile, which panda-compile does.

ctrl_bps's own test workflows with job groups or noop jobs make the reference fail
(`ZeroDivisionError`, `networkx.NetworkXUnfeasible`, "Could not recover from dependency
issues"). Each case asserts that the reference still fails (so the case stays meaningful)
and that our folder passes `check` and keeps every ordering of the source DAG.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx
import pytest

from compiler import compile_workflow, write_outdir
from compiler.tools.check import check_outdir
from tests.conftest import SUBMIT_EXAMPLE
from tests.equivalence.compare import config_with, run_reference
from tests.equivalence.test_reference_equivalence import with_arguments

CASES = {  # what the reference raises (lsst-ctrl-bps-panda 30.0.0)
    "make_3_label_workflow_noop_sort": (networkx.NetworkXUnfeasible, "contains a cycle"),
    "make_3_label_workflow_groups_sort": (ZeroDivisionError, "division"),
    "make_5_label_workflow_2_groups": (RuntimeError, "Could not recover from dependency issues"),
    "make_5_label_workflow_middle_groups": (RuntimeError, "Could not recover from dependency issues"),
}


def payload_jobs(gw: Any) -> dict[str, set[str]]:
    """Every payload job (groups opened) with its payload ancestors, from the source DAG."""
    flat = networkx.DiGraph()

    def add(graph: Any, prefix_edges: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
        entries: dict[str, list[str]] = {}
        exits: dict[str, list[str]] = {}
        for name in graph:
            node = graph.get_job(name)
            if getattr(node, "node_type", 2) == 3:  # group
                inner_sources, inner_sinks = add(node, prefix_edges)
                entries[name], exits[name] = inner_sources, inner_sinks
            else:
                flat.add_node(name, payload=getattr(node, "node_type", 2) == 2)
                entries[name] = exits[name] = [name]
        for u, v in graph.edges:
            prefix_edges += [(a, b) for a in exits[u] for b in entries[v]]
        sources = [x for n in graph if graph.in_degree(n) == 0 for x in entries[n]]
        sinks = [x for n in graph if graph.out_degree(n) == 0 for x in exits[n]]
        return sources, sinks

    edges: list[tuple[str, str]] = []
    add(gw, edges)
    flat.add_edges_from(edges)
    payload = [n for n, d in flat.nodes(data=True) if d.get("payload")]
    return {n: {a for a in networkx.ancestors(flat, n) if flat.nodes[a].get("payload")} for n in payload}


@pytest.mark.parametrize("maker", sorted(CASES))
def test_reference_fails_ours_compiles(tmp_path: Path, reference: Any, maker: str) -> None:
    from lsst.ctrl.bps.tests import gw_test_utils

    gw = with_arguments(getattr(gw_test_utils, maker)("wf_hard", True))
    config = config_with(tmp_path, SUBMIT_EXAMPLE, uniqProcName=gw.name, maxJobsPerTask=2)
    error, text = CASES[maker]
    with pytest.raises(error, match=text):
        run_reference(reference, gw, config, tmp_path / "ref")

    compiled = compile_workflow(gw, str(config), submit_path=tmp_path / "ours")
    outdir = write_outdir(compiled, tmp_path / "ours")
    assert check_outdir(outdir) == []
    doc = json.loads((outdir / "workflow.json").read_text())
    tasks = [t["name"] for t in doc["tasks"]]
    wf = compiled.workflow
    task_of_job = {wf.graph.jobs[j].name: t.name for t in wf.tasks for j in t.jobs}
    expected = payload_jobs(gw)
    assert sorted(task_of_job) == sorted(expected)  # every payload job in exactly one task
    names = wf.entry_names_or_pseudo()
    index = {job.name: i for i, job in enumerate(wf.graph.jobs)}
    ancestors = {n: {wf.graph.jobs[p].name for p in _ancestors(wf.graph.parents, index[n])} for n in expected}
    assert ancestors == expected  # every ordering the groups and noops implied, and no other
    for task in wf.tasks:
        for entry in wf.dependency_entries(task):
            for dep in entry["dependencies"]:
                assert tasks.index(dep["task"]) <= tasks.index(task.name)  # never a later task
                assert dep["inputname"] in names
    assert doc["final_task"] == tasks[-1]


def _ancestors(parents: tuple[tuple[int, ...], ...], j: int) -> set[int]:
    seen: set[int] = set()
    stack = list(parents[j])
    while stack:
        p = stack.pop()
        if p not in seen:
            seen.add(p)
            stack.extend(parents[p])
    return seen
