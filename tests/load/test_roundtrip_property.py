"""Property: any workflow pickled as ctrl_bps does loads back with the same API view."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from compiler.load import load_generic_workflow, model

from . import craft
from .snapshot import snapshot

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LABELS = ("isr", "calibrate", "coadd", "forced")
optional_int = st.none() | st.integers(min_value=0, max_value=10**6)
optional_text = st.none() | st.text(max_size=8)
small_dict = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


@st.composite
def workflows(draw: st.DrawFn) -> model.GenericWorkflow:
    """Random DAGs of payload jobs (edges only to earlier jobs), with files and a final job."""
    gw = model.GenericWorkflow(draw(st.text(min_size=1, max_size=10)))
    count = draw(st.integers(min_value=1, max_value=25))
    shared = model.GenericWorkflowFile("shared", "/s", True, True, True)
    for index in range(count):
        parents = draw(st.sets(st.integers(min_value=0, max_value=index - 1), max_size=3)) if index else set()
        fields: dict[str, Any] = {
            "request_memory": draw(optional_int),
            "compute_site": draw(optional_text),
            "tags": draw(small_dict),
            "cmdvals": draw(small_dict),
            "preemptible": draw(st.none() | st.booleans()),
            "retry_unless_exit": draw(st.none() | st.integers() | st.lists(st.integers(), max_size=3)),
        }
        job = craft.make_job(f"j{index}", draw(st.sampled_from(LABELS)), **fields)
        craft.add_job(gw, job, [f"j{p}" for p in sorted(parents)])
        output = model.GenericWorkflowFile(f"out{index}", None, draw(st.booleans()))
        craft.add_files(gw, job.name, [shared] if draw(st.booleans()) else [], [output])
    if draw(st.booleans()):
        gw._final = craft.make_job("final", "finalJob")
    gw.run_attrs.update(draw(small_dict))
    return gw


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gw=workflows())
def test_round_trip(gw: model.GenericWorkflow) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bps_generic_workflow.pickle"
        path.write_bytes(craft.dumps(gw))
        assert snapshot(load_generic_workflow(path)) == snapshot(gw)
