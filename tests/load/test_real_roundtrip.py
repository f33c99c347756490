"""Workflows made with the real ctrl_bps API load with the same data as with `pickle.load`."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import pytest

from compiler.load import NodeType, is_generic_workflow, load_generic_workflow, model
from compiler.load.layouts import layouts_of

from .snapshot import snapshot

bps = pytest.importorskip("lsst.ctrl.bps")
gw_test_utils = pytest.importorskip("lsst.ctrl.bps.tests.gw_test_utils")

MAKERS = [
    "make_3_label_workflow",
    "make_3_label_workflow_noop_sort",
    "make_3_label_workflow_groups_sort",
    "make_5_label_workflow",
    "make_5_label_workflow_2_groups",
]


def payload_jobs(gw: Any) -> list[Any]:
    """Payload jobs of a workflow and of its groups."""
    jobs = []
    for name in gw.nodes:
        job = gw.get_job(name)
        if job.node_type == bps.GenericWorkflowNodeType.GROUP:
            jobs += payload_jobs(job)
        elif job.node_type == bps.GenericWorkflowNodeType.PAYLOAD:
            jobs.append(job)
    return jobs


def enrich(gw: Any) -> None:
    """Give the test workflow what real BPS workflows have: arguments, files, run attributes."""
    qgraph = bps.GenericWorkflowFile("runQgraphFile", "/submit/run.qgraph", True, True, True)
    for index, job in enumerate(payload_jobs(gw)):
        job.arguments = f"run {{qgraphFile}} --qgraph-node-id {{qgraphNodeId}} {index}"
        job.cmdvals = {"qgraphFile": "run.qgraph", "qgraphNodeId": f"id-{index}"}
        job.request_memory = 2048 + index
        job.environment = {"OMP_NUM_THREADS": "1"}
        if job.name in gw:
            gw.add_job_inputs(job.name, [qgraph])
            out = bps.GenericWorkflowFile(f"out_{index}", f"/o/{index}", index % 2 == 0)
            gw.add_job_outputs(job.name, [out])
    gw.run_attrs.update({"bps_run": gw.name, "bps_isjob": "True"})
    gw.run_id = "42.0"
    list(gw)  # BPS iterates before saving: the pickle then holds cached networkx views


def save(gw: Any, path: Path, protocol: int | None = None) -> Path:
    with open(path, "wb") as stream:
        pickle.dump(gw, stream, protocol=protocol)
    return path


def real_load(path: Path) -> Any:
    with open(path, "rb") as stream:
        return pickle.load(stream)


@pytest.mark.parametrize("final", [True, False])
@pytest.mark.parametrize("maker", MAKERS)
def test_same_data_as_real_classes(tmp_path: Path, maker: str, final: bool) -> None:
    gw = getattr(gw_test_utils, maker)("wf", final)
    enrich(gw)
    path = save(gw, tmp_path / "bps_generic_workflow.pickle")
    real = real_load(path)
    ours = load_generic_workflow(path)
    assert type(ours) is model.GenericWorkflow
    assert snapshot(ours) == snapshot(real) == snapshot(gw)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_protocols(tmp_path: Path, protocol: int) -> None:
    gw = gw_test_utils.make_5_label_workflow_2_groups("wf", True)
    enrich(gw)
    path = save(gw, tmp_path / "wf.pickle", protocol)
    assert snapshot(load_generic_workflow(path)) == snapshot(real_load(path))


def test_final_workflow(tmp_path: Path) -> None:
    gw = gw_test_utils.make_3_label_workflow("wf", False)
    final = bps.GenericWorkflow("final")
    exe = bps.GenericWorkflowExec("final.sh", "/final.sh", True)
    final.add_job(bps.GenericWorkflowJob("finalA", "finalJob", executable=exe, arguments="a"))
    final.add_job(bps.GenericWorkflowJob("finalB", "finalJob", executable=exe, arguments="b"), ["finalA"])
    gw.add_final(final)
    path = save(gw, tmp_path / "wf.pickle")
    ours = load_generic_workflow(path)
    assert type(ours.get_final()) is model.GenericWorkflow
    assert snapshot(ours) == snapshot(real_load(path))


def test_use_real_classes(tmp_path: Path) -> None:
    gw = gw_test_utils.make_3_label_workflow_groups_sort("wf", True)
    enrich(gw)
    path = save(gw, tmp_path / "wf.pickle")
    loaded = load_generic_workflow(path, use_real_classes=True)
    assert type(loaded) is bps.GenericWorkflow
    assert isinstance(loaded.get_job("group_order1_301"), bps.GenericWorkflowGroup)
    assert snapshot(loaded) == snapshot(real_load(path))


def test_in_memory_real_workflow_is_accepted() -> None:
    gw = gw_test_utils.make_3_label_workflow("wf", True)
    assert is_generic_workflow(gw)
    grouped = gw_test_utils.make_3_label_workflow_groups_sort("g", False)
    assert is_generic_workflow(grouped.get_job("group_order1_301"))
    assert not is_generic_workflow(gw.get_job("pipetaskInit"))


def test_node_types_match(tmp_path: Path) -> None:
    assert {t.name: t.value for t in NodeType} == {t.name: t.value for t in bps.GenericWorkflowNodeType}
    gw = gw_test_utils.make_3_label_workflow_noop_sort("wf", False)
    ours = load_generic_workflow(save(gw, tmp_path / "wf.pickle"))
    for name in gw.nodes:
        assert ours.get_job(name).node_type == gw.get_job(name).node_type
        assert isinstance(ours.get_job(name).node_type, NodeType)


@pytest.mark.parametrize(
    "name", ["GenericWorkflowJob", "GenericWorkflowNoopJob", "GenericWorkflowGroup", "GenericWorkflowFile",
             "GenericWorkflowExec"],
)  # fmt: skip
def test_layout_table_matches_installed_release(name: str) -> None:
    real_fields = tuple(f.name for f in dataclasses.fields(getattr(bps, name)))
    assert real_fields in [layout.fields for layout in layouts_of(name)]
