"""Config values that would make a payload silently do nothing, refused by name.

BpsConfig substitutes an empty string for a ``{var}`` no section defines. That is how
site configs make hooks optional, and also how a runner loses its payload (no
``{jobContainer}``: the job exits 0 having run nothing) or an end point loses a path
segment (``.../dist//``). `compiler.options` calls these once the config is layered; the
analysis of which variables are undefined is `compiler.config_gaps`'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .config_gaps import Gap, chain_to, empty_path_segment, gaps, raw_value, segment_gaps
from .errors import ConfigError

PAYLOAD_TOKEN = "_cmd_line_"  # where the runner takes the decoder's arguments
PATH_KEYS_IN_RUNNER = ("jobLogDir",)  # path values the runner uses, checked like the end point
_EMPTY_ASSIGNMENT = re.compile(r"(?:^|[;\s])([A-Za-z_][A-Za-z0-9_]*)=;")


def _search(config: Any, key: str, curvals: dict[str, str]) -> Any:
    found, value = config.search(key, opt={"default": None, "curvals": curvals})
    return value if found else None


def _gap_text(found: list[Gap]) -> str:
    return ", ".join(f"{gap} is not defined" for gap in found)


def check_runner(config: Any, runner: str) -> None:
    """The executable must still run the payload once every ``{var}`` is substituted."""
    if PAYLOAD_TOKEN not in runner:
        why = _gap_text(gaps(config, "runnerCommand"))
        raise ConfigError(
            f"config key 'runnerCommand' no longer holds '{PAYLOAD_TOKEN}' (the payload's place), so "
            f"every job would exit without running anything" + (f": {why}" if why else "")
        )
    for key in PATH_KEYS_IN_RUNNER:
        if chain_to(config, "runnerCommand", f"{{{key}}}"):
            check_path_key(config, key, {}, required=True)
    for match in _EMPTY_ASSIGNMENT.finditer(runner):
        name = match.group(1)
        for gap in gaps(config, "runnerCommand"):
            owner = raw_value(config, gap.key) or ""
            if re.search(rf"(?:^|[;\s]){name}=\{{{re.escape(gap.name)}(?:[:!][^}}]*)?\}}", owner):
                raise ConfigError(
                    f"config key 'runnerCommand': '{name}=' assigns nothing because {gap} is not defined"
                )


def check_path_key(config: Any, key: str, curvals: dict[str, str], *, required: bool) -> str | None:
    """A path or URI key whose ``{var}``s left an empty segment is refused, naming them."""
    value = _search(config, key, curvals)
    if not value:
        if required:
            why = _gap_text(gaps(config, key, curvals))
            if why:
                raise ConfigError(f"config key '{key}' resolves to nothing: {why}")
        return None
    text = str(value)
    holes = segment_gaps(config, key, curvals)
    if holes or empty_path_segment(text):
        why = f" because {_gap_text(holes)}" if holes else ""
        raise ConfigError(f"config key '{key}' = {text[:300]!r} has an empty path segment{why}")
    return text


def config_warnings(config: Any, labels: Iterable[str]) -> tuple[str, ...]:
    """Every ``{var}`` the payload's keys reach that no layer defines, once each.

    BpsConfig makes them empty; real site configs rely on that for optional hooks, so
    these are warnings, not errors (the harmful cases are refused in `check_runner` and
    `check_path_key`).
    """
    seen: dict[str, None] = {}
    for gap in gaps(config, "runnerCommand"):
        seen.setdefault(f"{gap} is not defined; BPS substitutes an empty string")
    for label in labels:
        curvals = {"curr_cluster": label, "curr_pipetask": label}
        for gap in gaps(config, "fileDistributionEndPoint", curvals):
            seen.setdefault(f"{gap} is not defined; BPS substitutes an empty string")
    return tuple(seen)


def uses_generic_runner(config: Any) -> bool:
    """Whether the executable comes from panda-compile's generic runner (no site config)."""
    from .config import plugin_defaults

    generic = raw_value(plugin_defaults(), "jobContainer")
    current = raw_value(config, "jobContainer")
    return generic is not None and current is not None and current.split() == generic.split()
