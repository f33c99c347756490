"""The reference harness (benchmarks/reference_prepare.py) runs and summarises correctly.

Why: every comparison of panda-compile with the reference plugin goes through
``reference_summary``; if the harness silently dropped works, dependencies or the final
condition, those comparisons would pass for the wrong reason.  Needs lsst-ctrl-bps-panda
(skipped without it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

pytest.importorskip("lsst.ctrl.bps")
for _key, _value in (
    ("PANDA_BEHIND_REAL_LB", "1"),
    ("PANDACACHE_URL", "https://127.0.0.1:25443/server/panda"),
):
    os.environ.setdefault(_key, _value)
pytest.importorskip("lsst.ctrl.bps.panda")

import reference_prepare  # noqa: E402
import workflows  # noqa: E402

CONFIG = str(BENCHMARKS / "submit-example.yaml")


def _run(gw: Any, tmp_path: Path) -> dict[str, Any]:
    """Reference prepare + summary in a fresh out dir."""
    wms = reference_prepare.run_reference_prepare(gw, CONFIG, str(tmp_path / "submit"))
    assert (tmp_path / "submit" / "panda_workflow.pickle").is_file()
    return reference_prepare.reference_summary(wms)


def _check_well_formed(gw: Any, summary: dict[str, Any]) -> None:
    """Names, order, counts and references that any reference run must satisfy."""
    works = summary["works"]
    labels = list(workflows.labels_of(gw))
    names = [w["name"] for w in works]
    assert len(set(names)) == len(names)
    prefix = f"{gw.name}_"
    for number, name in enumerate(names, start=1):
        assert name.startswith(f"{prefix}{number:02d}_")
    # Works come label by label in the workflow's label order, final last.
    seen = [label for label in labels if any(n.endswith(f"_{label}_01") for n in names)]
    assert seen == labels
    regular = [w for w in works if "_finalJob_" not in w["name"]]
    assert sum(len(w["dependency_map"]) for w in regular) == gw.number_of_nodes()
    order: dict[str, int] = {}
    for position, work in enumerate(works):
        order[work["name"]] = position
        for parent in work["dependency_tasks"]:
            assert order[parent] < position
        ids = [item["order_id"] for item in work["dependency_map"] if "order_id" in item]
        assert ids == sorted(ids)
        for item in work["dependency_map"]:
            assert {dep["task"] for dep in item["dependencies"]} <= set(work["dependency_tasks"])
    assert summary["final_tasks"] == [names[-1]]
    assert summary["sink_tasks"] and set(summary["sink_tasks"]) <= set(names[:-1])
    assert "runQgraphFile" in summary["files_to_pre_stage"]


def test_reference_on_drp_1k(tmp_path: Path) -> None:
    """1k-job DRP workflow: six tasks, one per label, consolidateVisitSummary is the sink."""
    gw = workflows.make_workflow(1000, seed=1)
    summary = _run(gw, tmp_path)
    _check_well_formed(gw, summary)
    works = summary["works"]
    assert len(works) == len(gw.labels) + 1
    counts = {w["name"].split("_")[-2]: len(w["dependency_map"]) for w in works}
    assert counts == {**dict(gw.job_counts), "finalJob": 1}
    assert summary["sink_tasks"] == [works[-2]["name"]]
    final = works[-1]
    assert final["dependency_map"] == [
        {"name": "pure_pseudoinput+qgraphNodeId:+qgraphId:", "submitted": False, "dependencies": []}
    ]
    consolidate = works[-2]["work"]
    assert consolidate["task_queue"] == "SLAC_Rubin_Extra_Himem"
    assert consolidate["task_rss"] == 8192 and consolidate["maxwalltime"] == 7200
    assert consolidate["output_collections"] == [
        {"scope": "pseudo_dataset", "name": "pseudo_output_collection#5"}
    ]
    assert summary["files_to_pre_stage"]["job_executable"].endswith("/final_job.bash")


def test_reference_on_other_shapes(tmp_path: Path) -> None:
    """Transform-style arguments and a random DAG also go through and stay well formed."""
    transform_style = workflows.WorkflowOptions(style="transform", detectors=20, global_fanin=True)
    gw = workflows.make_workflow(400, seed=2, options=transform_style)
    _check_well_formed(gw, _run(gw, tmp_path / "transform"))
    gw = workflows.make_random_workflow(500, seed=3)
    _check_well_formed(gw, _run(gw, tmp_path / "random"))
