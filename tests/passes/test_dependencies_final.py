import dataclasses

import pytest

from compiler.errors import PassError
from compiler.ir import Command, Task
from compiler.passes.pipeline import DEFAULT_PIPELINE, PASSES, run_pipeline
from tests.irbuild import EXE, graph, job, workflow


def compile_(wf):
    return run_pipeline(wf).workflow


def test_pseudo_inputs_entries_and_dependency_tasks():
    jobs = [job("a_1"), job("a_2"), job("b_1")]
    wf = compile_(workflow(graph(jobs, [("a_1", "b_1"), ("a_2", "b_1")]), max_jobs=1))
    assert [t.name for t in wf.tasks] == ["wf_01_a_01", "wf_02_a_02", "wf_03_b_01"]
    assert wf.tasks[2].dependency_tasks == ("wf_01_a_01", "wf_02_a_02")
    (entry,) = wf.dependency_entries(wf.tasks[2])
    assert entry == {
        "name": "b_1+qgraphNodeId:id-b_1+qgraphId:qg1",
        "order_id": 0,
        "dependencies": [
            {"task": "wf_01_a_01", "inputname": "a_1+qgraphNodeId:id-a_1+qgraphId:qg1"},
            {"task": "wf_02_a_02", "inputname": "a_2+qgraphNodeId:id-a_2+qgraphId:qg1"},
        ],
    }
    assert [e["order_id"] for e in wf.dependency_entries(wf.tasks[1])] == [1]


def test_placeholder_not_in_command_line_gives_empty_value():
    j = dataclasses.replace(job("a_1"), command=Command.of(EXE, "run --qgraph-id {qgraphId}"))
    wf = compile_(workflow(graph([j], [])))
    assert wf.pseudo_inputs == ("a_1+qgraphNodeId:+qgraphId:qg1",)


def test_pseudo_input_name_too_long():
    wf = workflow(graph([job("a_1")], []))
    wf = wf.replace(options=dataclasses.replace(wf.options, max_name_length=20))
    with pytest.raises(
        PassError,
        match=r"pseudo-inputs: job 'a_1' \(label 'a'\): pseudo-input name is 36 characters, over the limit 20"
        r"$",
    ):
        compile_(wf)


def test_same_label_child_before_parent_is_named_by_pseudo_input():
    # Reference fault: its recovery loop names such an entry by job name. Ours: pseudo-input.
    jobs = [job("a_2"), job("a_1")]
    wf = compile_(workflow(graph(jobs, [("a_1", "a_2")])))
    entries = list(wf.dependency_entries(wf.tasks[0]))
    assert [e["name"] for e in entries] == [
        "a_2+qgraphNodeId:id-a_2+qgraphId:qg1",
        "a_1+qgraphNodeId:id-a_1+qgraphId:qg1",
    ]
    assert entries[0]["dependencies"] == [{"task": "wf_01_a_01", "inputname": entries[1]["name"]}]
    assert wf.tasks[0].dependency_tasks == ("wf_01_a_01",)


def test_final_task_released_after_every_task_holding_a_sink():
    # Reference fault: only the FIRST job of a chunk is checked for being a sink.
    jobs = [job("a_1"), job("a_2"), job("b_1")]
    wf = compile_(workflow(graph(jobs, [("a_1", "b_1")]), final=True))
    assert wf.final_task.name == "wf_03_finalJob_01"
    assert wf.release_after == ("wf_01_a_01", "wf_02_b_01")  # a_2 is a sink behind a_1
    assert list(wf.dependency_entries(wf.final_task)) == [
        {"name": "pure_pseudoinput+qgraphNodeId:+qgraphId:", "submitted": False, "dependencies": []}
    ]


def test_pass_names_are_unique_kebab_case():
    names = [p.name for p in DEFAULT_PIPELINE]
    assert len(set(names)) == len(names) == len(PASSES)
    assert all(n.replace("-", "").isalpha() and n == n.lower() for n in names)


def test_broken_pass_is_caught_by_verifier_and_named():
    class Broken:
        name = "broken"
        description = "drops a job from its task"

        def run(self, wf):
            t = wf.tasks[0]
            return wf.replace(tasks=(dataclasses.replace(t, jobs=t.jobs[1:]), *wf.tasks[1:]))

    passes = [cls() for cls in DEFAULT_PIPELINE[:4]] + [Broken()]
    with pytest.raises(PassError, match=r"^broken: 1 jobs are not in exactly one task"):
        run_pipeline(workflow(graph([job("a_1"), job("a_2")], [])), passes)


def test_stop_after_and_unknown_pass():
    run = run_pipeline(workflow(graph([job("a_1")], [])), stop_after="chunk")
    assert list(run.timings) == ["flatten", "validate", "order", "chunk"]
    assert run.workflow.pseudo_inputs is None
    with pytest.raises(PassError, match="no pass named 'nope'"):
        run_pipeline(workflow(graph([job("a_1")], [])), stop_after="nope")


def test_task_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Task("x", "a", 1, 1, ()).name = "y"  # type: ignore[misc]
