"""What each job of an OUTDIR runs: the decoded payload, or the whole executable.

`run` (and `run --dry-run`) get their command lines here, one `Decoder` per task, so
a bad executable or name is one error naming the task and job, before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .decode import PSEUDO_INPUT, DecodeError, Decoder, DecoderCall, find_decoder_call
from .plan import Plan, PlanError


def decoder_calls(plan: Plan) -> list[DecoderCall]:
    """Per task: the decoder's arguments in its executable (`PlanError` naming the task)."""
    calls = []
    for task in plan.tasks:
        try:
            calls.append(find_decoder_call(task["work"]["executable"]))
        except DecodeError as exc:
            raise PlanError(f"task {task['name']!r}: {exc}") from None
    return calls


def job_commands(
    plan: Plan, order: Sequence[int], environ: Mapping[str, str], as_pilot: bool = False
) -> dict[int, str]:
    """job -> its command: what the decoder hands to ``os.system``, or (`as_pilot`) the
    executable with ``${IN/L}`` replaced by the entry name, as the pilot runs it."""
    out: dict[int, str] = {}
    if as_pilot:
        for job in order:
            executable = plan.tasks[plan.job_task[job]]["work"]["executable"]
            out[job] = executable.replace(PSEUDO_INPUT, plan.job_name[job])
        return out
    calls = decoder_calls(plan)
    decoders: dict[int, Decoder] = {}
    for job in order:
        t = plan.job_task[job]
        try:
            decoder = decoders.get(t)
            if decoder is None:
                decoder = decoders[t] = Decoder(calls[t], environ, plan.read_map)
            out[job] = decoder.command(plan.job_name[job])
        except DecodeError as exc:
            where = f"task {plan.tasks[t]['name']!r}, job {plan.job_name[job]!r}"
            raise PlanError(f"{where}: {exc}") from None
    return out
