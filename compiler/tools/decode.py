"""Decoding a task's executable as the stock edge-node decoder decodes it on a worker.

A PanDA job's executable is the site's ``runnerCommand`` with, where ``_cmd_line_`` was,
the decoder's arguments (``compiler.cmdline.wrap_for_decoder``)::

    <hex command> ${IN/L} <end point>  <key:file+...> <skip-copy+...>

On the worker the pilot replaces ``${IN/L}`` by the job's dependency-map entry name, the
shell splits the words, and ``cmd_line_decoder.py`` of lsst-ctrl-bps-panda turns them
into the command it hands to ``os.system``. This module finds those words in an
executable (`find_decoder_call`) and repeats the decoder's steps (`Decoder.command`), in
its order, so `run` and `run --dry-run` need neither lsst-ctrl-bps-panda nor
``CTRL_BPS_PANDA_DIR``. The steps (restated from the stock decoder's behaviour, pinned by
a test that runs it as an oracle):

1. the command is the UTF-8 text of the hex word;
2. every ``<ENV:X>`` is replaced by ``$X`` (unset: the decoder fails);
3. entry names ``label:orderIdMap_N`` are looked up in the order-id map file it was given
   (``orderIdMapFilename`` among the files) and replaced, in the command and the name;
4. every ``<FILE:k>`` is replaced by the file name the files word gives for ``k``;
5. a ``PH:<job>`` entry name is looked up in ``qnode_map.json``;
6. the name is split at ``+``; each later part ``key:value`` fills ``{key}``.

Event-service names (``label:eventservice_...``) are refused: PanDA builds them from event
ranges; `run` gives event-service jobs their ``orderIdMap`` entry names instead, one by one.
Steps 1, 2 and 4 are the same for every job of a task, so they run once per task.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CompileError

PSEUDO_INPUT = "${IN/L}"
ORDER_ID_MAP_KEY = "orderIdMapFilename"
QNODE_MAP_FILE = "qnode_map.json"  # the name the decoder opens in the job's folder
# Characters that end the decoder's simple command (or the quoted string holding it).
_END = frozenset(";&|<>()\"'`\n")
_BLANK = " \t"
# Characters whose meaning to the shell would change a word: refused rather than guessed.
_SHELL_SPECIAL = frozenset("$\\*?[]~{}!#") | _END | frozenset(_BLANK)
_HEX_BEFORE = re.compile(r"([0-9A-Fa-f]*)[ \t]+\$\{IN/L\}")


class DecodeError(CompileError):
    """A task's executable or a job's name the edge-node decoder would not decode."""


@dataclass(frozen=True)
class DecoderCall:
    """The decoder's arguments found in an executable (argv[1:6] of the stock decoder)."""

    hex_command: str
    end_point: str
    files: str  # "key:file+key:file"
    skip_copy: str  # "key+key": direct-IO files the decoder does not copy

    def file_map(self) -> dict[str, str]:
        """``{key: file name}`` of the files word, split as the decoder splits it."""
        out: dict[str, str] = {}
        for item in self.files.split("+"):
            parts = item.split(":")
            if len(parts) != 2:
                raise DecodeError(f"files argument {self.files!r}: {item!r} is not 'key:file'")
            out[parts[0]] = parts[1]
        return out


def _words_after(text: str, start: int, count: int) -> list[str]:
    """Up to `count` blank-separated words from `start`, stopping where the command ends."""
    words: list[str] = []
    i, n = start, len(text)
    while len(words) < count:
        while i < n and text[i] in _BLANK:
            i += 1
        j = i
        while j < n and text[j] not in _BLANK and text[j] not in _END:
            j += 1
        if j == i:
            break  # end of string or of the decoder's command
        words.append(text[i:j])
        i = j
    return words


def decoder_head(executable: str) -> tuple[str, list[str]]:
    """The hex command and the (up to 3) words after ``${IN/L}``; `DecodeError` if absent."""
    matches = list(_HEX_BEFORE.finditer(executable))
    if not matches:
        raise DecodeError("the executable has no '<hex> ${IN/L}' decoder arguments (no _cmd_line_?)")
    if len(matches) > 1:
        raise DecodeError(f"the executable passes {PSEUDO_INPUT} to the decoder {len(matches)} times")
    match = matches[0]
    if match.start(1) > 0 and executable[match.start(1) - 1] not in _BLANK:
        raise DecodeError(f"the word before {PSEUDO_INPUT} is not a hex-encoded command")
    return match.group(1), _words_after(executable, match.end(), 3)


