"""Which ``{var}``s of a config value resolve to nothing, and whether that breaks it.

``BpsConfig.search`` replaces a ``{var}`` that no section defines by an empty string, and
site configs rely on that for optional hooks (``{custom_lsst_setup}``). The same rule
turns ``fileDistributionEndPoint: ".../dist/{uniqProcName}/"`` into ``.../dist//`` and a
runner without ``{jobContainer}`` into a job that exits 0 having run nothing. This module
walks a key's raw value (``replaceVars: False``) and the values of its variables, so the
options resolver can refuse the harmful cases by name and list the rest as warnings.

It asks only ``search``, so it works on our config and on a real ``BpsConfig`` alike.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_SHELL_VAR = re.compile(r"\$\{[^}]*\}")  # ${X} is for the shell; BpsConfig hides it too
_MAX_NODES = 2_000  # variables visited per key; real configs use a few dozen
_URI_HEAD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


@dataclass(frozen=True)
class Gap:
    """A ``{name}`` in the value of ``key`` that resolves to nothing (not defined anywhere)."""

    key: str
    name: str

    def __str__(self) -> str:
        return f"{{{self.name}}} in '{self.key}'"


def _fields(text: str) -> list[str]:
    """Names of the ``{name}`` fields of ``text`` (format specs and conversions dropped)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(_SHELL_VAR.sub("", text)))
    except ValueError:
        return names  # unbalanced braces: the config reader reports those itself
    for _, field, _, _ in parsed:
        if field:
            names.append(re.split(r"[.\[]", field, maxsplit=1)[0])
    return names


def _raw(config: Any, key: str, curvals: Mapping[str, str]) -> tuple[bool, Any]:
    opt = {"replaceVars": False, "expandEnvVars": False, "replaceEnvVars": False, "curvals": dict(curvals)}
    try:
        return config.search(key, opt=opt)
    except Exception:  # the resolver reports lookup errors with their own message
        return True, None


def gaps(config: Any, key: str, curvals: Mapping[str, str] | None = None) -> list[Gap]:
    """Every undefined ``{var}`` reached from ``key``'s value, depth first, each once."""
    cur = dict(curvals or {})
    out: list[Gap] = []
    seen: set[str] = {key}

    def walk(owner: str, text: str) -> None:
        for name in _fields(text):
            if name in seen or len(seen) > _MAX_NODES:
                continue
            seen.add(name)
            found, value = _raw(config, name, cur)
            if not found:
                out.append(Gap(owner, name))
            elif isinstance(value, str):
                walk(name, value)

    found, value = _raw(config, key, cur)
    if found and isinstance(value, str):
        walk(key, value)
    return out


def segment_gaps(config: Any, key: str, curvals: Mapping[str, str] | None = None) -> list[Gap]:
    """The gaps that stand for a whole path segment (``/{x}/``, ``{x}/...``) where they occur."""
    out = []
    for gap in gaps(config, key, curvals):
        owner = raw_value(config, gap.key, curvals) or ""
        field = rf"\{{{re.escape(gap.name)}(?:[:!][^}}]*)?\}}"
        if re.search(rf"(?:^|/){field}(?:/|$)", _SHELL_VAR.sub("", owner)):
            out.append(gap)
    return out


def chain_to(config: Any, key: str, target: str, curvals: Mapping[str, str] | None = None) -> bool:
    """Whether ``target`` appears literally in ``key``'s value or a variable it reaches."""
    cur = dict(curvals or {})
    seen: set[str] = set()

    def reach(name: str) -> Iterator[str]:
        if name in seen or len(seen) > _MAX_NODES:
            return
        seen.add(name)
        found, value = _raw(config, name, cur)
        if found and isinstance(value, str):
            yield value
            for inner in _fields(value):
                yield from reach(inner)

    return any(target in text for text in reach(key))


def empty_path_segment(value: str) -> bool:
    """Whether a path or URI has an empty segment (``a//b``), the scheme's ``//`` apart."""
    path = _URI_HEAD.sub("", value, count=1)
    return "//" in path


def raw_value(config: Any, key: str, curvals: Mapping[str, str] | None = None) -> str | None:
    """``key``'s value as written (no substitution), if it is a string."""
    found, value = _raw(config, key, dict(curvals or {}))
    return value if found and isinstance(value, str) else None
