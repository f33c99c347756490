"""pseudo-inputs: give every job its pseudo-input name and order id.

PanDA tasks here have no real input files; iDDS tracks each job as a "pseudo input" whose
name is the job name followed by `+<param>:<value>` for every `placeholderParams` entry.
The edge-node decoder reads those values back to fill the job's command line, so a value
is present only when the job's command line uses `{param}` (otherwise empty), exactly as
the reference builds it. The order id is the job's position within its label.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import ClassVar

from ..errors import PassError, job_problem
from ..ir import Command, Job, Workflow
from ..values import column_problem
from .base import capped


@dataclass(frozen=True)
class NameFormat:
    """How to build pseudo-input names for the jobs of one command.

    `pattern.format(job name, value of used[0], value of used[1], ...)`, e.g.
    `{}+qgraphNodeId:{}+qgraphId:{}`; a placeholder the command does not use is a literal
    `+param:`. Values are fetched with C-level item getters, so a name costs one
    `str.format` call with no Python code per job.
    """

    pattern: str
    used: tuple[str, ...]

    @classmethod
    def of(cls, command: Command, params: tuple[str, ...]) -> NameFormat:
        parts, used = ["{}"], []
        for p in params:
            literal = p.replace("{", "{{").replace("}", "}}")
            if p in command.params:
                parts.append(f"+{literal}:{{}}")
                used.append(p)
            else:
                parts.append(f"+{literal}:")
        return cls("".join(parts), tuple(used))

    def names(self, jobs: list[Job]) -> list[str]:
        cmdvals = list(map(_CMDVALS, jobs))
        values = [list(map(operator.itemgetter(p), cmdvals)) for p in self.used]
        for p, column in zip(self.used, values, strict=True):
            problem = column_problem(column, jobs, p)  # before str.format turns a bomb into text
            if problem:
                raise PassError(problem)
        return list(map(self.pattern.format, map(_NAME, jobs), *values))


_NAME = operator.attrgetter("name")
_CMDVALS = operator.attrgetter("cmdvals")
_COMMAND = operator.attrgetter("command")


def _by_command(jobs: tuple[Job, ...], positions: tuple[int, ...]) -> dict[Command, list[int]]:
    """Job positions grouped by command (jobs of a label nearly always share one)."""
    commands = list(map(_COMMAND, map(jobs.__getitem__, positions)))
    first = commands[0] if commands else None
    if commands.count(first) == len(commands):  # C-level identity-first comparison
        return {first: list(positions)} if first is not None else {}
    groups: dict[int, tuple[Command, list[int]]] = {}
    for command, j in zip(commands, positions, strict=True):
        groups.setdefault(id(command), (command, []))[1].append(j)
    return dict(groups.values())


def _too_long(jobs: list[Job], names: list[str], limit: int) -> list[str]:
    return [
        job_problem(
            job.name, job.label, f"pseudo-input name is {len(name)} characters, over the limit {limit}"
        )
        for job, name in zip(jobs, names, strict=True)
        if len(name) > limit
    ]


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
        formats: dict[int, NameFormat] = {}  # id(command) -> how its jobs are named
        for block in wf.labels:
            first = next_order_id.get(block.label, 0)
            next_order_id[block.label] = first + len(block.jobs)
            for command, positions in _by_command(jobs, block.jobs).items():
                fmt = formats.get(id(command)) or formats.setdefault(
                    id(command), NameFormat.of(command, params)
                )
                block_jobs = list(map(jobs.__getitem__, positions))
                block_names = fmt.names(block_jobs)
                list(map(names.__setitem__, positions, block_names))
                if block_names and max(map(len, block_names)) > limit:
                    problems += _too_long(block_jobs, block_names, limit)
            list(map(order_ids.__setitem__, block.jobs, range(first, first + len(block.jobs))))
        if problems:
            raise PassError(capped(problems))
        return wf.replace(pseudo_inputs=tuple(names), order_ids=tuple(order_ids))
