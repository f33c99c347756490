import dataclasses

import pytest

from compiler.cmdline import command_params
from compiler.errors import PassError
from compiler.ir import NO_COMMAND
from compiler.passes.flatten import Flatten
from compiler.passes.validate import Validate
from tests.irbuild import graph, job, workflow


def run(wf):
    return Validate().run(Flatten().run(wf))


def test_valid_workflow_passes():
    wf = workflow(graph([job("a_1"), job("b_1")], [("a_1", "b_1")]), final=True)
    assert run(wf).graph is not None


def test_cycle_is_named():
    wf = workflow(
        graph([job("a_1"), job("b_1"), job("c_1")], [("a_1", "b_1"), ("b_1", "c_1"), ("c_1", "b_1")])
    )
    with pytest.raises(PassError, match=r"dependency cycle: (b_1 -> c_1 -> b_1|c_1 -> b_1 -> c_1)"):
        run(wf)


def test_missing_placeholder_value_names_job_and_key():
    bad = dataclasses.replace(job("a_1"), cmdvals={"qgraphId": "x"})
    with pytest.raises(PassError, match=r"job 'a_1' \(label 'a'\): command line uses \{qgraphNodeId\}"):
        run(workflow(graph([bad], [])))


def test_missing_executable_and_label_and_duplicates_all_reported():
    no_exe = dataclasses.replace(job("a_1"), command=NO_COMMAND)
    no_label = dataclasses.replace(job("b_1"), label="")
    wf = workflow(graph([no_exe, no_label], []), final=False)
    with pytest.raises(PassError) as info:
        run(wf)
    text = "\n".join(info.value.problems)
    assert "job 'a_1' (label 'a'): has no executable" in text
    assert "job 'b_1': has no label" in text


def test_final_job_name_clash_and_final_workflow():
    wf = workflow(graph([job("finalJob", "x")], []), final=True)
    wf = wf.replace(final_is_workflow=True)
    with pytest.raises(PassError) as info:
        run(wf)
    text = "\n".join(info.value.problems)
    assert "job 'finalJob' (label 'finalJob'): job name is not unique" in text
    assert "final job is a workflow" in text


def test_command_params_follow_reference_pattern():
    # `${ENV}` is not a parameter; `{a}{b}` only finds `a` (the pattern needs a char before `{`).
    assert command_params("/bin/x ${HOME} {a} -x{b}") == ("a", "b")
    assert command_params("/bin/x {a}{b}") == ("a",)
