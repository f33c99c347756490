"""The fast path's per-record hook: slots set, pickled state freed, odd states sent to checking."""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import pytest

from compiler.load import load_generic_workflow, unpickler

from . import craft


def _job_class() -> type:
    return unpickler._per_load_records(checking=False)["GenericWorkflowJob"]


def test_state_is_stored_and_its_dict_emptied() -> None:
    job = object.__new__(_job_class())
    slots = {"name": "isr_1", "label": "isr", "request_memory": 2048}
    job.__setstate__((None, slots))
    assert (job.name, job.label, job.request_memory) == ("isr_1", "isr", 2048)
    assert slots == {}  # the memo's reference no longer keeps the entries alive


@pytest.mark.parametrize(
    "state",
    [{"name": "x"}, ({"a": 1}, {"name": "x"}), (None, ["x"]), (None, {"name": "x"}, None), "x"],
)
def test_other_state_shapes_need_the_checking_path(state: Any) -> None:
    job = object.__new__(_job_class())
    with pytest.raises(unpickler._NeedsChecking):
        job.__setstate__(state)


def test_an_unknown_field_needs_the_checking_path() -> None:
    job = object.__new__(_job_class())
    with pytest.raises(AttributeError):
        job.__setstate__((None, {"name": "x", "colour": "red"}))


def test_the_hook_is_gone_after_the_load(tmp_path: Path) -> None:
    path = tmp_path / "gw.pickle"
    path.write_bytes(craft.dumps(craft.small_workflow()))
    loaded = load_generic_workflow(path)
    job = next(j for _, j in loaded.nodes(data="job") if type(j).__name__ == "GenericWorkflowJob")
    assert "__setstate__" not in type(job).__dict__
    assert pickle.loads(pickle.dumps(job)) == job


def test_a_pickled_counter_comes_back_as_its_mapping(tmp_path: Path) -> None:

    counts = collections.Counter({"isr": 3})
    payload = pickle.dumps({"c": counts, "empty": collections.Counter()}, protocol=pickle.HIGHEST_PROTOCOL)
    table = unpickler._stand_in_table(unpickler._per_load_records(checking=False))
    loaded = unpickler._SafeUnpickler(io.BytesIO(payload), table, real=False).load()
    assert loaded["c"] == counts and type(loaded["c"]) is dict
    assert loaded["empty"] == {}
