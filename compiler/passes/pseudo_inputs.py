"""pseudo-inputs: give every job its pseudo-input name and order id.

PanDA tasks here have no real input files; iDDS tracks each job as a "pseudo input" whose
name is the job name followed by `+<param>:<value>` for every `placeholderParams` entry.
The edge-node decoder reads those values back to fill the job's command line, so a value
is present only when the job's command line uses `{param}` (otherwise empty), exactly as
the reference builds it. The order id is the job's position within its label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import PassError, job_problem
from ..ir import Command, Workflow
from .base import capped


def name_format(command: Command, params: tuple[str, ...]) -> str:
    """A `str.format` pattern giving the pseudo-input name from (job name, cmdvals).

    Built once per distinct command (a handful per workflow) so that each job costs one
    C-level `format` call: `{0}+qgraphNodeId:{1[qgraphNodeId]}+qgraphId:{1[qgraphId]}`.
    """
    parts = ["{0}"]
    for p in params:
        value = f"{{1[{p}]}}" if p in command.params else ""
        parts.append(f"+{_literal(p)}:{value}")
    return "".join(parts)


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class PseudoInputs:
    """Per-job pseudo-input names and order ids."""

    name: ClassVar[str] = "pseudo-inputs"
    description: ClassVar[str] = "pseudo-input name (job name + placeholder values) and order id per job"

    def run(self, wf: Workflow) -> Workflow:
        assert wf.graph is not None and wf.labels is not None
        params = wf.options.placeholder_params
        limit = wf.options.max_name_length
        jobs = wf.graph.jobs
        names = [""] * len(jobs)
        order_ids = [0] * len(jobs)
        problems: list[str] = []
        next_order_id: dict[str, int] = {}  # per label, on across a label's waves
        formats: dict[int, str] = {}  # id(command) -> name format
        for block in wf.labels:
            first = next_order_id.get(block.label, 0)
            next_order_id[block.label] = first + len(block.jobs)
            for order_id, j in enumerate(block.jobs, first):
                job = jobs[j]
                fmt = formats.get(id(job.command))
                if fmt is None:
                    fmt = formats[id(job.command)] = name_format(job.command, params)
                name = fmt.format(job.name, job.cmdvals)
                if len(name) > limit:
                    problems.append(
                        job_problem(
                            job.name,
                            job.label,
                            f"pseudo-input name is {len(name)} characters, over the limit {limit}",
                        )
                    )
                names[j] = name
                order_ids[j] = order_id
        if problems:
            raise PassError(capped(problems))
        return wf.replace(pseudo_inputs=tuple(names), order_ids=tuple(order_ids))
