"""Compiled OUTDIRs for runtime tests, made from the reference plugin's works.

Why from the reference: the runtime side (build the iDDS workflow, submit it) must be
tested on OUTDIRs whose tasks, dependency maps and ``DomaPanDAWork`` keyword arguments are
known to be right, independently of the compiler being finished.  So the reference's
``prepare`` runs on a generated workflow and its works are written in the OUTDIR layout
the compiler writes (``compiler/emit/writer.py``):

- ``workflow.json``: ``name``, ``tasks`` (``name``, ``label``, ``job_count``,
  ``dependency_tasks``, ``jobs_file``, ``work``), ``final_task``, ``release_after``,
  ``files_to_pre_stage``;
- ``jobs/<task>.jsonl``: the task's dependency map, one entry per line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def label_of(task_name: str, workflow_name: str) -> str:
    """The label inside a reference task name ``{workflow}_{count:02d}_{label}_{chunk:02d}``."""
    inner = task_name[len(workflow_name) + 1 :] if task_name.startswith(workflow_name + "_") else task_name
    head, _, rest = inner.partition("_")
    label, _, chunk = rest.rpartition("_")
    return label if head.isdigit() and chunk.isdigit() and label else inner


def write_outdir_from_summary(summary: dict[str, Any], outdir: Path) -> Path:
    """Write ``reference_summary()`` output as a compiled OUTDIR; returns ``outdir``."""
    name = summary["workflow_name"]
    final_tasks = summary.get("final_tasks") or []
    (outdir / "jobs").mkdir(parents=True, exist_ok=True)
    tasks = []
    for work in summary["works"]:
        jobs_file = f"jobs/{work['name']}.jsonl"
        with open(outdir / jobs_file, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(entry) + "\n" for entry in work["dependency_map"])
        kwargs = {k: v for k, v in work["work"].items() if k != "task_name"}
        tasks.append(
            {
                "name": work["name"],
                "label": label_of(work["name"], name),
                "job_count": len(work["dependency_map"]),
                "dependency_tasks": list(work["dependency_tasks"]),
                "jobs_file": jobs_file,
                "work": kwargs,
            }
        )
    document = {
        "name": name,
        "tasks": tasks,
        "final_task": final_tasks[0] if final_tasks else None,
        "release_after": list(summary.get("sink_tasks") or []),
        "files_to_pre_stage": dict(summary.get("files_to_pre_stage") or {}),
    }
    (outdir / "workflow.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return outdir


def reference_outdir(
    reference: Any, workflows: Any, root: Path, n_jobs: int = 300
) -> tuple[Path, dict[str, Any]]:
    """Run the reference on ``make_workflow(n_jobs)``; returns (OUTDIR, reference summary).

    ``reference`` and ``workflows`` are the modules ``benchmarks/reference_prepare.py`` and
    ``benchmarks/workflows.py`` (the session fixtures of ``tests/conftest.py``).
    """
    generic_workflow = workflows.make_workflow(n_jobs)
    prepared = reference.run_reference_prepare(
        generic_workflow, reference.DEFAULT_CONFIG, str(root / "submit")
    )
    summary = reference.reference_summary(prepared)
    # Ours, compiled from the same workflow and config: `submit` runs `check` first, and a
    # hand-written folder would not pass it. The equivalence suites prove it equals `summary`.
    from compiler.api import compile_workflow, write_outdir

    outdir = root / "outdir"
    write_outdir(compile_workflow(generic_workflow, reference.DEFAULT_CONFIG, submit_path=outdir), outdir)
    return outdir, summary
