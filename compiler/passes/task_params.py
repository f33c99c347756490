"""task-params: each task's PanDA parameters (the DomaPanDAWork keyword arguments).

They come from the task's first job and the per-label config, with the reference's
defaults where a job leaves a value unset (rss 1024 MB, rss max 512000 MB, priority 900,
1 core, 3 attempts, walltime 90000 s, cloud US). Memory retries: with a
`memory_multiplier` PanDA raises the memory by `rss * multiplier` per retry, else it
retries with the same memory.

Event service (`enableEventService: "label:N"`) packs up to N jobs into one PanDA job; with
`maxWmsJobWalltime` and a job walltime, N becomes how many jobs fit in that walltime, and
below 2 the event service is off for the task. A value that is not a number where PanDA
needs one is an error naming the job and the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..ir import Job, Task, Work, Workflow
from .payload_common import TaskProblem, update_tasks

DEFAULT_RSS = 1024
DEFAULT_RSS_MAX = 512000
DEFAULT_PRIORITY = 900
DEFAULT_CORES = 1
DEFAULT_ATTEMPTS = 3
DEFAULT_WALLTIME = 90000
DEFAULT_CLOUD = "US"
DEFAULT_MAX_PAYLOADS = 10
TASK_LOG = {
    "destination": "local",
    "value": "log.tgz",
    "dataset": "PandaJob_#{pandaid}/",
    "token": "local",
    "param_type": "log",
    "type": "template",
}
NUMERIC_ATTRS = {
    "request_memory": "requestMemory",
    "memory_multiplier": "memoryMultiplier",
    "request_memory_max": "requestMemoryMax",
    "request_cpus": "requestCpus",
    "request_walltime": "requestWalltime",
    "number_of_retries": "numberOfRetries",
}


def _check_numbers(job: Job) -> None:
    for attr, key in NUMERIC_ATTRS.items():
        value = getattr(job.attrs, attr)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise TaskProblem(f"{attr} ({key}) must be a number, got {value!r}")


def _priority(job: Job) -> int:
    value = job.attrs.priority
    if not value:
        return DEFAULT_PRIORITY
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TaskProblem(f"priority must be an integer, got {value!r}") from None


def _event_service(wf: Workflow, task: Task, job: Job) -> tuple[bool, int]:
    """(event service on, max payloads per PanDA job) for a task."""
    if task.is_final:
        return False, DEFAULT_MAX_PAYLOADS
    payload = wf.options.payload
    per_label = dict(payload.event_service)
    max_payloads = per_label.get(task.label, payload.max_payloads_per_panda_job)
    enabled = task.label in per_label
    walltime, wms_walltime = job.attrs.request_walltime, payload.max_wms_job_walltime
    if enabled and walltime and wms_walltime:
        max_payloads = int(wms_walltime / walltime)
        enabled = max_payloads >= 2
    return enabled, max_payloads


def _walltime(job: Job, es: bool, max_payloads: int, wms_walltime: Any) -> Any:
    walltime = job.attrs.request_walltime
    if es and walltime and max_payloads:
        return walltime * max_payloads
    if es and wms_walltime:
        return wms_walltime
    return walltime or DEFAULT_WALLTIME


def task_work(wf: Workflow, task: Task, job: Job) -> Work:
    """The DomaPanDAWork keyword arguments of one task, whose first job is `job`."""
    _check_numbers(job)
    attrs, label_options = job.attrs, wf.options.labels[task.label]
    rss = attrs.request_memory or DEFAULT_RSS
    retry_step = rss * attrs.memory_multiplier if attrs.memory_multiplier else 0
    es, max_payloads = _event_service(wf, task, job)
    wms_walltime = None if task.is_final else wf.options.payload.max_wms_job_walltime
    assert task.executable is not None
    return Work(
        executable=task.executable,
        task_queue=attrs.queue,
        task_rss=rss,
        task_rss_retry_offset=0 if retry_step else rss,
        task_rss_retry_step=retry_step,
        task_rss_max=attrs.request_memory_max or DEFAULT_RSS_MAX,
        task_cloud=attrs.compute_cloud or DEFAULT_CLOUD,
        task_site=label_options.site,
        task_priority=_priority(job),
        core_count=attrs.request_cpus or DEFAULT_CORES,
        working_group=attrs.accounting_group,
        processing_type=label_options.processing_type,
        task_type=label_options.task_type,
        prodSourceLabel=label_options.prod_source_label,
        vo=label_options.vo,
        es=es,
        es_label=None if task.is_final else task.label,
        max_events_per_job=max_payloads,
        maxattempt=attrs.number_of_retries or DEFAULT_ATTEMPTS,
        maxwalltime=_walltime(job, es, max_payloads, wms_walltime),
        task_log=TASK_LOG,
        primary_input_collection={
            "scope": "pseudo_dataset",
            "name": f"pseudo_input_collection#{task.number}",
        },
        output_collections=({"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{task.number}"},),
    )


@dataclass(frozen=True)
class TaskParams:
    """PanDA task parameters per task."""

    name: ClassVar[str] = "task-params"
    description: ClassVar[str] = "memory, retries, site, cloud, queue, priority, cores, walltime, types, ES"

    def run(self, wf: Workflow) -> Workflow:
        return update_tasks(wf, lambda task, job: dataclasses.replace(task, work=task_work(wf, task, job)))
