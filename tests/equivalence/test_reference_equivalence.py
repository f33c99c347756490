"""Our tasks equal the reference plugin's `PanDAService.prepare` result.

Compared: task names and order, chunking (which jobs each task holds, via its dependency
map), dependency-map entries (names, order ids, dependencies), dependency task lists, the
final task and the tasks its release waits for. Where the reference is wrong (README,
"Deliberate differences") the difference itself is asserted, case by case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SUBMIT_EXAMPLE
from tests.equivalence.compare import config_with, run_ours, run_reference


def with_arguments(gw: Any) -> Any:
    """ctrl_bps' test workflows leave arguments None, which the reference cannot embed."""
    for name in gw:
        job = gw.get_job(name)
        if getattr(job, "arguments", "") is None:
            job.arguments = "run --qgraph-node-id {qgraphNodeId} --qgraph-id {qgraphId}"
            job.cmdvals = {"qgraphNodeId": f"node-{name}", "qgraphId": "qg-1"}
    final = gw.get_final()
    if final is not None and final.arguments is None:
        final.arguments = "{butlerConfig}"
        final.cmdvals = {"butlerConfig": "/repo/butler.yaml"}
    return gw


def assert_equal(tmp_path: Path, reference: Any, gw: Any, **overrides: Any) -> None:
    config = config_with(tmp_path, SUBMIT_EXAMPLE, uniqProcName=gw.name, **overrides)
    ref = run_reference(reference, gw, config, tmp_path / "ref")
    ours = run_ours(gw, config, tmp_path / "ours")
    assert ours.tasks == ref.tasks
    assert ours.dependency_tasks == ref.dependency_tasks
    for task in ref.tasks:
        assert ours.dependency_maps[task] == ref.dependency_maps[task], task
    assert ours.final_task == ref.final_task
    for task in ref.tasks:
        expected = {k: v for k, v in ref.works[task].items() if k != "task_name"}
        assert ours.works[task] == expected, task
    assert ours.files_to_pre_stage == ref.files_to_pre_stage
    assert ours.maps == ref.maps
    if ours.final_task is None:
        assert ours.release_after == ref.release_after == []
    else:
        assert ours.task_jobs is not None
        assert_release_sets(gw, ours.release_after, ref.release_after, ours.task_jobs)


def assert_release_sets(gw: Any, ours: list[str], ref: list[str], task_jobs: dict[str, list[str]]) -> None:
    """Ours holds every task with a sink job; the reference only those whose FIRST job is one.

    That is the deliberate difference of `test_difference_sink_in_later_job_of_chunk`;
    here it is checked to be the only one, on every workflow.
    """
    assert ref == [task for task in ours if gw.out_degree(task_jobs[task][0]) == 0]
    assert ours == [t for t, jobs in task_jobs.items() if any(gw.out_degree(j) == 0 for j in jobs)]


GW_TEST_CASES = {
    "3-label": ("make_3_label_workflow", {"final": True}),
    "3-label-no-final": ("make_3_label_workflow", {"final": False}),
    "5-label": ("make_5_label_workflow", {"final": True}),
    "5-label-uneven": ("make_5_label_workflow", {"final": True, "uneven": True}),
    "5-label-equiv-dims": ("make_5_label_workflow", {"final": False, "equiv_dims": True}),
}


@pytest.mark.parametrize("max_jobs", [30000, 2, 4, 5])
@pytest.mark.parametrize("case", sorted(GW_TEST_CASES))
def test_ctrl_bps_test_workflows(tmp_path: Path, reference: Any, case: str, max_jobs: int) -> None:
    from lsst.ctrl.bps.tests import gw_test_utils

    maker, kwargs = GW_TEST_CASES[case]
    gw = with_arguments(getattr(gw_test_utils, maker)("wf_test", **kwargs))
    assert_equal(tmp_path, reference, gw, maxJobsPerTask=max_jobs)


@pytest.mark.parametrize(("n_jobs", "max_jobs"), [(1000, 10000), (1000, 70), (30000, 10000)])
def test_realistic_workflows(
    tmp_path: Path, reference: Any, workflows: Any, n_jobs: int, max_jobs: int
) -> None:
    gw = workflows.make_workflow(n_jobs, seed=n_jobs)
    assert_equal(tmp_path, reference, gw, maxJobsPerTask=max_jobs)


def test_random_workflow_with_uneven_chunks(tmp_path: Path, reference: Any, workflows: Any) -> None:
    gw = workflows.make_random_workflow(700, seed=3)
    assert_equal(tmp_path, reference, gw, maxJobsPerTask=33)


# ----- deliberate differences ------------------------------------------------------------


