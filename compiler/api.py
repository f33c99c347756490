"""The Python API: compile a GenericWorkflow, write its submission folder.

`compile_workflow` accepts what operators have at hand: a GenericWorkflow object (real
ctrl_bps, or loaded by us), a pickle path or URI, or a BPS submit directory; and a config
as a BpsConfig, a YAML path, a mapping, or nothing (bundled defaults).
"""

from __future__ import annotations

import dataclasses
import operator
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bps_values import standalone_config
from .config import as_config, is_config_location
from .emit.provenance import pickle_digest_started
from .emit.writer import configured_templates
from .emit.writer import write_outdir as _write_outdir
from .errors import CompileError
from .gcpause import gc_paused
from .ir import Graph, Job, NodeKind, Workflow
from .load import is_generic_workflow, load_generic_workflow
from .load.ingest import ingest
from .options import JobFacts, JobFactsLookup, resolve_options
from .passes.pipeline import AfterPass, run_pipeline

WORKFLOW_PICKLE = "bps_generic_workflow.pickle"
_LABEL = operator.attrgetter("label")


@dataclass
class Compiled:
    """A compiled workflow and where the time went (phase or pass name -> seconds).

    `input_digest` identifies the input in every emitted document: the pickle's sha256
    when compiled from a file, else (None) the writer's digest of the DAG itself.
    `templates_dir` is the site's template folder from the config (`pandaCompileTemplates`).
    """

    workflow: Workflow
    timings: dict[str, float] = field(default_factory=dict)
    config: Any = None
    input_digest: str | None = None
    templates_dir: str | None = None


def resolve_inputs(source: str | os.PathLike[str], config: Any = None) -> tuple[str, Any]:
    """The pickle and config to use for a path that may be a BPS submit directory.

    A submit directory holds `bps_generic_workflow.pickle` and the `<name>_config.yaml`
    that `bps` wrote; an explicit config wins over the one found there.
    """
    path = Path(source)
    if not path.is_dir():
        return str(source), config
    pickle_path = path / WORKFLOW_PICKLE
    if not pickle_path.exists():
        raise CompileError(f"{path} is a folder but has no {WORKFLOW_PICKLE}")
    if config is None:
        found = sorted(path.glob("*_config.yaml"))
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise CompileError(f"{path} holds several configs ({names}); choose one with --config")
        config = str(found[0]) if found else None
    return str(pickle_path), config


def _labels(graph: Graph) -> list[str]:
    """Every job label of a source graph, groups included."""
    if graph.only_jobs():  # the usual case: one C-level pass
        return list(dict.fromkeys(map(_LABEL, graph.jobs)))
    out: list[str] = []
    for job in graph.jobs:
        if job.kind is NodeKind.JOB:
            out.append(job.label)
        elif job.group is not None:
            out += _labels(job.group)
    return list(dict.fromkeys(out))


def _first_jobs(graph: Graph, out: dict[str, Job]) -> dict[str, Job]:
    """The first job of every label (groups included), in graph order."""
    for job in graph.jobs:
        if job.kind is NodeKind.JOB:
            out.setdefault(job.label, job)
        elif job.group is not None:
            _first_jobs(job.group, out)
    return out


def job_facts_of(wf: Workflow) -> JobFactsLookup:
    """`JobFacts` per label from its first job; the graph is walked on the first question only.

    A job without an end point of its own (the final job's script takes none) gets the one
    every other label's jobs agree on, if they agree.
    """
    cache: dict[str, JobFacts] = {}

    def own(job: Job) -> JobFacts:
        site = wf.complete(job).attrs.compute_site
        end_point = job.cmdvals.get("fileDistributionEndPoint")
        return JobFacts(
            compute_site=site if isinstance(site, str) and site else None,
            file_distribution_end_point=end_point if isinstance(end_point, str) and end_point else None,
        )

    def facts(label: str) -> JobFacts:
        if not cache:
            firsts = _first_jobs(wf.source, {})
            if wf.final_job is not None:
                firsts.setdefault(wf.final_job.label, wf.final_job)
            cache.update({name: own(job) for name, job in firsts.items()})
        found = cache.get(label, JobFacts())
        if found.file_distribution_end_point is None:
            shared = {f.file_distribution_end_point for f in cache.values()} - {None}
            if len(shared) == 1:
                return dataclasses.replace(found, file_distribution_end_point=shared.pop())
        return found

    return facts


