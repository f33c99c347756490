"""The compiler, pass by pass: reading DEFAULT_PIPELINE is reading what the compiler does.

`run_pipeline` is the only place that runs passes: it times each one, verifies the IR's
invariants after each, attributes errors to the pass that raised them, and can hand the
IR to a callback after any pass (`--dump-after`) or stop early (`--stop-after`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import PassError
from ..ir import Workflow
from .base import Pass
from .chunk import Chunk
from .command_lines import CommandLines
from .custom_job import CustomJob
from .dependencies import Dependencies
from .final import Final
from .flatten import Flatten
from .job_names import JobNames
from .order import Order
from .pseudo_inputs import PseudoInputs
from .stage_files import StageFiles
from .task_files import TaskFiles
from .task_params import TaskParams
from .validate import Validate

DEFAULT_PIPELINE: tuple[type[Pass], ...] = (
    Flatten,  # groups inlined, noops removed
    Validate,  # acyclic, unique names, executables, placeholder values, final job
    Order,  # label order and job order of the reference
    Chunk,  # tasks of at most maxJobsPerTask jobs, numbered and named
    PseudoInputs,  # per-job pseudo-input name and order id
    Dependencies,  # per-task dependency tasks (entries are derived on demand)
    Final,  # final task and its AND release condition
    JobNames,  # label:orderIdMap_N / PH:<job> names when those maps are on
    TaskFiles,  # per task: files to stage, direct-IO set
    CustomJob,  # bps submitcmd: executables' archive, its cache URL as direct-IO input
    CommandLines,  # per task: embedded, hex-encoded command in runnerCommand
    TaskParams,  # per task: DomaPanDAWork keyword arguments
    StageFiles,  # workflow: all files to pre-stage
)

PASSES: dict[str, type[Pass]] = {p.name: p for p in DEFAULT_PIPELINE}


@dataclass
class PipelineRun:
    """What a pipeline run produced: the IR and seconds spent per pass."""

    workflow: Workflow
    timings: dict[str, float] = field(default_factory=dict)


AfterPass = Callable[[str, Workflow], None]


def run_pipeline(
    wf: Workflow,
    passes: Sequence[Pass] | None = None,
    *,
    after_pass: AfterPass | None = None,
    stop_after: str | None = None,
) -> PipelineRun:
    """Run passes in order over `wf`.

    A `PassError` leaves here named after its pass; the IR is verified after every pass,
    so a pass that breaks an invariant is named as the culprit too.
    """
    passes = list(passes) if passes is not None else [cls() for cls in DEFAULT_PIPELINE]
    if stop_after is not None and stop_after not in {p.name for p in passes}:
        raise PassError(f"no pass named '{stop_after}' (passes: {', '.join(p.name for p in passes)})")
    run = PipelineRun(wf)
    wf.verify()  # from here on, each pass's output is checked against its verified input
    for p in passes:
        start = time.perf_counter()
        previous = wf
        try:
            wf = p.run(wf)
            wf.verify(previous)
        except PassError as exc:
            raise exc.with_pass(p.name) from None
        except Exception as exc:  # a bug, not bad input: keep the traceback, name the pass
            exc.add_note(f"(raised in compiler pass '{p.name}')")
            raise
        run.timings[p.name] = time.perf_counter() - start
        run.workflow = wf
        if after_pass is not None:
            after_pass(p.name, wf)
        if p.name == stop_after:
            break
    return run
