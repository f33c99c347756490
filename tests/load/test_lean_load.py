"""The compiler's own load (`lean=True`) and ingest's `consume`: less memory, the same output.

The compile of a pickle path restores payload jobs as `model.LeanJob` records and empties
the source graph's adjacency after ingest; a compile of an object already in memory does
neither. Both must write the same bytes.
"""

from __future__ import annotations

import filecmp
import pickle
from pathlib import Path
from typing import Any

import pytest

from compiler import api
from compiler.errors import LoadError
from compiler.ir import JobAttrs
from compiler.load import ingest as ingest_module
from compiler.load import load_generic_workflow, model, unpickler
from compiler.load.ingest import ingest
from compiler.load.layouts import JOB_FIELDS

from . import craft

DATA = Path(__file__).resolve().parent.parent / "data" / "load"
OLD_PICKLES = sorted(DATA.glob("ctrl_bps-*.pickle"))
SUBMIT_CONFIG = str(Path(__file__).resolve().parents[2] / "benchmarks" / "submit-example.yaml")


def _lean_job() -> Any:
    return object.__new__(unpickler._per_load_records(checking=False, lean=True)["GenericWorkflowJob"])


def _full_state(**values: Any) -> dict[str, Any]:
    state: dict[str, Any] = dict.fromkeys(JOB_FIELDS)
    state.update(name="isr_1", label="isr", tags={"visit": 1}, quanta_counts={"isr": 1}, cmdvals={"a": 1})
    state.update(values)
    return state


def test_attribute_fields_are_the_irs() -> None:
    assert JobAttrs.__slots__ == model.LEAN_ATTR_FIELDS  # type: ignore[attr-defined]
    assert set(model.LEAN_FIELDS + model.LEAN_ATTR_FIELDS) <= set(JOB_FIELDS)


def test_a_lean_job_keeps_what_the_compiler_reads() -> None:
    job = _lean_job()
    state = _full_state(request_memory=4096, queue="q", environment={"X": "1"})
    cmdvals = state["cmdvals"]
    job.__setstate__((None, state))
    assert (job.name, job.label, job.request_memory, job.queue) == ("isr_1", "isr", 4096, "q")
    assert job.cmdvals is cmdvals and job.environment == {"X": "1"}
    assert job.node_type is model.NodeType.PAYLOAD
    assert state == {}
    with pytest.raises(AttributeError, match="'tags' is not kept by the compiler's lean load"):
        _ = job.tags
    with pytest.raises(AttributeError, match="no attribute 'colour'"):
        _ = job.colour


def test_later_jobs_are_checked_by_count_and_by_the_fields_read() -> None:
    setstate = unpickler._lean_setstate({})
    setstate(_lean_job(), (None, _full_state()))  # the first job: compared key by key
    later = {**{k: v for k, v in _full_state().items() if k != "priority"}, "colour": 1}
    with pytest.raises(unpickler._NeedsChecking):
        setstate(_lean_job(), (None, later))
    with pytest.raises(unpickler._NeedsChecking):
        setstate(_lean_job(), (None, {**_full_state(), "colour": 1}))


def test_equal_attributes_are_one_tuple() -> None:
    setstate = unpickler._lean_setstate({})
    first, second = _lean_job(), _lean_job()
    setstate(first, (None, _full_state(request_memory=int("4096"), priority=500)))
    setstate(second, (None, _full_state(request_memory=int("4096"), priority=500)))
    assert first.attr_values is second.attr_values


def test_an_unhashable_attribute_is_kept_for_ingest_to_refuse() -> None:
    job = _lean_job()
    job.__setstate__((None, _full_state(request_memory=[1, 2])))
    assert job.request_memory == [1, 2]


def test_own_tags_and_counts_are_emptied_shared_ones_kept() -> None:
    own_tags, own_counts = {"visit": 1}, {"isr": 1}
    job = _lean_job()
    job.__setstate__((None, _full_state(tags=own_tags, quanta_counts=own_counts)))
    # In a load the memo holds one more reference to each; here the test's own does.
    assert own_tags == {} and own_counts == {}

    shared = {"visit": 2}
    holders = [shared, shared]  # e.g. another live object refers to the same dict
    job = _lean_job()
    job.__setstate__((None, _full_state(tags=shared, quanta_counts=shared)))
    assert shared == {"visit": 2} and holders


@pytest.mark.parametrize(
    "state",
    [
        _full_state(colour="red"),  # an unknown field
        {k: v for k, v in _full_state().items() if k != "priority"},  # a field missing
        {**{k: v for k, v in _full_state().items() if k != "priority"}, "colour": 1},  # a read one renamed
        {**{k: v for k, v in _full_state().items() if k != "mail_to"}, "colour": 1},  # an unread one renamed
        ({"a": 1}, _full_state()),
        "x",
    ],
    ids=["unknown", "missing", "renamed-read", "renamed-unread", "dict-part", "string"],
)
def test_any_other_state_needs_the_checking_path(state: Any) -> None:
    with pytest.raises(unpickler._NeedsChecking):
        _lean_job().__setstate__(state if isinstance(state, tuple | str) else (None, state))