def compile_workflow(
    generic_workflow: Any,
    config: Any = None,
    *,
    submit_path: str | os.PathLike[str] | None = None,
    after_pass: AfterPass | None = None,
    stop_after: str | None = None,
    allow_bps_eval: bool | None = None,
) -> Compiled:
    """Lower a GenericWorkflow into PanDA tasks (the IR); nothing is written.

    `submit_path` is where the submission files will be (the OUTDIR, or BPS's submit
    directory): staged map files are referred to there. Without it, the config's
    `submitPath` is used. `allow_bps_eval` lets config values run ``bpsEval``; None
    leaves it to the caller's own config (`compiler.config.load_config`), never to a
    config found in a submit folder.
    """
    own_config = config is not None
    timings: dict[str, float] = {}
    # One GC pause over load, ingest and passes: none of them builds garbage cycles, and
    # each collection would walk every job object again (a full one after a 100k-job load
    # costs ~0.1 s, after 1M jobs seconds).
    with gc_paused():
        start = time.perf_counter()
        digest = None
        submit_dir = None
        loaded_here = not is_generic_workflow(generic_workflow)
        if loaded_here:
            pickle_path, config = resolve_inputs(generic_workflow, config)
            digest_of_file = pickle_digest_started(pickle_path)  # on the other core meanwhile
            generic_workflow = load_generic_workflow(pickle_path, lean=True)
            submit_dir = os.path.dirname(os.path.abspath(pickle_path))
            digest = digest_of_file()
            timings["load"] = time.perf_counter() - start
        start = time.perf_counter()
        # A workflow loaded here is ours alone: ingest may empty its adjacency.
        wf = ingest(generic_workflow, consume=loaded_here)
        del generic_workflow
        timings["ingest"] = time.perf_counter() - start
        start = time.perf_counter()
        if config is None or is_config_location(config):
            # A standalone compile: layer the file as `bps submit` would have.
            cfg = standalone_config(
                config, wf.name, wf.run_attrs, submit_dir, allow_bps_eval=allow_bps_eval, own=own_config
            )
        else:
            cfg = as_config(config, allow_bps_eval=allow_bps_eval, own=own_config)
        labels = _labels(wf.source) + ([wf.final_job.label] if wf.final_job is not None else [])
        path = os.path.abspath(submit_path) if submit_path is not None else None
        wf = wf.replace(options=resolve_options(cfg, labels, submit_path=path, job_facts=job_facts_of(wf)))
        timings["config"] = time.perf_counter() - start
        run = run_pipeline(wf, after_pass=after_pass, stop_after=stop_after)
    timings.update(run.timings)
    return Compiled(run.workflow, timings, cfg, digest, configured_templates(cfg))


def write_outdir(
    compiled: Compiled | Workflow,
    outdir: str | os.PathLike[str],
    force: bool = False,
    templates_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the submission folder for a compiled workflow, atomically.

    `templates_dir` (a site's templates) overrides the one the config named.
    """
    wf = compiled.workflow if isinstance(compiled, Compiled) else compiled
    digest = compiled.input_digest if isinstance(compiled, Compiled) else None
    if templates_dir is None and isinstance(compiled, Compiled):
        templates_dir = compiled.templates_dir
    start = time.perf_counter()
    with gc_paused():
        path = _write_outdir(wf, outdir, force=force, input_digest=digest, templates_dir=templates_dir)
    if isinstance(compiled, Compiled):
        compiled.timings["write"] = time.perf_counter() - start
    return path