def find_decoder_call(executable: str) -> DecoderCall:
    """The decoder's arguments in a task's executable; `DecodeError` if absent or unclear."""
    hex_command, words = decoder_head(executable)
    if len(words) < 3:
        raise DecodeError(
            f"the decoder gets {2 + len(words)} arguments, not 5 (hex, {PSEUDO_INPUT}, end point, "
            "files, skip-copy): an empty files list leaves the shell fewer words"
        )
    for word in words:
        special = sorted(set(word) & _SHELL_SPECIAL)
        if special:
            raise DecodeError(f"decoder argument {word[:80]!r} uses shell syntax ({''.join(special)!r})")
    return DecoderCall(hex_command, words[0], words[1], words[2])


def replace_tags(command: str, tag: str, values: Mapping[str, str], what: str) -> str:
    """Replace each ``<TAG:x>`` found in `command` by ``values[x]``, in order of appearance.

    As the decoder: the occurrences are listed first, then replaced one after another in
    the whole string; one with no value is an error.
    """
    for key in re.findall(f"<{tag}:(.*?)>", command):
        if key not in values:
            raise DecodeError(f"command uses <{tag}:{key}> but {what} has no {key!r}")
        command = command.replace(f"<{tag}:{key}>", values[key])
    return command


MapReader = Callable[[str], Any]  # file name -> parsed JSON (the order-id or qnode map)


@dataclass
class Decoder:
    """Decodes the jobs of one task: the per-task steps once, the per-job steps per name."""

    call: DecoderCall
    environ: Mapping[str, str]
    read_map: MapReader
    _base: str = field(init=False)  # after steps 1-2
    _files: dict[str, str] = field(init=False)
    _with_files: str = field(init=False)  # after steps 1-2 and 4

    def __post_init__(self) -> None:
        try:
            text = binascii.unhexlify(self.call.hex_command).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"the hex-encoded command does not decode: {exc}") from None
        self._base = replace_tags(text, "ENV", self.environ, "the environment")
        self._files = self.call.file_map()
        self._with_files = replace_tags(self._base, "FILE", self._files, "the files argument")

    def _order_id_names(self, params: list[str]) -> dict[str, str]:
        """Step 3: ``label:orderIdMap_N`` parts of the name -> the pseudo-inputs they stand for."""
        found: dict[str, str] = {}
        for param in params:
            if "eventservice_" in param:
                raise DecodeError(f"event-service name {param!r}: run does not emulate event service")
            if "orderIdMap_" not in param:
                continue
            parts = param.split(":")
            if len(parts) != 2:
                raise DecodeError(f"name part {param!r} is not 'label:orderIdMap_N'")
            label, order_id = parts[0], parts[1].split("_")[1]
            map_file = self._files.get(ORDER_ID_MAP_KEY)
            order_map = self.read_map(map_file) if map_file else None
            if not order_map or label not in order_map or order_id not in order_map[label]:
                raise DecodeError(f"{param!r} is not in the order-id map {map_file!r}")
            found[param] = order_map[label][order_id]
        return found

    def command(self, name: str) -> str:
        """The command the decoder hands to ``os.system`` for the job whose entry is `name`."""
        special = sorted(set(name) & _SHELL_SPECIAL)
        if special:
            raise DecodeError(f"the shell would split or expand this name ({''.join(special)!r})")
        command, data = self._with_files, name
        mapped = self._order_id_names(name.split("+"))
        if mapped:
            command = self._base
            for param, pseudo in mapped.items():
                command = command.replace(param, pseudo)
                data = data.replace(param, pseudo)
            command = replace_tags(command, "FILE", self._files, "the files argument")
        params = data.split("+")
        if params[0].split(":")[0] == "PH" and len(params[0].split(":")) == 2:
            qnode_map = self.read_map(QNODE_MAP_FILE)
            if not isinstance(qnode_map, dict) or params[0] not in qnode_map:
                raise DecodeError(f"{params[0]!r} is not in {QNODE_MAP_FILE}")
            params = str(qnode_map[params[0]]).split("+")
        for pair in params[1:]:
            parts = pair.split(":")
            if len(parts) != 2:
                raise DecodeError(f"name part {pair!r} is not 'key:value'")
            command = command.replace("{" + parts[0] + "}", parts[1])
        return command
