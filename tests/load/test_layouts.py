"""The layout table, layout detection, and pickles whose states are not what releases write.

Crafted pickles (see `craft.py`) stand in for layouts no release wrote: positional states
(a list of field values), missing fields, unknown fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compiler.errors import LoadError
from compiler.load import load_generic_workflow, model, unpickler
from compiler.load.layouts import LAYOUTS, RELEASES_CHECKED, LayoutError, detect_layout, layouts_of

from . import craft
from .snapshot import snapshot


def write(tmp_path: Path, data: bytes, name: str = "bps_generic_workflow.pickle") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_table_is_consistent() -> None:
    assert len(set(RELEASES_CHECKED)) == len(RELEASES_CHECKED) == 105
    keys = [(layout.cls, layout.fields) for layout in LAYOUTS]
    assert len(set(keys)) == len(keys)
    for layout in LAYOUTS:
        assert len(set(layout.fields)) == len(layout.fields)
        assert not set(layout.defaults) & set(layout.factories)
        assert set(layout.required) | set(layout.defaults) | set(layout.factories) == set(layout.fields)
        assert set(layout.types) <= set(layout.fields)
    assert len(layouts_of("GenericWorkflowJob")[0].fields) == 33


def test_detect_named_and_positional() -> None:
    fields = layouts_of("GenericWorkflowExec")[0].fields
    named = {"name": "a", "src_uri": None}
    assert detect_layout("GenericWorkflowExec", named) == named
    values = ["a", "/a", True]
    assert detect_layout("GenericWorkflowExec", values) == dict(zip(fields, values, strict=True))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"name": "a", "colour": "red"}, "GenericWorkflowExec with 2 fields matches no known layout"),
        ({"src_uri": "/a"}, "missing: name"),
        (["a", "/a", True, 4], "GenericWorkflowExec with 4 positional fields matches no known layout"),
        ([1, "/a", True], "GenericWorkflowExec with 3 positional fields"),
        ("a string", "unexpected pickled state of type str"),
    ],
)
def test_detect_rejects(state: Any, message: str) -> None:
    with pytest.raises(LayoutError) as info:
        detect_layout("GenericWorkflowExec", state)
    assert message in str(info.value)


def positional(obj: Any) -> craft.StateOverride:
    """The object pickled with a positional state (a list of its field values)."""
    return craft.StateOverride(obj._public, list(obj._values()))


def test_positional_states_load_like_named_ones(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    expected = snapshot(load_generic_workflow(write(tmp_path, craft.dumps(gw), "named.pickle")))
    for name in list(gw.nodes):
        job = gw.get_job(name)
        if isinstance(job, model.GenericWorkflowJob):
            gw._node[name]["job"] = positional(job)
    by_label = gw._job_labels._label_to_jobs
    gw._job_labels._label_to_jobs = {label: [positional(j) for j in jobs] for label, jobs in by_label.items()}
    path = write(tmp_path, craft.dumps(gw), "positional.pickle")
    loaded = load_generic_workflow(path)
    # Identity is lost in this crafted file (two StateOverrides per job), not the data.
    assert snapshot(loaded) == expected
    assert type(loaded.get_job("isr_1")) is not model.GenericWorkflowJob  # the per-load subclass
    assert isinstance(loaded.get_job("isr_1"), model.GenericWorkflowJob)


def test_unknown_field_names_class_and_count(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    job = gw.get_job("isr_1")
    state = dict(zip(job._layout.fields, job._values(), strict=True)) | {"gpu_count": 2}
    gw._node["isr_1"]["job"] = craft.StateOverride(model.GenericWorkflowJob, (None, state))
    path = write(tmp_path, craft.dumps(gw))
    with pytest.raises(LoadError) as info:
        load_generic_workflow(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "GenericWorkflowJob with 34 fields matches no known layout" in message
    assert "gpu_count" in message and "\n" not in message


def test_unknown_positional_layout(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    gw._node["isr_1"]["job"] = craft.StateOverride(model.GenericWorkflowJob, ["isr_1", "isr", *[None] * 38])
    with pytest.raises(LoadError, match="GenericWorkflowJob with 40 positional fields matches no known"):
        load_generic_workflow(write(tmp_path, craft.dumps(gw)))


def test_unknown_group_field(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    group = gw.get_job("group_1")
    slots = {"name": "group_1", "label": "order1", "colour": "red"}
    gw._node["group_1"]["job"] = craft.StateOverride(model.GenericWorkflowGroup, (dict(vars(group)), slots))
    with pytest.raises(LoadError, match=r"GenericWorkflowGroup with 3 fields .*colour"):
        load_generic_workflow(write(tmp_path, craft.dumps(gw)))


def test_missing_fields_take_the_real_defaults(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    for name in ("isr_1", "isr_2"):
        job = gw.get_job(name)
        state = {"name": job.name, "label": job.label, "tags": job.tags}
        gw._node[name]["job"] = craft.StateOverride(model.GenericWorkflowJob, (None, state))
    gwfile = model.GenericWorkflowFile("f")
    gw._inputs["isr_1"] = [craft.StateOverride(model.GenericWorkflowFile, (None, {"name": "f"}))]
    loaded = load_generic_workflow(write(tmp_path, craft.dumps(gw)))
    one, two = loaded.get_job("isr_1"), loaded.get_job("isr_2")
    assert (one.compute_cloud, one.request_memory, one.executable) == (None, None, None)
    assert one.tags == {"visit": 1} and one.label == "isr"
    assert one.environment == {} and one.environment is one.environment
    assert one.environment is not two.environment
    assert one.quanta_counts == {} and one.cmdvals == {} and one.profile == {}
    assert loaded.get_job_inputs("isr_1") == [gwfile]
    with pytest.raises(AttributeError, match="no attribute 'colour'"):
        _ = one.colour


def test_fast_path_checks_only_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regular pickles must not go through the per-object (slow) checks, except for groups."""
    checked: list[str] = []
    real_detect = unpickler.detect_layout

    def counting(cls_name: str, state: Any) -> dict[str, Any]:
        checked.append(cls_name)
        return real_detect(cls_name, state)

    monkeypatch.setattr(unpickler, "detect_layout", counting)
    load_generic_workflow(write(tmp_path, craft.dumps(craft.small_workflow())))
    assert checked == ["GenericWorkflowGroup"]
