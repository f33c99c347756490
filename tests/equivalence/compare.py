"""Run ours and the reference on one workflow + config, and read both into one shape.

Ours is read back from OUTDIR (workflow.json and jobs/*.jsonl), so the comparison covers
the written contract and not just the in-memory IR.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler import compile_workflow, write_outdir
from compiler.tools.check import check_outdir


@dataclass
class Result:
    """Tasks in order with their dependency tasks and maps, and the final release set."""

    tasks: list[str]
    dependency_tasks: dict[str, list[str]]
    dependency_maps: dict[str, list[dict[str, Any]]]
    final_task: str | None
    release_after: list[str]
    works: dict[str, dict[str, Any]]
    files_to_pre_stage: dict[str, str]
    maps: dict[str, Any]  # map file name -> content
    task_jobs: dict[str, list[str]] | None = None  # ours only: job names per task


def config_with(tmp: Path, base: Path, **overrides: Any) -> Path:
    """A submit YAML that includes `base` and overrides some keys (exercises includeConfigs)."""
    path = tmp / "submit.yaml"
    includes = [str(base)]
    if "includeConfigs_" in overrides:  # a second include, after the base
        includes.append(overrides.pop("includeConfigs_"))
    lines = [f"includeConfigs: {json.dumps(includes)}"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in overrides.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_ours(gw: Any, config: Path, outdir: Path) -> Result:
    compiled = compile_workflow(gw, str(config), submit_path=outdir)
    write_outdir(compiled, outdir, force=True)
    assert check_outdir(outdir) == []  # every compared folder also passes `panda-compile check`
    doc = json.loads((outdir / "workflow.json").read_text())
    maps = {}
    for task in doc["tasks"]:
        with open(outdir / task["jobs_file"]) as fh:
            maps[task["name"]] = [json.loads(line) for line in fh]
    return Result(
        [t["name"] for t in doc["tasks"]],
        {t["name"]: t["dependency_tasks"] for t in doc["tasks"]},
        maps,
        doc["final_task"],
        doc["release_after"],
        {t["name"]: t.get("work", {}) for t in doc["tasks"]},
        {k: v.replace(str(outdir), "<SUBMIT>") for k, v in doc["files_to_pre_stage"].items()},
        _map_files(outdir),
        _task_jobs(compiled.workflow),
    )


def _task_jobs(wf: Any) -> dict[str, list[str]]:
    return {t.name: [wf.graph.jobs[j].name for j in t.jobs] for t in wf.tasks}


def _map_files(folder: Path) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "workflow.json"}


def run_reference(reference: Any, gw: Any, config: Path, out_prefix: Path) -> Result:
    # prepare may touch the workflow; give it its own copy so ours sees the original.
    gw_copy = pickle.loads(pickle.dumps(gw, pickle.HIGHEST_PROTOCOL))
    summary = reference.reference_summary(
        reference.run_reference_prepare(gw_copy, str(config), str(out_prefix))
    )
    works = summary["works"]
    return Result(
        [w["name"] for w in works],
        {w["name"]: w["dependency_tasks"] for w in works},
        {w["name"]: w["dependency_map"] for w in works},
        summary["final_tasks"][0] if summary["final_tasks"] else None,
        summary["sink_tasks"],
        {w["name"]: w["work"] for w in works},
        {k: v.replace(str(out_prefix), "<SUBMIT>") for k, v in summary["files_to_pre_stage"].items()},
        _map_files(out_prefix),
    )
