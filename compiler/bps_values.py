"""The config a standalone compile searches: what `bps submit` would have searched.

`bps submit` (ctrl_bps ``initialize.init_submission``) never hands the plugin the YAML the
operator wrote. It layers ctrl_bps's defaults and the plugin's defaults under it and then
computes a few values into the ``bps_defined`` section: ``timestamp``, ``operator`` (if
unset), ``uniqProcName`` (``outputRun`` with ``/`` as ``_``, if unset) and ``submitPath``.
A compile from the pickle and that same YAML must see the same values, or a key such as
``fileDistributionEndPoint: .../{uniqProcName}/`` silently loses a path segment.

Nothing here is guessed from the clock or the environment: every value comes from what
BPS wrote. The workflow's name is the ``uniqProcName`` BPS used, the pickle's folder is
its ``submitPath``, ``run_attrs`` hold the operator, project, campaign and payload name it
resolved, and the timestamp is the part of the name that ``outputRun``'s ``{timestamp}``
became.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from .config import BpsYamlConfig, layered_config, load_config
from .errors import ConfigError

# Instrument.makeCollectionTimestamp's format (%Y%m%dT%H%M%SZ), used when the name does
# not follow outputRun (a uniqProcName the user set).
_TIMESTAMP = re.compile(r"\d{8}T\d{6}Z")
_SENTINEL = "\ue010timestamp\ue011"

# Config key <- run_attrs key that holds what BPS resolved for it (ctrl_bps transform).
_FROM_RUN_ATTRS = (
    ("operator", "bps_operator"),
    ("project", "bps_project"),
    ("campaign", "bps_campaign"),
    ("payloadName", "bps_payload"),
)

_RAW = {"replaceVars": False, "expandEnvVars": False, "replaceEnvVars": False}


def _defines(config: BpsYamlConfig, key: str) -> bool:
    """Whether the config (any layer) has ``key``, as BPS's ``key in config`` asks."""
    found, _ = config.search(key, opt=_RAW)
    return bool(found)


def _timestamp(config: BpsYamlConfig, defined: Mapping[str, Any], name: str) -> str | None:
    """The ``{timestamp}`` BPS put into ``outputRun`` and from there into the name."""
    probe = layered_config(config, {**defined, "timestamp": _SENTINEL})
    try:
        found, output_run = probe.search("outputRun", opt={"expandEnvVars": False})
    except ConfigError:  # unresolvable here; the compile reports it where it matters
        found, output_run = False, ""
    if found and isinstance(output_run, str) and output_run.count(_SENTINEL) == 1:
        head, tail = output_run.replace("/", "_").split(_SENTINEL)
        match = re.fullmatch(re.escape(head) + "(.+)" + re.escape(tail), name)
        if match:
            return match.group(1)
    stamps = _TIMESTAMP.findall(name)
    return stamps[-1] if stamps else None


def submit_values(
    config: BpsYamlConfig, workflow_name: str, run_attrs: Mapping[str, Any], submit_dir: str | None
) -> dict[str, Any]:
    """The ``bps_defined`` values `bps submit` computed for this workflow, as BPS sets them.

    ``config`` is the layered config without them. Values the config already defines are
    left to it, as ``init_submission`` does (``submitPath`` excepted: BPS always records
    the folder it made, and the pickle's folder is that folder).
    """
    defined: dict[str, Any] = {}
    if not _defines(config, "uniqProcName") and workflow_name:
        defined["uniqProcName"] = workflow_name
    for key, attr in _FROM_RUN_ATTRS:
        value = run_attrs.get(attr)
        if isinstance(value, str) and value and not _defines(config, key):
            defined[key] = value
    stamp = _timestamp(config, defined, workflow_name)
    if stamp:
        defined["timestamp"] = stamp
    if submit_dir:
        defined["submitPath"] = os.path.abspath(submit_dir)
    return defined


def standalone_config(
    config: Any,
    workflow_name: str,
    run_attrs: Mapping[str, Any],
    submit_dir: str | None,
    *,
    allow_bps_eval: bool | None = None,
    own: bool = True,
) -> BpsYamlConfig:
    """Bundled defaults < the user's YAML (path, URI or None) < the values BPS computed.

    `allow_bps_eval` and `own` are those of `compiler.config.load_config`.
    """
    user = load_config(config, allow_bps_eval=allow_bps_eval, own=own) if config is not None else None
    base = layered_config(user, allow_bps_eval=allow_bps_eval)
    defined = submit_values(base, workflow_name, run_attrs, submit_dir)
    return layered_config(user, defined, allow_bps_eval=allow_bps_eval)
