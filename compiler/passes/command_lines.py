"""command-lines: each task's executable, the way PanDA and the edge-node decoder take it.

The first job's command line (environment exports, executable, arguments) gets its static
values embedded (see `compiler.cmdline`), is hex-encoded and put into the site's
`runnerCommand` at `_cmd_line_`, together with the file distribution end point, the
staged-file placeholders and the direct-IO list the decoder parses.

`fileDistributionEndPoint` (per label) falls back to `fileDistributionEndPointDefault`
when it refers to `LSST_RUN_TEMP_SPACE` and that is not set on the submit side.

Unlike the reference, a missing `runnerCommand` is an error (it silently emits an empty
executable), and so is a `<FILE:x>` naming no file of the job.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import ClassVar

from ..cmdline import EmbedError, embed_static_values, environment_prefix, wrap_for_decoder
from ..errors import PassError
from ..ir import Job, Task, Workflow
from .payload_common import TaskProblem, update_tasks


def distribution_end_point(wf: Workflow, label: str) -> str:
    options = wf.options.labels.get(label)
    if options is None:
        raise EmbedError(f"no config resolved for label '{label}'")
    end_point = options.file_distribution_end_point
    if end_point and "LSST_RUN_TEMP_SPACE" in end_point and not wf.options.payload.run_temp_space_set:
        end_point = options.file_distribution_end_point_default
    if not end_point:
        raise EmbedError("config key 'fileDistributionEndPoint' is required")
    return str(end_point)


def embedded_command(wf: Workflow, job: Job) -> str:
    """The job's command line with its static values filled in (not yet encoded)."""
    executable = job.command.executable
    if executable is None:
        raise EmbedError("has no executable")
    exe = f"./{os.path.basename(executable.src_uri)}" if executable.transfer else executable.src_uri
    arguments = job.command.arguments or ""
    command = environment_prefix(job.environment, job.cmdvals) + exe + " " + arguments
    files = {f.name: f for f in (*job.inputs, *job.outputs)}
    payload = wf.options.payload
    return embed_static_values(command, job.cmdvals, wf.options.placeholder_params, payload.submit_env, files)


@dataclass(frozen=True)
class CommandLines:
    """Embedded, encoded and wrapped command line per task."""

    name: ClassVar[str] = "command-lines"
    description: ClassVar[str] = "embed static values, hex-encode, wrap in runnerCommand"

    def run(self, wf: Workflow) -> Workflow:
        runner = wf.options.payload.runner_command
        if not runner:
            raise PassError("config key 'runnerCommand' is missing: it is the PanDA job's executable")

        def with_command(task: Task, job: Job) -> Task:
            try:
                command = embedded_command(wf, job)
                end_point = distribution_end_point(wf, task.label)
            except EmbedError as exc:
                raise TaskProblem(str(exc)) from None
            staging = wf.options.file_distribution_end_point
            if staging is not None and end_point != staging:
                raise TaskProblem(
                    f"its fileDistributionEndPoint {end_point!r} is not where submit stages the files"
                    f" ({staging!r}, the config's top-level value): the decoder would not find them"
                )
            executable = wrap_for_decoder(runner, command, end_point, task.files, task.direct_io)
            return dataclasses.replace(task, command_line=command, executable=executable)

        return update_tasks(wf, with_command)
