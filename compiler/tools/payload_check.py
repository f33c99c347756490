"""`check`'s look at the executables: does every job still run its payload, from where?

What can be verified without the config that produced the folder: each task's executable
carries the decoder's arguments (``<hex> ${IN/L} <end point>``, as the stock edge-node
decoder reads them), the hex decodes to a UTF-8 command line, the end point has no empty
path segment (the mark of a ``{var}`` BPS substituted with nothing), and it is the end point
`submit` stages the files to (workflow.json's ``file_distribution_end_point``), so the
decoder finds them.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any

from ..config_gaps import empty_path_segment
from ..emit.validate import Problem
from .decode import DecodeError, decoder_head


def decoded_command(executable: str) -> tuple[str, str]:
    """(command line, end point) of an executable, as the stock decoder would read them.

    Only what `check` promises: whether the job runs its payload, and from where. The
    full argument list is `decode.find_decoder_call`'s (`run` needs all of it).

    Raises `DecodeError` when the decoder's arguments are missing or unclear, ValueError
    when the hex is there but is not a UTF-8 command line.
    """
    hex_command, words = decoder_head(executable)
    if not hex_command:
        raise DecodeError("the decoder gets an empty hex command")
    try:
        command = binascii.unhexlify(hex_command).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"its payload does not decode: {exc}") from None
    return command, words[0] if words else ""


def payload_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """Problems of every task's executable in a schema-valid workflow.json."""
    problems: list[Problem] = []
    staging = doc.get("file_distribution_end_point")
    if isinstance(staging, str) and empty_path_segment(staging):
        problems.append(
            Problem("workflow.json:file_distribution_end_point", f"{staging!r} has an empty path segment")
        )
    for key, source in (doc.get("files_to_pre_stage") or {}).items():
        if isinstance(source, str) and empty_path_segment(source):
            problems.append(
                Problem(f"workflow.json:files_to_pre_stage.{key}", f"{source!r} has an empty path segment")
            )
    for i, task in enumerate(doc["tasks"]):
        where = f"workflow.json:tasks[{i}].work.executable"
        problems += _executable_problems(where, task["work"].get("executable"), staging)
    return problems


def _executable_problems(where: str, executable: Any, staging: Any) -> list[Problem]:
    """What is wrong with one task's executable (nothing: it runs its payload from staging)."""
    problem = _executable_problem(executable, staging)
    return [Problem(where, problem)] if problem else []


def _executable_problem(executable: Any, staging: Any) -> str | None:
    if not isinstance(executable, str):
        return "missing: the job would run nothing"
    try:
        _, end_point = decoded_command(executable)
    except DecodeError as exc:
        return f"carries no usable decoder payload, the job would run nothing: {exc}"
    except ValueError as exc:
        return str(exc)
    if not end_point:
        return "the decoder's end point is empty"
    if empty_path_segment(end_point):
        return f"the decoder's end point {end_point!r} has an empty path segment"
    if isinstance(staging, str) and end_point != staging:
        return f"the decoder's end point {end_point!r} is not where files are staged ({staging!r})"
    return None
