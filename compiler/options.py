"""Resolve the BPS config into typed compile options, once, before any pass runs.

Passes never search the config: every key is looked up here and checked, so a bad value
is reported by key before work starts.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .ir import Options

DEFAULT_MAX_JOBS_PER_TASK = 30000
DEFAULT_PLACEHOLDER_PARAMS = ("qgraphNodeId", "qgraphId")
DEFAULT_MAX_NAME_LENGTH = 4000


def _search(config: Any, key: str, default: Any) -> Any:
    found, value = config.search(key, opt={"default": default})
    return value if found or value is not None else default


def _positive_int(key: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}' must be a positive integer, got {value!r}") from None
    if number <= 0 or (isinstance(value, float) and value != number):
        raise ConfigError(f"config key '{key}' must be a positive integer, got {value!r}")
    return number


def _placeholder_params(config: Any) -> tuple[str, ...]:
    value = config.get("placeholderParams", list(DEFAULT_PLACEHOLDER_PARAMS))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"config key 'placeholderParams' must be a list of names, got {value!r}")
    return tuple(value)


def resolve_options(config: Any) -> Options:
    """Typed options from a config that answers `search`/`get` like BpsConfig."""
    return Options(
        max_jobs_per_task=_positive_int(
            "maxJobsPerTask", _search(config, "maxJobsPerTask", DEFAULT_MAX_JOBS_PER_TASK)
        ),
        placeholder_params=_placeholder_params(config),
        max_name_length=DEFAULT_MAX_NAME_LENGTH,
    )
