"""Resolve the BPS config into typed compile options, once, before any pass runs.

Passes never search the config: every key the reference plugin reads is looked up here,
per label where the reference looks it up per label, and checked, so a bad value is
reported by key before work starts. The submit-side environment values the command line
embeds (`submitSideResolvedParams`, default USER) are captured here too, which keeps the
passes independent of the process environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .config import BpsYamlConfig, LiteralText
from .config_checks import check_path_key, check_runner, config_warnings, uses_generic_runner
from .config_gaps import gaps
from .errors import ConfigError
from .ir import LabelOptions, Options, PayloadOptions
from .limits import MAX_TASKS, MAX_TASKS_KEY, WARN_TASKS, WARN_TASKS_KEY

DEFAULT_MAX_JOBS_PER_TASK = 30000
DEFAULT_PLACEHOLDER_PARAMS = ("qgraphNodeId", "qgraphId")
DEFAULT_SUBMIT_SIDE_PARAMS = ("USER",)
DEFAULT_MAX_NAME_LENGTH = 4000
DEFAULT_MAX_PAYLOADS_PER_PANDA_JOB = 10
DEFAULT_ORDER_ID_MAP_FILE = "panda_order_id_map.json"
DEFAULT_TASK_TYPE = "test"
DEFAULT_PROD_SOURCE_LABEL = "managed"
DEFAULT_VO = "wlcg"
FINAL_PROCESSING_TYPE = "Rubin_Merge"
SPECIAL_LABELS = ("finalJob", "customJob")  # labels whose processingType lives in their section


@dataclass(frozen=True)
class JobFacts:
    """What a label's first job carries that the config may leave out.

    `bps transform` copied these from the config BPS had: each job's ``compute_site``
    and, in its command-line values, the ``fileDistributionEndPoint`` its command reads
    the quantum graph from. A compile whose config lacks them uses the jobs' values.
    """

    compute_site: str | None = None
    file_distribution_end_point: str | None = None


JobFactsLookup = Callable[[str], JobFacts]


def _no_facts(label: str) -> JobFacts:
    return JobFacts()


def _search(config: Any, key: str, default: Any = None, **opt: Any) -> Any:
    found, value = config.search(key, opt={"default": default, **opt})
    return value if found or value not in ("", None) else default


def _positive_int(key: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}' must be a positive integer, got {value!r}") from None
    if number <= 0 or (isinstance(value, float) and value != number):
        raise ConfigError(f"config key '{key}' must be a positive integer, got {value!r}")
    return number


def _name_list(config: Any, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = config.get(key, list(default))
    if value in ("", None):
        value = list(default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"config key '{key}' must be a list of names, got {value!r}")
    return tuple(value)


def _event_service(config: Any, default_payloads: int) -> tuple[tuple[str, int], ...]:
    """`enableEventService: "label1:N,label2"` as (label, max payloads per PanDA job) pairs."""
    value = _search(config, "enableEventService")
    if not value:
        return ()
    pairs = []
    for item in str(value).split(","):
        label, _, count = item.partition(":")
        try:
            payloads = int(count) if count else default_payloads
        except ValueError:
            raise ConfigError(
                f"config key 'enableEventService': {item!r} is not 'label' or 'label:N'"
            ) from None
        pairs.append((label.strip(), payloads))
    return tuple(pairs)


def _payload_options(config: Any) -> PayloadOptions:
    runner_found, runner = config.search(
        "runnerCommand", opt={"replaceEnvVars": False, "expandEnvVars": False}
    )
    max_payloads = _positive_int(
        "maxPayloadsPerPandaJob",
        _search(config, "maxPayloadsPerPandaJob", DEFAULT_MAX_PAYLOADS_PER_PANDA_JOB),
    )
    event_service = _event_service(config, max_payloads)
    submit_params = _name_list(config, "submitSideResolvedParams", DEFAULT_SUBMIT_SIDE_PARAMS)
    wms_walltime = _search(config, "maxWmsJobWalltime")
    runner_text = str(runner) if runner_found and runner not in (None, "") else None
    if runner_text is not None or (runner_found and gaps(config, "runnerCommand")):
        check_runner(config, runner_text or "")  # an explicit "" is left to command-lines
    return PayloadOptions(
        runner_command=runner_text,
        submit_env=tuple((p, os.environ[p]) for p in submit_params if os.environ.get(p)),
        submit_side_params=submit_params,
        event_service=event_service,
        max_payloads_per_panda_job=max_payloads,
        max_wms_job_walltime=_number("maxWmsJobWalltime", wms_walltime) if wms_walltime else None,
        job_name_map=bool(_search(config, "enableJobNameMap")) or bool(event_service),
        qnode_map=bool(_search(config, "enableQnodeMap")),
        order_id_map_file=str(_search(config, "orderIdMapFilename", DEFAULT_ORDER_ID_MAP_FILE)),
        run_temp_space_set="LSST_RUN_TEMP_SPACE" in os.environ,
    )


def _staging_end_point(config: Any, facts: JobFactsLookup, run_temp_space_set: bool) -> str | None:
    """Where `submit` copies the files to pre-stage: the root ``fileDistributionEndPoint``.

    The same fallbacks as a label's end point: the jobs' value when the config has none,
    ``fileDistributionEndPointDefault`` when it refers to an unset ``LSST_RUN_TEMP_SPACE``.
    """
    end_point = check_path_key(config, "fileDistributionEndPoint", {}, required=False)
    if not end_point:
        end_point = facts("").file_distribution_end_point
    if end_point and "LSST_RUN_TEMP_SPACE" in end_point and not run_temp_space_set:
        end_point = check_path_key(config, "fileDistributionEndPointDefault", {}, required=False)
    return end_point or None


def _number(key: str, value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}") from None


def _processing_type(config: Any, label: str, curvals: dict[str, str]) -> str | None:
    if label not in SPECIAL_LABELS:
        return _search(config, "processingType", None, curvals=curvals)
    section = _search(config, label)
    if not hasattr(section, "get") and not hasattr(section, "__getitem__"):
        raise ConfigError(f"config section '{label}' is missing; it must hold the {label}'s settings")
    try:
        value = section["processingType"]
    except (KeyError, TypeError):
        value = None
    if value:
        return str(value)
    return FINAL_PROCESSING_TYPE if label == "finalJob" else None


def _label_curval(config: Any, label: str) -> str:
    """The label as a curval: data from the workflow, which config expansion must not evaluate.

    Our config substitutes a `LiteralText` as it is. A real BpsConfig expands curvals like
    config text, so a label it would expand (braces, bpsEval) is refused instead.
    """
    if isinstance(config, BpsYamlConfig):
        return LiteralText(label)
    if "{" in label or "}" in label or "bpsEval" in label:
        raise ConfigError(f"label {label[:100]!r}: a BpsConfig would expand it as a config expression")
    return label


def _label_options(config: Any, label: str, facts: JobFactsLookup) -> LabelOptions:
    label = _label_curval(config, label)
    curvals = {"curr_cluster": label}
    found, site = config.search("computeSite", opt={"curvals": curvals})
    if not found or site in ("", None):
        site = facts(label).compute_site
    if not site:
        raise ConfigError(
            f"config key 'computeSite' is required (for label '{label}'; its jobs have no compute_site)"
        )
    curvals.update(curr_site=str(site), curr_pipetask=label)
    end_point = check_path_key(config, "fileDistributionEndPoint", curvals, required=False)
    if not end_point:
        end_point = facts(label).file_distribution_end_point
    return LabelOptions(
        site=str(site),
        processing_type=_processing_type(config, label, curvals),
        task_type=_search(config, "taskType", DEFAULT_TASK_TYPE, curvals=curvals),
        prod_source_label=_search(config, "prodSourceLabel", DEFAULT_PROD_SOURCE_LABEL, curvals=curvals),
        vo=_search(config, "vo", DEFAULT_VO, curvals=curvals),
        file_distribution_end_point=end_point or None,
        file_distribution_end_point_default=_search(
            config, "fileDistributionEndPointDefault", None, curvals=curvals
        ),
    )


def _max_name_length() -> int:
    """iDDS refuses longer dependency-map names; it honours IDDS_MAX_NAME_LENGTH, so do we."""
    value = os.environ.get("IDDS_MAX_NAME_LENGTH")
    try:
        return int(value) if value else DEFAULT_MAX_NAME_LENGTH
    except ValueError:
        raise ConfigError(
            f"environment variable IDDS_MAX_NAME_LENGTH must be an integer, got {value!r}"
        ) from None


def resolve_options(
    config: Any,
    labels: Iterable[str] = (),
    *,
    submit_path: str | None = None,
    job_facts: JobFactsLookup = _no_facts,
) -> Options:
    """Typed options from a config that answers `search`/`get` like BpsConfig.

    `labels` are the job labels (and the final job's) of the workflow: their per-label
    settings are resolved here. `submit_path` overrides the config's `submitPath`.
    `job_facts` answers for a label what its jobs say where the config is silent.
    """
    path = submit_path
    if path is None:
        path = check_path_key(config, "submitPath", {}, required=False)
    labels = tuple(dict.fromkeys(labels))
    per_label = {label: _label_options(config, label, job_facts) for label in labels}
    payload = _payload_options(config)
    staging = _staging_end_point(config, job_facts, payload.run_temp_space_set)
    warnings = config_warnings(config, labels)  # after the checks: an error is not also a warning
    return Options(
        max_jobs_per_task=_positive_int(
            "maxJobsPerTask", _search(config, "maxJobsPerTask", DEFAULT_MAX_JOBS_PER_TASK)
        ),
        warn_tasks=_positive_int(WARN_TASKS_KEY, _search(config, WARN_TASKS_KEY, WARN_TASKS)),
        max_tasks=_positive_int(MAX_TASKS_KEY, _search(config, MAX_TASKS_KEY, MAX_TASKS)),
        placeholder_params=_name_list(config, "placeholderParams", DEFAULT_PLACEHOLDER_PARAMS),
        max_name_length=_max_name_length(),
        payload=payload,
        labels=per_label,
        submit_path=str(path) if path else None,
        file_distribution_end_point=staging,
        config_warnings=warnings,
        generic_runner=uses_generic_runner(config),
    )