def test_a_file_the_fast_path_cannot_read_gives_full_stand_ins(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    job = gw.get_job("isr_1")
    state = {f: getattr(job, f) for f in JOB_FIELDS}
    del state["mail_to"]  # an older writer that left a field unset
    gw.nodes["isr_1"]["job"] = craft.StateOverride(model.GenericWorkflowJob, (None, state))
    path = tmp_path / "gw.pickle"
    path.write_bytes(craft.dumps(gw))
    loaded = load_generic_workflow(path, lean=True)
    assert isinstance(loaded.get_job("isr_1"), model.GenericWorkflowJob)
    assert isinstance(loaded.get_job("isr_2"), model.GenericWorkflowJob)  # the whole file, reread


def test_a_refused_global_is_refused_in_lean_loads_too(tmp_path: Path) -> None:
    path = tmp_path / "evil.pickle"
    path.write_bytes(b"\x80\x04cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(LoadError, match=r"refused to load global 'os\.system'"):
        load_generic_workflow(path, lean=True)


def test_consume_empties_the_adjacency_only(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    for node in ("group_1", "noop_1"):  # no groups: one graph
        gw.remove_node(node)
    path = tmp_path / "gw.pickle"
    path.write_bytes(craft.dumps(gw))
    kept = ingest(load_generic_workflow(path, lean=True))
    source = load_generic_workflow(path, lean=True)
    consumed = ingest(source, consume=True)
    assert len(source) == 0 and not source._pred and not source._job_labels._label_to_jobs
    assert source._inputs and source._final is not None
    assert consumed.source.parents == kept.source.parents
    assert [j.name for j in consumed.source.jobs] == [j.name for j in kept.source.jobs]
    first = consumed.source.jobs[1]
    assert consumed.complete(first) == kept.complete(kept.source.jobs[1])
    assert consumed.complete(first).inputs  # the file mappings survive


def test_consume_keeps_graphs_with_groups(tmp_path: Path) -> None:
    path = tmp_path / "gw.pickle"
    path.write_bytes(craft.dumps(craft.small_workflow()))
    source = load_generic_workflow(path, lean=True)
    ingest(source, consume=True)
    assert len(source) > 0  # groups' jobs are completed through their own graph's lookups


def _same_tree(left: Path, right: Path) -> None:
    lefts = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    rights = sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file())
    assert lefts == rights
    _, mismatch, errors = filecmp.cmpfiles(left, right, [str(p) for p in lefts], shallow=False)
    assert mismatch == [] and errors == []


def _compile_both(pickle_path: Path, config: Any, tmp_path: Path) -> None:
    lean = api.compile_workflow(str(pickle_path), config)  # lean load, consumed
    full = api.compile_workflow(load_generic_workflow(pickle_path), config, submit_path=pickle_path.parent)
    full.input_digest = lean.input_digest  # the only intended difference: how the input is named
    api.write_outdir(lean, tmp_path / "lean")
    api.write_outdir(full, tmp_path / "full")
    _same_tree(tmp_path / "lean", tmp_path / "full")


def _completed(wf: Any, graph: Any) -> list[Any]:
    """Every node of `graph` as ingest completes it, groups recursively."""
    out: list[Any] = [graph.parents, graph.label_order, graph.label_jobs]
    for job in graph.jobs:
        if job.group is not None:
            out.append((job.name, _completed(wf, job.group)))
        else:
            out.append(wf.complete(job) if job.source is not None else job)
    return out


@pytest.mark.parametrize("path", OLD_PICKLES, ids=[p.stem for p in OLD_PICKLES])
def test_old_release_pickles_ingest_the_same(path: Path) -> None:
    loaded = load_generic_workflow(path, lean=True)
    assert any(isinstance(j, model.LeanJob) for _, j in loaded.nodes(data="job"))
    lean = ingest(loaded, consume=True)
    full = ingest(load_generic_workflow(path))
    assert _completed(lean, lean.source) == _completed(full, full.source)
    assert lean.final_job == full.final_job and lean.run_attrs == full.run_attrs


def test_a_realistic_workflow_compiles_the_same(workflows: Any, tmp_path: Path) -> None:
    gw = workflows.make_workflow(3000, seed=1, options=workflows.WorkflowOptions(style="transform"))
    path = tmp_path / "in" / "bps_generic_workflow.pickle"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(gw, protocol=pickle.HIGHEST_PROTOCOL))
    _compile_both(path, SUBMIT_CONFIG, tmp_path)


def test_the_c_level_ingest_builds_the_per_job_loops_jobs(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    for node in ("group_1", "noop_1"):
        gw.remove_node(node)
    path = tmp_path / "gw.pickle"
    path.write_bytes(craft.dumps(gw))
    loaded = load_generic_workflow(path, lean=True)
    names, nodes = ingest_module._named_nodes(loaded)
    converter = ingest_module._JobConverter(loaded, ingest_module._Interner())
    fast = ingest_module._payload_jobs(nodes, converter)
    assert fast is not None
    slow = [converter(node) for node in nodes]
    assert fast == slow and [j.name for j in fast] == names


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("arguments", ["run"], "arguments"), ("cmdvals", "x=1", "cmdvals"), ("arguments", 7, "arguments")],
)
def test_a_bad_job_is_named_whichever_way_ingest_goes(field: str, value: Any, message: str) -> None:
    gw = craft.small_workflow()
    for node in ("group_1", "noop_1"):
        gw.remove_node(node)
    object.__setattr__(gw.get_job("calibrate_2"), field, value)
    with pytest.raises(LoadError, match=rf"calibrate_2.*{message}"):
        ingest(gw)


def test_no_cmdvals_is_an_empty_mapping_as_before() -> None:
    gw = craft.small_workflow()
    for node in ("group_1", "noop_1"):
        gw.remove_node(node)
    object.__setattr__(gw.get_job("calibrate_2"), "cmdvals", None)
    jobs = {job.name: job for job in ingest(gw).source.jobs}
    assert jobs["calibrate_2"].cmdvals == {} and jobs["calibrate_1"].cmdvals == {}
