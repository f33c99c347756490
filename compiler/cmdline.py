"""Command-line templates: which `{param}`s a job's command line uses.

The reference's command-line embedder finds parameters with the pattern below: a `{...}`
not preceded by `$` (so `${ENV}` is left alone). It needs one character before the brace,
which a template always has (it starts with the executable), and it consumes that
character, so in `{a}{b}` only `a` is found; we keep that behaviour because the set of
parameters found decides the pseudo-input names the edge-node decoder parses.
"""

from __future__ import annotations

import re

PARAM_PATTERN = re.compile(r"[^$]{([^}]+)}")


def command_params(template: str) -> tuple[str, ...]:
    """The `{param}` names in a command template, in order of first use."""
    return tuple(dict.fromkeys(m.group(1) for m in PARAM_PATTERN.finditer(template)))
