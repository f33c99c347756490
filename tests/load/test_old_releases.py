"""Pickles written by older lsst-ctrl-bps releases load with the data those releases saw.

The pickles and their expected snapshots in tests/data/load were written by the real code
of lsst-ctrl-bps 26.0.2 (hand-written slots, networkx 3.2.1), 28.0.2 (slots dataclasses,
networkx 3.4.2) and 29.2.1 (node classes with noop jobs and groups, networkx 3.5); see
tests/data/load/make_old_pickles.py.  No lsst is needed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.load import NodeType, load_generic_workflow, model

from .snapshot import snapshot

DATA = Path(__file__).resolve().parent.parent / "data" / "load"
PICKLES = sorted(DATA.glob("ctrl_bps-*.pickle"))


def test_data_present() -> None:
    releases = {p.name.split("-")[1] for p in PICKLES}
    assert releases == {"26.0.2", "28.0.2", "29.2.1"}


@pytest.mark.parametrize("path", PICKLES, ids=[p.stem for p in PICKLES])
def test_old_release_pickle(path: Path) -> None:
    gw = load_generic_workflow(path)
    expected = json.loads(path.with_suffix(".json").read_text())
    assert json.loads(json.dumps(snapshot(gw))) == expected


@pytest.mark.parametrize("path", PICKLES, ids=[p.stem for p in PICKLES])
def test_old_release_objects_are_stand_ins(path: Path) -> None:
    gw = load_generic_workflow(path)
    job = gw.get_job("isr_301_10")
    assert isinstance(job, model.GenericWorkflowJob)
    assert job.node_type is NodeType.PAYLOAD
    assert isinstance(job.executable, model.GenericWorkflowExec)
    assert all(isinstance(f, model.GenericWorkflowFile) for f in gw.get_job_inputs(job.name))
    assert type(gw._job_labels._label_graph) is model.PlainDiGraph
    # Cached networkx views of the old networkx were dropped, not restored.
    assert not any(isinstance(v, model.DroppedView) for v in vars(gw).values())
    assert "__networkx_cache__" in vars(gw)
    assert gw.in_degree("isr_301_10") == 1 and list(gw.successors("isr_301_10")) == ["calibrate_301_10"]


def test_groups_and_noops_of_29() -> None:
    (path,) = [p for p in PICKLES if "29.2.1" in p.name and "final-job" in p.name]
    gw = load_generic_workflow(path)
    group = gw.get_job("group_order1_301")
    assert type(group) is model.GenericWorkflowGroup
    assert (group.name, group.label, group.blocking, group.node_type) == (
        "group_order1_301",
        "order1",
        True,
        NodeType.GROUP,
    )
    assert list(group) == ["grpA_301", "grpB_301"]
    assert group.labels == ["grpA", "grpB"]
    assert [j.name for j in group.get_jobs_by_label("grpB")] == ["grpB_301"]
    assert group.get_job_outputs("grpB_301", data=False) == ["grp_out"]
    assert gw.get_job("noop_order_1").node_type is NodeType.NOOP
    assert list(gw.predecessors("group_order1_301")) == ["pipetaskInit"]
