"""`panda-compile run OUTDIR`: the compiled payloads, run on this machine as PanDA would.

This module is the front: read and select (`plan`), decode (`commands`), then either
print the commands (`--dry-run`) or hand them to the scheduler (`scheduler`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from .commands import job_commands
from .plan import Plan, load_plan, run_order, select_jobs


@dataclass(frozen=True)
class Selection:
    """Which jobs to run (`--labels`, `--tasks`, `--max-jobs`) and how (`--as-pilot`)."""

    labels: Sequence[str] = ()
    tasks: Sequence[str] = ()
    max_jobs: int | None = None
    as_pilot: bool = False


def planned(
    outdir: str | os.PathLike[str], selection: Selection, environ: Mapping[str, str]
) -> tuple[Plan, list[int], dict[int, str]]:
    """(plan, jobs in run order, job -> command): everything decided before anything runs."""
    plan = load_plan(outdir)
    chosen = select_jobs(plan, selection.labels, selection.tasks, selection.max_jobs)
    order = run_order(plan, chosen)
    return plan, order, job_commands(plan, order, environ, selection.as_pilot)


def write_dry_run(
    plan: Plan, order: Sequence[int], commands: Mapping[int, str], out: TextIO, as_json: bool
) -> None:
    """The commands in run order: one JSON object per line, or a `# task name` header each."""
    lines = []
    for job in order:
        task = plan.tasks[plan.job_task[job]]["name"]
        if as_json:
            record = {"task": task, "name": plan.job_name[job], "command": commands[job]}
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            lines.append(f"# {task} {plan.job_name[job]}\n{commands[job]}\n")
    out.write("".join(lines))