def test_difference_sink_in_later_job_of_chunk(tmp_path: Path, reference: Any) -> None:
    """The reference links a task to the final job only if the FIRST job of its chunk is a sink."""
    from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob

    exe = GenericWorkflowExec("run", "/bin/run", False)
    gw = GenericWorkflow("wf_sink")

    def job(name: str, label: str) -> Any:
        return GenericWorkflowJob(name, label=label, executable=exe, arguments="", cmdvals={})

    gw.add_job(job("a_1", "a"))
    gw.add_job(job("a_2", "a"))  # a sink, second in the only task of label a
    gw.add_job(job("b_1", "b"), ["a_1"])
    gw.add_final(job("final", "finalJob"))
    config = config_with(tmp_path, SUBMIT_EXAMPLE, uniqProcName=gw.name)
    ref = run_reference(reference, gw, config, tmp_path / "ref")
    ours = run_ours(gw, config, tmp_path / "ours")
    assert ours.tasks == ref.tasks
    assert ours.dependency_maps == ref.dependency_maps
    assert ref.release_after == ["wf_sink_02_b_01"]  # the reference misses task a
    assert ours.release_after == ["wf_sink_01_a_01", "wf_sink_02_b_01"]


def test_difference_parent_later_in_same_label(tmp_path: Path, reference: Any) -> None:
    """A job whose parent comes later in its label: the reference's recovery loop names the
    job's entry by the job name, so its child's dependency (by pseudo-input) never matches."""
    from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob

    exe = GenericWorkflowExec("run", "/bin/run", False)
    gw = GenericWorkflow("wf_rec")

    def job(name: str, label: str) -> Any:
        args = "--qgraph-node-id {qgraphNodeId}"
        return GenericWorkflowJob(
            name, label=label, executable=exe, arguments=args, cmdvals={"qgraphNodeId": name}
        )

    gw.add_job(job("a_2", "a"))
    gw.add_job(job("a_1", "a"))
    gw.add_job_relationships("a_1", "a_2")  # a_2 is listed first but depends on a_1
    gw.add_job(job("b_1", "b"), ["a_2"])
    config = config_with(tmp_path, SUBMIT_EXAMPLE, uniqProcName=gw.name)
    ref = run_reference(reference, gw, config, tmp_path / "ref")
    ours = run_ours(gw, config, tmp_path / "ours")
    assert ours.tasks == ref.tasks and ours.dependency_tasks == ref.dependency_tasks
    pseudo = "a_2+qgraphNodeId:a_2+qgraphId:"
    ref_names = [e["name"] for e in ref.dependency_maps["wf_rec_01_a_01"]]
    our_names = [e["name"] for e in ours.dependency_maps["wf_rec_01_a_01"]]
    assert ref_names == ["a_2", "a_1+qgraphNodeId:a_1+qgraphId:"]  # entry named by job name
    assert our_names == [pseudo, "a_1+qgraphNodeId:a_1+qgraphId:"]
    # b_1 depends on a_2 by its pseudo-input: only our map has an entry of that name.
    (b_entry,) = ours.dependency_maps["wf_rec_02_b_01"]
    assert b_entry["dependencies"] == [{"task": "wf_rec_01_a_01", "inputname": pseudo}]
    assert ref.dependency_maps["wf_rec_02_b_01"] == ours.dependency_maps["wf_rec_02_b_01"]


# ----- payload modes and config shapes --------------------------------------------------

MODES = {
    "event-service": {"enableEventService": "isr:5,calibrate"},
    "event-service-walltime": {"enableEventService": "isr,characterizeImage:3", "maxWmsJobWalltime": 3000},
    "job-name-map": {"enableJobNameMap": True},
    "qnode-map": {"enableQnodeMap": True},
    "name-and-qnode-map": {
        "enableJobNameMap": True,
        "enableQnodeMap": True,
        "orderIdMapFilename": "ids.json",
    },
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_payload_modes(tmp_path: Path, reference: Any, workflows: Any, mode: str) -> None:
    gw = workflows.make_workflow(1000, seed=11)
    assert_equal(tmp_path, reference, gw, maxJobsPerTask=120, **MODES[mode])


def test_sections_per_label_site_and_cluster(tmp_path: Path, reference: Any, workflows: Any) -> None:
    """includeConfigs two deep, with pipetask/site/cluster/finalJob sections."""
    base = tmp_path / "base.yaml"
    base.write_text(
        f"includeConfigs: [{str(SUBMIT_EXAMPLE)!r}]\n"
        "taskType: rubin_test\n"
        "pipetask:\n"
        "  isr: {processingType: isr_proc, taskType: isr_task}\n"
        "  calibrate: {vo: rubin_calib}\n"
        "cluster:\n"
        "  characterizeImage: {computeSite: OTHER_SITE}\n"
        "site:\n"
        "  OTHER_SITE: {prodSourceLabel: test}\n"
        "finalJob: {processingType: merge_it}\n"
    )
    (tmp_path / "sub").mkdir()
    gw = workflows.make_workflow(1000, seed=5)
    assert_equal(tmp_path / "sub", reference, gw, maxJobsPerTask=150, includeConfigs_=str(base))
