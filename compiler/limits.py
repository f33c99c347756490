"""Every bound panda-compile puts on the work an input can cause, in one place.

Why: a pickle, a submit folder or a config from elsewhere must not make a compile hang,
exhaust memory or write absurd amounts (see the README's "Limits").  Each limit here is a
named constant with the config key that changes it (None: fixed), so the README can list
them and a refusal can name both.  Limits are far above what a real workflow needs: they
exist to turn a bomb into one clear error, not to police honest inputs.

Only constants and the message helper live here; the code enforcing a limit sits where the
input is read (config.py, load/ingest.py, cmdline.py, the chunk pass).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BPS_EVAL_CONFIG_KEY",
    "LIMITS",
    "MAX_COMMAND_CHARS",
    "MAX_COMMAND_PARAMS",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "MAX_CONFIG_EXPANSIONS",
    "MAX_CONFIG_FILES",
    "MAX_CONFIG_NODES",
    "MAX_EXPANDED_CHARS",
    "MAX_FORMAT_WIDTH",
    "MAX_INCLUDE_DEPTH",
    "MAX_NAME_CHARS",
    "MAX_TASKS",
    "MAX_TASKS_KEY",
    "MAX_VALUE_CHARS",
    "WARN_TASKS",
    "WARN_TASKS_KEY",
    "Limit",
    "over_limit",
]


@dataclass(frozen=True)
class Limit:
    """One bound: its constant's name, default, config key (None: fixed) and what it bounds."""

    name: str
    default: int
    key: str | None
    what: str


# -- the pickle ---------------------------------------------------------------------------
MAX_NAME_CHARS = 10_000
"""Longest workflow, job, label, executable or file name accepted from a pickle."""

MAX_VALUE_CHARS = 1_000_000
"""Largest a cmdvals/environment value may become as text (nested lists counted expanded)."""

# -- command lines ------------------------------------------------------------------------
MAX_COMMAND_CHARS = 1_000_000
"""Longest command template (executable + arguments) and longest embedded command line."""

MAX_COMMAND_PARAMS = 1_000
"""Most distinct ``{param}`` names one command template may use."""

MAX_FORMAT_WIDTH = 100_000
"""Largest width or precision in a format spec (``{x:>N}``) of a config or environment value."""

# -- configs ------------------------------------------------------------------------------
MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Largest config file read (YAML or JSON, includes too); only regular files are read."""

MAX_CONFIG_NODES = 1_000_000
"""Most values a config file may hold once YAML aliases are expanded (billion laughs)."""

MAX_CONFIG_DEPTH = 200
"""Deepest nesting of mappings and lists in a config file."""

MAX_INCLUDE_DEPTH = 32
"""Deepest chain of ``includeConfigs`` / ``!include`` (A includes B includes C ...)."""

MAX_CONFIG_FILES = 1_000
"""Most config files read by one load (every include counted, repeated ones too)."""

MAX_CONFIG_EXPANSIONS = 10_000
"""Most ``{var}`` substitutions one config lookup may make (``{v}`` doubled per level)."""

MAX_EXPANDED_CHARS = 1_000_000
"""Longest string one config lookup may produce by substitution."""

# -- outputs ------------------------------------------------------------------------------
WARN_TASKS_KEY = "pandaCompileWarnTasks"
WARN_TASKS = 10_000
"""More PanDA tasks than this (two files each in OUTDIR) gives a warning."""

MAX_TASKS_KEY = "pandaCompileMaxTasks"
MAX_TASKS = 100_000
"""More PanDA tasks than this is refused (e.g. 200k jobs at ``maxJobsPerTask: 1``)."""

# -- opt-ins ------------------------------------------------------------------------------
BPS_EVAL_CONFIG_KEY = "pandaCompileAllowBpsEval"
"""``true`` in the user's own ``--config`` file lets its values use ``bpsEval(...)``."""

LIMITS: tuple[Limit, ...] = (
    Limit("MAX_NAME_CHARS", MAX_NAME_CHARS, None, "characters in a name from the pickle"),
    Limit("MAX_VALUE_CHARS", MAX_VALUE_CHARS, None, "characters of one cmdvals/environment value"),
    Limit("MAX_COMMAND_CHARS", MAX_COMMAND_CHARS, None, "characters of a command template or line"),
    Limit("MAX_COMMAND_PARAMS", MAX_COMMAND_PARAMS, None, "distinct {param}s in one command"),
    Limit("MAX_FORMAT_WIDTH", MAX_FORMAT_WIDTH, None, "width/precision in a format spec"),
    Limit("MAX_CONFIG_BYTES", MAX_CONFIG_BYTES, None, "bytes of one config file"),
    Limit("MAX_CONFIG_NODES", MAX_CONFIG_NODES, None, "values in a config file, aliases expanded"),
    Limit("MAX_CONFIG_DEPTH", MAX_CONFIG_DEPTH, None, "nesting depth of a config file"),
    Limit("MAX_INCLUDE_DEPTH", MAX_INCLUDE_DEPTH, None, "nested config includes"),
    Limit("MAX_CONFIG_FILES", MAX_CONFIG_FILES, None, "config files read by one load"),
    Limit("MAX_CONFIG_EXPANSIONS", MAX_CONFIG_EXPANSIONS, None, "{var} substitutions per lookup"),
    Limit("MAX_EXPANDED_CHARS", MAX_EXPANDED_CHARS, None, "characters produced by one lookup"),
    Limit("WARN_TASKS", WARN_TASKS, WARN_TASKS_KEY, "PanDA tasks before a warning"),
    Limit("MAX_TASKS", MAX_TASKS, MAX_TASKS_KEY, "PanDA tasks"),
)
"""Every limit, for the README and the tests."""


def over_limit(what: str, limit: int, name: str, key: str | None = None, size: int | None = None) -> str:
    """The wording every limit refusal uses: what, how big (if known), the limit, how to raise it."""
    how = f"config key {key}" if key else "fixed"
    amount = f" ({size:,})" if size is not None else ""
    return f"{what}{amount} is over the limit of {limit:,} ({name}, {how})"
