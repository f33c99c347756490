"""The stand-in classes offer the ctrl_bps read API with the real semantics."""

from __future__ import annotations

import pickle
from pathlib import Path

import networkx
import pytest

from compiler.load import NodeType, is_generic_workflow, load_generic_workflow, model

from . import craft
from .snapshot import snapshot


@pytest.fixture
def loaded(tmp_path: Path) -> model.GenericWorkflow:
    path = tmp_path / "bps_generic_workflow.pickle"
    path.write_bytes(craft.dumps(craft.small_workflow()))
    return load_generic_workflow(path)


def test_graph_api(loaded: model.GenericWorkflow) -> None:
    assert loaded.name == "crafted" and loaded.run_attrs == {"bps_run": "crafted"} and loaded.run_id is None
    assert len(loaded) == 9 and "isr_1" in loaded and "nope" not in loaded
    assert list(loaded.predecessors("calibrate_1")) == ["isr_1"]
    assert list(loaded.successors("pipetaskInit")) == ["isr_1", "isr_2", "group_1"]
    assert loaded.in_degree("pipetaskInit") == 0 and loaded.out_degree("pipetaskInit") == 3
    assert list(loaded) == list(networkx.topological_sort(networkx.DiGraph(loaded)))
    assert ("isr_1", "calibrate_1") in loaded.edges
    assert loaded.labels == ["pipetaskInit", "isr", "calibrate", "coadd"]
    assert [j.name for j in loaded.get_jobs_by_label("isr")] == ["isr_1", "isr_2"]
    assert loaded.get_jobs_by_label("no-such-label") == []
    with pytest.raises(KeyError):
        loaded.get_job("nope")


def test_files_and_executables(loaded: model.GenericWorkflow) -> None:
    assert loaded.get_job_inputs("isr_1", data=False) == ["runQgraphFile"]
    assert loaded.get_job_outputs("isr_1", data=False) == ["out_isr_1"]
    assert loaded.get_job_outputs("isr_2", data=False, transfer_only=True) == []
    assert loaded.get_job_inputs("pipetaskInit") == []
    (qgraph,) = loaded.get_job_inputs("isr_2")
    assert (qgraph.src_uri, qgraph.wms_transfer, qgraph.job_access_remote, qgraph.job_shared) == (
        "/submit/run.qgraph",
        True,
        True,
        True,
    )
    assert loaded.get_files() == ["runQgraphFile", "out_isr_1", "out_calibrate_1", "out_coadd_1"]
    assert len(loaded.get_files(data=True, transfer_only=False)) == 7
    assert loaded.get_executables() == ["finalJob.bash"]
    assert loaded.get_executables(transfer_only=False) == ["pipetask", "finalJob.bash"]
    pipetask = loaded.get_executables(data=True, transfer_only=False)[0]
    assert pipetask == model.GenericWorkflowExec("pipetask", "/bin/pipetask", False)


def test_nodes(loaded: model.GenericWorkflow) -> None:
    job = loaded.get_job("isr_1")
    assert job.node_type is NodeType.PAYLOAD and job.request_memory == 2048 and job.tags == {"visit": 1}
    assert job.arguments == "run {qgraphFile}" and job.cmdvals == {} and job.compute_cloud is None
    assert loaded.get_job("noop_1").node_type is NodeType.NOOP
    group = loaded.get_job("group_1")
    assert type(group) is model.GenericWorkflowGroup and is_generic_workflow(group)
    assert (group.name, group.label, group.blocking) == ("group_1", "order1", True)
    assert group.node_type is NodeType.GROUP
    assert list(group) == ["grpA_1", "grpB_1"] and list(group.edges) == [("grpA_1", "grpB_1")]
    assert group.labels == ["grpA", "grpB"] and group.get_job("grpB_1").label == "grpB"
    assert [j.name for j in group.get_jobs_by_label("grpA")] == ["grpA_1"]
    final = loaded.get_final()
    assert final.name == "finalJob" and final.executable.transfer_executable is True


def test_cyclic_labels_raise_like_ctrl_bps() -> None:
    gw = model.GenericWorkflow("cyclic")
    craft.add_job(gw, craft.make_job("a1", "a"))
    craft.add_job(gw, craft.make_job("b1", "b"), ["a1"])
    craft.add_job(gw, craft.make_job("a2", "a"), ["b1"])
    assert list(gw) == ["a1", "b1", "a2"]
    with pytest.raises(networkx.NetworkXUnfeasible):
        _ = gw.labels


def test_loaded_workflow_pickles_again(loaded: model.GenericWorkflow) -> None:
    again = pickle.loads(pickle.dumps(loaded))
    assert snapshot(again) == snapshot(loaded)
    assert type(again.get_job("isr_1")) is model.GenericWorkflowJob


def test_records() -> None:
    job = model.GenericWorkflowJob("j", "l", request_cpus=2)
    assert job.tags == {} and job.quanta_counts == {} and job.priority is None
    assert job == model.GenericWorkflowJob("j", "l", request_cpus=2) != model.GenericWorkflowJob("j", "l")
    assert hash(job) == hash("j") and repr(job).startswith("GenericWorkflowJob(name='j', label='l'")
    gwfile = model.GenericWorkflowFile("f", "/f", True)
    assert (gwfile.job_access_remote, gwfile.job_shared) == (False, False)
    with pytest.raises(TypeError, match="missing required argument"):
        model.GenericWorkflowJob("only-name")
    with pytest.raises(TypeError, match="unexpected or repeated argument"):
        model.GenericWorkflowExec("e", colour="red")


def test_is_generic_workflow() -> None:
    assert is_generic_workflow(model.GenericWorkflow("w"))
    assert not is_generic_workflow(networkx.DiGraph())
    assert not is_generic_workflow(model.GenericWorkflowJob("j", "l"))
    assert not is_generic_workflow("bps_generic_workflow.pickle")
