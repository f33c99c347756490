"""Command lines: which `{param}`s they use, embedding static values, the decoder wrapper.

Payloads must decode with the stock edge-node decoder of lsst-ctrl-bps-panda, so the
rules here are the reference plugin's (restated, not copied), each pinned by a test that
runs that decoder.

The reference's command-line embedder finds parameters with the pattern below: a `{...}`
not preceded by `$` (so `${ENV}` is left alone). It needs one character before the brace,
which a template always has (it starts with the executable), and it consumes that
character, so in `{a}{b}` only `a` is found; we keep that behaviour because the set of
parameters found decides the pseudo-input names the edge-node decoder parses.  We find
the same matches with a linear scan (`command_params`): the regex backtracks
quadratically on a template like `"{" * 100000`.

Embedding is bounded (`compiler.limits`): templates of at most `MAX_COMMAND_CHARS`
characters and `MAX_COMMAND_PARAMS` distinct parameters, and no substitution may make
the command line longer than `MAX_COMMAND_CHARS`; each refusal is an `EmbedError`.
"""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .boundedfmt import bounded_format_map
from .limits import MAX_COMMAND_CHARS, MAX_COMMAND_PARAMS, over_limit
from .values import value_problem

PARAM_PATTERN = re.compile(r"[^$]{([^}]+)}")
FILE_PATTERN = re.compile(r"<FILE:([^>]+)>")


def command_params(template: str) -> tuple[str, ...]:
    """The `{param}` names in a command template, in order of first use.

    The matches of `PARAM_PATTERN` (non-overlapping, left to right), found in linear
    time: a match is a character other than `$`, a `{`, at least one character and the
    first `}` after it.  `str.find` jumps to each candidate brace and each closing brace
    is searched for once per match, so no position is scanned twice.
    """
    found: dict[str, None] = {}
    pos = 0  # a match may start at `pos`, so its brace is at `pos + 1` or later
    while True:
        brace = template.find("{", pos + 1)
        if brace < 0:
            break
        if template[brace - 1] == "$":
            pos = brace
            continue
        close = template.find("}", brace + 1)
        if close < 0:
            break  # no `}` left: nothing later can match either
        if close == brace + 1:  # `{}`: `[^}]+` needs a character
            pos = brace
            continue
        found[template[brace + 1 : close]] = None
        pos = close + 1
    return tuple(found)


def command_template_problem(template: str) -> str | None:
    """Why a command template is over a limit (length, distinct parameters), or None."""
    if len(template) > MAX_COMMAND_CHARS:
        return over_limit(
            "command template length", MAX_COMMAND_CHARS, "MAX_COMMAND_CHARS", size=len(template)
        )
    params = command_params(template)
    if len(params) > MAX_COMMAND_PARAMS:
        return over_limit(
            "number of distinct {param}s in the command",
            MAX_COMMAND_PARAMS,
            "MAX_COMMAND_PARAMS",
            size=len(params),
        )
    return None


class EmbedError(ValueError):
    """A command line cannot be embedded; the message names the missing piece."""


def environment_prefix(environment: Mapping[str, Any], cmdvals: Mapping[str, Any]) -> str:
    """`export K=V; ` for each of a job's environment variables, values filled from cmdvals."""
    out = []
    for key, value in environment.items():
        try:
            filled = bounded_format_map(value, cmdvals) if isinstance(value, str) else str(value)
        except KeyError as exc:
            raise EmbedError(
                f"environment variable {key} uses {{{exc.args[0]}}} but cmdvals has no value for it"
            ) from None
        except (ValueError, IndexError) as exc:
            raise EmbedError(f"environment variable {key} has a malformed value {value!r} ({exc})") from None
        out.append(f"export {key}={filled}; ")
    return "".join(out)


def embed_static_values(
    command: str,
    cmdvals: Mapping[str, Any],
    placeholders: Sequence[str],
    submit_env: Sequence[tuple[str, str]],
    files: Mapping[str, Any],
) -> str:
    """Fill in everything that is the same for every job of a task.

    What stays is what the edge-node decoder fills per job: the placeholder parameters
    (from the pseudo-input name), `<ENV:X>` not resolved on the submit side, and
    `<FILE:x>` of files that are transferred or read locally. `files` maps a file name
    to an object with `wms_transfer`, `job_access_remote` and `src_uri`.
    """
    problem = command_template_problem(command)
    if problem:
        raise EmbedError(problem)
    for key in command_params(command):
        if key not in cmdvals:
            raise EmbedError(f"command line uses {{{key}}} but cmdvals has no value for it")
        if key not in placeholders:
            problem = value_problem(cmdvals[key])
            if problem:
                raise EmbedError(f"cmdvals[{key[:100]!r}] {problem}")
            command = _bounded_replace(command, "{" + key + "}", str(cmdvals[key]))
    for name, value in submit_env:
        command = _bounded_replace(command, f"<ENV:{name}>", value)
    for key in dict.fromkeys(FILE_PATTERN.findall(command)):
        gwfile = files.get(key)
        if gwfile is None:
            raise EmbedError(f"command line uses <FILE:{key}> but the job has no file named {key!r}")
        if not gwfile.wms_transfer and gwfile.job_access_remote:
            command = _bounded_replace(command, f"<FILE:{key}>", str(gwfile.src_uri))
    return command


def _bounded_replace(command: str, token: str, value: str) -> str:
    """`command.replace(token, value)`, refused before building a result over the limit."""
    count = command.count(token)
    if not count:
        return command
    size = len(command) + count * (len(value) - len(token))
    if size > MAX_COMMAND_CHARS:
        raise EmbedError(
            over_limit(
                f"command line length after filling in {token}",
                MAX_COMMAND_CHARS,
                "MAX_COMMAND_CHARS",
                size=size,
            )
        )
    return command.replace(token, value)


def file_placeholder(key: str, uri: str, isdir: Callable[[str], bool] = os.path.isdir) -> str:
    """How the decoder names a staged file on the worker: its basename, `/` for folders.

    As the reference does, a `butlerConfig` entry always counts as a folder (its check
    compares the extension without its dot to "yaml", which never matches).
    """
    if uri.endswith("/"):
        return os.path.basename(uri[:-1]) + "/"
    name = os.path.basename(uri)
    return name + "/" if isdir(uri) or key == "butlerConfig" else name


def wrap_for_decoder(
    runner_command: str,
    command: str,
    distribution_end_point: str,
    files: Sequence[tuple[str, str]],
    direct_io: Sequence[str],
    isdir: Callable[[str], bool] = os.path.isdir,
) -> str:
    """The PanDA job's executable: `runnerCommand` with the hex-encoded command in it.

    The stock edge-node decoder (`cmd_line_decoder.py`) parses what replaces
    `_cmd_line_`: `<hex> ${IN/L} <end point>  <key:file+...> <direct-io+...>`.
    """
    placeholders = "+".join(f"{key}:{file_placeholder(key, uri, isdir)}" for key, uri in files)
    order_id_map = dict(files).get("orderIdMapFilename")
    if order_id_map:
        runner_command = runner_command.replace(
            "orderIdMapFilename", os.path.join(distribution_end_point, os.path.basename(order_id_map))
        )
    runner_command = runner_command.replace("\n", " ")
    encoded = binascii.hexlify(command.encode()).decode()
    payload = f"{encoded} ${{IN/L}} {distribution_end_point}  {placeholders} {'+'.join(direct_io)}"
    return runner_command.replace("_cmd_line_", payload)
