"""Run the reference PanDA plugin's ``prepare`` and extract what panda-compile must match.

Why: panda-compile is judged against ``lsst.ctrl.bps.panda.PanDAService.prepare``
(lsst-ctrl-bps-panda 30.0.0), both for speed and for the tasks it produces, so benchmarks
and tests need one well-understood way to run it offline.

What the reference needs (found by running it; see also the comments in
``submit-example.yaml`` next to this file):

- Environment *before* ``lsst.ctrl.bps.panda`` is imported: ``PANDA_BEHIND_REAL_LB=1``
  and ``PANDACACHE_URL`` (any value), else panda-client resolves a host name at import
  and fails offline.  ``ensure_reference_env`` sets them if missing.
- ``USER`` in the environment: ``CommandLineEmbedder`` substitutes ``<ENV:USER>`` per job
  and, when USER is missing, logs "Expected parameter USER is not found ..." once per
  job (about 25 % slower).  ``ensure_reference_env`` sets it from the password database.
- The config as ``BpsConfig(path)``: that does not merge ``bps_defaults.yaml`` and the
  plugin has no defaults of its own, so the YAML must carry ``computeSite``,
  ``fileDistributionEndPoint``/``fileDistributionEndPointDefault`` (``TypeError`` if
  absent), ``runnerCommand`` (else every executable is silently ``""``),
  ``placeholderParams`` and a ``finalJob:`` section when the workflow has a final job
  (``TypeError: string indices must be integers`` without it).
- ``submitPath`` naming an existing directory: ``prepare`` writes
  ``panda_workflow.pickle`` into ``out_prefix``.  ``run_reference_prepare`` creates
  ``out_prefix`` and points ``submitPath`` at it, and sets ``uniqProcName`` to the
  workflow's name (as bps does), so ``fileDistributionEndPoint`` matches the cmdvals the
  generator in ``workflows.py`` writes.
- Importing idds configures the *root* logger at INFO on stdout; the reference then logs
  a few lines per task there.  Machine-readable output therefore goes to a file
  (``--report-json``), never to stdout.

CLI::

    python benchmarks/reference_prepare.py GW.pickle OUTDIR [--config YAML]
        [--summary SUMMARY.json] [--report-json REPORT.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import pwd
import resource
import sys
import time
from collections.abc import Mapping
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.join(HERE, "submit-example.yaml")

# DomaPanDAWork constructor keyword -> attribute it is stored in.  Read back after
# prepare; ``maxattempt`` and ``core_count`` went through ``int(x) if x else default``.
_WORK_KWARGS: dict[str, str] = {
    "executable": "executable",
    "task_name": "task_name",
    "task_queue": "task_queue",
    "task_log": "task_log",
    "encode_command_line": "encode_command_line",
    "task_rss": "task_rss",
    "task_rss_retry_offset": "task_rss_retry_offset",
    "task_rss_retry_step": "task_rss_retry_step",
    "task_rss_max": "task_rss_max",
    "task_cloud": "task_cloud",
    "task_site": "task_site",
    "task_priority": "task_priority",
    "core_count": "core_count",
    "working_group": "working_group",
    "processing_type": "processingType",
    "task_type": "task_type",
    "prodSourceLabel": "prodSourceLabel",
    "vo": "vo",
    "es": "es",
    "es_label": "es_label",
    "max_events_per_job": "max_events_per_job",
    "maxattempt": "maxAttempt",
    "maxwalltime": "maxWalltime",
}


def ensure_reference_env() -> None:
    """Set the environment the reference needs (see module docstring) unless already set."""
    os.environ.setdefault("PANDA_BEHIND_REAL_LB", "1")
    os.environ.setdefault("PANDACACHE_URL", "https://127.0.0.1:25443/server/panda")
    if not os.environ.get("USER"):
        os.environ["USER"] = pwd.getpwuid(os.getuid()).pw_name


def load_reference_config(config_path: str, out_prefix: str, workflow_name: str | None = None) -> Any:
    """``BpsConfig(config_path)`` with ``submitPath`` (and ``uniqProcName``) overridden."""
    from lsst.ctrl.bps import BpsConfig

    config = BpsConfig(config_path)
    config["submitPath"] = out_prefix
    if workflow_name:
        config["uniqProcName"] = workflow_name
    return config


def run_reference_prepare(
    generic_workflow: Any,
    config_path: str,
    out_prefix: str,
    timings: dict[str, float] | None = None,
) -> Any:
    """Run ``PanDAService.prepare`` on ``generic_workflow``; returns the ``PandaBpsWmsWorkflow``.

    ``prepare`` also writes ``out_prefix/panda_workflow.pickle``.  If ``timings`` is
    given, it receives seconds for ``import``, ``config`` and ``prepare`` (prepare
    includes the reference's own pickle write, as in ``bps submit``).
    """
    timings = {} if timings is None else timings
    ensure_reference_env()
    t0 = time.perf_counter()
    from lsst.ctrl.bps.panda import PanDAService

    t1 = time.perf_counter()
    os.makedirs(out_prefix, exist_ok=True)
    config = load_reference_config(config_path, out_prefix, generic_workflow.name)
    service = PanDAService(config)
    t2 = time.perf_counter()
    workflow = service.prepare(config, generic_workflow, out_prefix)
    t3 = time.perf_counter()
    timings.update({"import": t1 - t0, "config": t2 - t1, "prepare": t3 - t2})
    return workflow


def ordered_works(idds_workflow: Any) -> list[Any]:
    """Works in the order ``add_work`` was called.

    ``idds.workflowv2.workflow.Workflow`` delegates to its ``template``
    (a ``WorkflowBase``), whose ``add_work`` stores ``works[work.get_internal_id()] =
    work`` in a plain dict, so insertion order is the order of addition.  (``work_sequence``
    stays empty and ``independent_works`` drops the final work, so neither will do.)
    """
    return list(idds_workflow.template.works.values())


def _collection(coll: Any, num_run: Any = None) -> dict[str, Any] | None:
    """A ``Collection`` back to the ``{"scope", "name"}`` dict it was made from.

    iDDS appends ``".{num_run}"`` to output collection names when ``Work.num_run`` is set
    (it is, to 0, in the constructor): ``pseudo_output_collection#5`` reads back as
    ``...#5.0``.  Passing ``num_run`` strips that suffix to recover the kwarg.
    """
    if coll is None:
        return None
    name = coll.name
    suffix = f".{num_run}"
    if num_run is not None and isinstance(name, str) and name.endswith(suffix):
        name = name[: -len(suffix)]
    return {"scope": coll.scope, "name": name}


def work_summary(work: Any) -> dict[str, Any]:
    """One ``DomaPanDAWork``: name, dependency_tasks, dependency_map and readable kwargs.

    The reference leaves ``dependency_tasks`` as ``None`` on the final work (it never
    sets it); that is reported as ``[]`` so every entry has a list.
    """
    kwargs = {key: getattr(work, attr) for key, attr in _WORK_KWARGS.items()}
    kwargs["primary_input_collection"] = _collection(work.primary_input_collection)
    kwargs["output_collections"] = [_collection(c, work.num_run) for c in work.output_collections]
    kwargs["log_collections"] = [_collection(c) for c in work.log_collections]
    dependency_map = work.dependency_map or []
    return {
        "name": work.task_name,
        "dependency_tasks": list(work.dependency_tasks or []),
        "dependency_map": [_plain(item) for item in dependency_map],
        "work": kwargs,
    }


def _plain(value: Any) -> Any:
    """Deep copy into JSON-able builtins so the summary shares nothing with the reference."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def reference_summary(wms_workflow: Any) -> dict[str, Any]:
    """What we compare against: works in order, the final AND condition, files to stage.

    ``sink_tasks`` are the works whose ``is_terminated`` make up the ``AndCondition``
    that releases the final work (``final_tasks``, its ``true_works``); both are empty if
    there is no final job.
    """
    idds_workflow = wms_workflow.idds_client_workflow
    sink_tasks: list[str] = []
    final_tasks: list[str] = []
    for cond in idds_workflow.template.conditions.values():
        sink_tasks.extend(method.__self__.task_name for method in cond.conditions)
        final_tasks.extend(work.task_name for work in cond.true_works)
    return {
        "workflow_name": idds_workflow.name,
        "works": [work_summary(work) for work in ordered_works(idds_workflow)],
        "sink_tasks": sink_tasks,
        "final_tasks": final_tasks,
        "files_to_pre_stage": dict(wms_workflow.files_to_pre_stage),
        "run_attrs": dict(wms_workflow.run_attrs),
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_generic_workflow_pickle(path: str) -> Any:
    """Unpickle a GenericWorkflow with the real ctrl_bps classes (GC paused, as it helps)."""
    import lsst.ctrl.bps  # noqa: F401  (import outside the timed load, like the reference)

    gc.disable()
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    finally:
        gc.enable()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Run the reference PanDA prepare on a pickle.")
    parser.add_argument("pickle", help="GenericWorkflow pickle")
    parser.add_argument("outdir", help="out_prefix / submitPath (created)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="BPS submit YAML")
    parser.add_argument("--summary", help="write reference_summary() as JSON here")
    parser.add_argument("--report-json", help="write timings and peak RSS as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Unpickle, prepare, report; timings go to stderr and optionally to a JSON file."""
    args = _parse(argv)
    ensure_reference_env()
    t0 = time.perf_counter()
    import lsst.ctrl.bps  # noqa: F401

    t1 = time.perf_counter()
    gw = load_generic_workflow_pickle(args.pickle)
    t2 = time.perf_counter()
    timings: dict[str, float] = {"import_ctrl_bps": t1 - t0, "unpickle": t2 - t1}
    workflow = run_reference_prepare(gw, args.config, args.outdir, timings)
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as fh:
            json.dump(reference_summary(workflow), fh, indent=1)
    report = {
        "timings": timings,
        "total": time.perf_counter() - t0,
        "peak_rss_mib": peak_rss_mib(),
        "tasks": len(ordered_works(workflow.idds_client_workflow)),
    }
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
    print(json.dumps(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
