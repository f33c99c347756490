"""What a pass is.

A pass is a small frozen dataclass with a kebab-case `name` and one `run` method that takes
the IR and returns a new IR. Options a pass needs come from `Workflow.options`, resolved
from the config before the pipeline starts. Passes raise `PassError` with every problem
they found; the runner adds the pass name.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from ..ir import Workflow


class Pass(Protocol):
    """The interface every pass implements."""

    name: ClassVar[str]
    description: ClassVar[str]

    def run(self, wf: Workflow) -> Workflow:
        """Return the IR with this pass's work done."""
        ...


MAX_LISTED_PROBLEMS = 20
"""A pass reports at most this many problems by text; the rest are counted."""


def capped(problems: list[str]) -> list[str]:
    """Keep error output readable on a million-job workflow with a systematic fault."""
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return problems
    extra = len(problems) - MAX_LISTED_PROBLEMS
    return [*problems[:MAX_LISTED_PROBLEMS], f"... {extra} more like these"]
