"""Generators of realistic LSST BPS ``GenericWorkflow`` objects for tests and benchmarks.

Why this exists: panda-compile must be measured and tested on inputs that look like what
``bps transform`` (lsst-ctrl-bps ``transform.py``) really hands to a WMS plugin, at sizes
from 10^3 to 10^6 jobs, without a Butler or a QuantumGraph.  So the workflows here are
built with the real ``lsst.ctrl.bps`` API (``GenericWorkflow.add_job``,
``add_job_inputs``, ``add_workflow_source``, ``add_final``) and copy transform's habits:

- one ``GenericWorkflowExec`` per label (``pipetask``, not transferred), shared by the
  label's jobs, and one shared ``environment`` dict per label (transform copies the
  cached per-label value into every job);
- job names ``{quantum uuid}_{label}_{data id}`` with ``_`` runs squeezed, so fan-in jobs
  end with ``_`` exactly like single-quantum clustering names;
- arguments with ``{qgraphFile}`` already turned into ``<FILE:runQgraphFile>`` and the
  job's input files referenced as ``<FILE:name>``; the remaining ``{key}`` placeholders
  all have a value in ``cmdvals``;
- ``pipetaskInit`` joined last through ``add_workflow_source`` (so it is the last node
  inserted, yet the first label in topological order), ``run_attrs`` like transform's, and
  a ``finalJob`` with a transferred ``final_job.bash`` added with ``add_final``.

Two argument styles are offered (``style=``):

- ``"brief"`` (default): ``${CTRL_MPEXEC_DIR}/bin/pipetask`` as executable, pre-expanded
  options, the butler config as a non-transferred, remotely accessed input file
  (``<FILE:butlerConfig>``) and ``--qgraph-id {qgraphId}``;
- ``"transform"``: exactly what ``transform.py`` of lsst-ctrl-bps 30.x writes with the
  default ``bps_defaults.yaml``: executable ``<ENV:CTRL_MPEXEC_DIR>/bin/pipetask``,
  ``{runPreCmdOpts}``/``{extraRunQuantumOptions}`` left as cmdvals, ``{butlerConfig}`` a
  cmdval rather than a file, and no ``qgraphId``.

Everything is deterministic for a given ``seed`` (node ids come from a seeded
``random.Random``), which goldens and the reference comparison rely on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import random
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowFile, GenericWorkflowJob

__all__ = [
    "DEFAULT_NAME",
    "FINAL_LABEL",
    "LabelProfile",
    "make_random_workflow",
    "make_workflow",
    "plan_shape",
]

DEFAULT_NAME = "u_someone_DRP_20250601T000000Z"
FINAL_LABEL = "finalJob"
INIT_LABEL = "pipetaskInit"
CHAIN_LABELS = ("isr", "characterizeImage", "calibrate")
VISIT_FANIN_LABEL = "consolidateVisitSummary"
GLOBAL_FANIN_LABEL = "makeCcdVisitTable"

BUTLER_CONFIG = "s3://butler/repo/butler.yaml"
PRE_CMD_OPTS = "--long-log --log-level=VERBOSE"
FINAL_SCRIPT = "final_job.bash"

Style = Literal["brief", "transform"]


@dataclasses.dataclass(frozen=True, slots=True)
class LabelProfile:
    """Per-label job attributes, as a submit YAML's ``pipetask.<label>`` section sets them.

    Labels differ on purpose (memory scaling on/off, queues, sites, priorities, missing
    values that make the reference fall back to its defaults) so that a compiler that
    confuses labels or defaults gets caught.
    """

    request_memory: int | None = 2048
    memory_multiplier: float | None = None
    request_memory_max: int | None = None
    number_of_retries: int | None = 3
    request_cpus: int | None = 1
    request_walltime: int | None = None
    compute_site: str | None = "SLAC_Rubin"
    compute_cloud: str | None = None
    queue: str | None = "SLAC_Rubin"
    priority: int | None = 500
    accounting_group: str | None = "rubin_prod"
    environment: Mapping[str, str] | None = None

    def job_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``GenericWorkflowJob``; the environment dict is created
        once here so the label's jobs share it, as they do after transform."""
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kwargs["environment"] = dict(self.environment or {})
        kwargs["retry_unless_exit"] = [1, 2]
        kwargs["preemptible"] = True
        return kwargs


DRP_PROFILES: dict[str, LabelProfile] = {
    INIT_LABEL: LabelProfile(request_memory=2048, number_of_retries=None),
    "isr": LabelProfile(
        request_memory=2048,
        request_walltime=1800,
        accounting_group=None,
        environment={"OMP_NUM_THREADS": "1"},
    ),
    "characterizeImage": LabelProfile(
        request_memory=4096,
        memory_multiplier=2.0,
        request_memory_max=16384,
        number_of_retries=5,
        request_walltime=3600,
        environment={"OMP_NUM_THREADS": "1", "DAF_BUTLER_REPOSITORY": "{butlerConfig}"},
    ),
    "calibrate": LabelProfile(
        request_memory=4096,
        memory_multiplier=2.0,
        request_memory_max=32768,
        number_of_retries=5,
        request_walltime=3600,
        priority=600,
        compute_cloud="US",
    ),
    VISIT_FANIN_LABEL: LabelProfile(
        request_memory=8192,
        memory_multiplier=1.5,
        request_memory_max=65536,
        request_cpus=2,
        request_walltime=7200,
        compute_site="SLAC_Rubin_Himem",
        queue="SLAC_Rubin_Extra_Himem",
        priority=None,
        accounting_group="rubin_prod_himem",
    ),
    GLOBAL_FANIN_LABEL: LabelProfile(
        request_memory=16384, request_cpus=4, queue="SLAC_Rubin_Merge", number_of_retries=1
    ),
    FINAL_LABEL: LabelProfile(
        request_memory=32768, request_cpus=16, queue="SLAC_Rubin_Merge", number_of_retries=None
    ),
}

RANDOM_PROFILES: tuple[LabelProfile, ...] = tuple(
    DRP_PROFILES[label] for label in (*CHAIN_LABELS, VISIT_FANIN_LABEL)
)

# Data-id keys of ctrl_bps's default ``templateDataId`` ("{tract}_{patch}_{band}_{visit}_
# {exposure}_{detector}"), which single-quantum clustering prefixes with
# "{node_number}_{label}_" and then squeezes runs of "_".
_NAME_KEYS = ("tract", "patch", "band", "visit", "exposure", "detector")
_INSTRUMENT = "LSSTCam"
_FIRST_VISIT = 2025060100001


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowOptions:
    """Knobs beyond size/seed/name/final, grouped so the generators keep few parameters.

    ``detectors`` and ``global_fanin`` shape the DRP workflow; ``n_labels`` and
    ``max_parents`` shape the random DAG; ``uuid_tags`` stores ``uuid.UUID`` objects in
    ``job.tags["node_number"]`` as real transform does (off by default: pickles then only
    reference the globals listed in the project's notes).
    """

    detectors: int = 100
    global_fanin: bool = False
    style: Style = "brief"
    uuid_tags: bool = False
    submit_path: str | None = None
    butler_config: str = BUTLER_CONFIG
    file_distribution_end_point: str | None = None
    n_labels: int = 5
    max_parents: int = 3
    intra_label_edges: bool = False


@dataclasses.dataclass(slots=True)
class _LabelCache:
    """What transform computes once per label and then reuses for every job of it."""

    kwargs: dict[str, Any]
    arguments: str
    static_cmdvals: dict[str, str]


class _JobFactory:
    """Builds the jobs of one workflow; holds the seeded RNG and the per-label caches."""

    def __init__(
        self, name: str, seed: int, options: WorkflowOptions, profiles: Mapping[str, LabelProfile]
    ) -> None:
        self.name = name
        self.options = options
        self.profiles = profiles
        self.rng = random.Random(seed)
        self.submit_path = options.submit_path or f"/tmp/submit/{name}"
        self.file_dist = options.file_distribution_end_point or f"file:///tmp/panda_dist/{name}/"
        self.qgraph_id = f"{1748736000 + seed % 100000}.{seed % 1000000:06d}-{4242 + seed % 1000}"
        self.qgraph_file = GenericWorkflowFile(
            "runQgraphFile",
            src_uri=f"{self.submit_path}/{name}.qg",
            wms_transfer=True,
            job_access_remote=True,
            job_shared=True,
        )
        self.inputs = [self.qgraph_file]
        if options.style == "brief":
            butler = GenericWorkflowFile(
                "butlerConfig", src_uri=options.butler_config, job_access_remote=True
            )
            self.inputs.insert(0, butler)
        self._cache: dict[str, _LabelCache] = {}

    def _label(self, label: str) -> _LabelCache:
        """Executable, attributes, arguments and constant cmdvals of a label (cached)."""
        cache = self._cache.get(label)
        if cache is None:
            profile = self.profiles.get(label) or LabelProfile()
            kwargs = profile.job_kwargs()
            kwargs["executable"] = _pipetask_exec(self.options.style)
            arguments, static = _arguments(label == INIT_LABEL, self)
            cache = self._cache[label] = _LabelCache(kwargs, arguments, static)
        return cache

    def make_job(self, label: str, data_id: Mapping[str, Any]) -> GenericWorkflowJob:
        """One single-quantum job of ``label`` for ``data_id``, named like transform names it."""
        cache = self._label(label)
        if label == INIT_LABEL:  # transform: GenericWorkflowJob("pipetaskInit", "pipetaskInit")
            cmdvals = dict(cache.static_cmdvals)
            return GenericWorkflowJob(
                label, label, arguments=cache.arguments, cmdvals=cmdvals, **cache.kwargs
            )
        node = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        sid = str(node)
        name = "_".join([sid, label, *(str(data_id.get(k, "")) for k in _NAME_KEYS)])
        while "__" in name:
            name = name.replace("__", "_")
        tags = dict(data_id)
        tags["label"] = label
        tags["node_number"] = node if self.options.uuid_tags else sid
        cmdvals = {"qgraphNodeId": sid}
        cmdvals.update(cache.static_cmdvals)
        return GenericWorkflowJob(
            name,
            label,
            quanta_counts=Counter({label: 1}),
            tags=tags,
            arguments=cache.arguments,
            cmdvals=cmdvals,
            **cache.kwargs,
        )

    def add(self, gw: GenericWorkflow, job: GenericWorkflowJob, parents: list[str] | None) -> str:
        """Insert ``job`` below ``parents`` with the label's input files; returns its name."""
        gw.add_job(job)  # transform adds every job first, then the edges
        gw.add_job_relationships(parents, job.name)
        gw.add_job_inputs(job.name, self.inputs)
        return job.name


def _pipetask_exec(style: Style) -> GenericWorkflowExec:
    """The label's executable: transform splits runQuantumCommand at the first blank."""
    if style == "transform":
        return GenericWorkflowExec("pipetask", "<ENV:CTRL_MPEXEC_DIR>/bin/pipetask", False)
    return GenericWorkflowExec("pipetask", "${CTRL_MPEXEC_DIR}/bin/pipetask", False)


def _arguments(init: bool, factory: _JobFactory) -> tuple[str, dict[str, str]]:
    """Arguments after transform's ``_enhance_command`` and the cmdvals they need."""
    dist = factory.file_dist
    butler = factory.options.butler_config
    if factory.options.style == "transform":
        if init:
            args = (
                "{initPreCmdOpts} pre-exec-init-qbb {butlerConfig} "
                "{fileDistributionEndPoint}<FILE:runQgraphFile> {extraInitOptions}"
            )
            return args, {
                "initPreCmdOpts": PRE_CMD_OPTS,
                "butlerConfig": butler,
                "fileDistributionEndPoint": dist,
                "extraInitOptions": "",
            }
        args = (
            "{runPreCmdOpts} run-qbb {butlerConfig} {fileDistributionEndPoint}<FILE:runQgraphFile> "
            "--qgraph-node-id {qgraphNodeId} {extraRunQuantumOptions}"
        )
        return args, {
            "runPreCmdOpts": PRE_CMD_OPTS,
            "butlerConfig": butler,
            "fileDistributionEndPoint": dist,
            "extraRunQuantumOptions": "",
        }
    head = f"{PRE_CMD_OPTS} pre-exec-init-qbb" if init else f"{PRE_CMD_OPTS} run-qbb"
    node = "" if init else " --qgraph-node-id {qgraphNodeId}"
    args = (
        f"{head} <FILE:butlerConfig> {{fileDistributionEndPoint}}<FILE:runQgraphFile>{node}"
        " --qgraph-id {qgraphId}"
    )
    static = {
        "butlerConfig": butler,
        "qgraphFile": factory.qgraph_file.src_uri or "",
        "qgraphId": factory.qgraph_id,
        "fileDistributionEndPoint": dist,
    }
    return args, static


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building: the millions of new containers of a large
    workflow trigger repeated full collections that cost ~40 % of generation time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan_shape(n_jobs: int, detectors: int = 100, global_fanin: bool = False) -> tuple[int, int]:
    """``(visits, detectors)`` whose DRP workflow has about ``n_jobs`` graph jobs.

    A visit costs ``3 * detectors + 1`` jobs (the chain per detector plus the visit's
    fan-in), the rest is ``pipetaskInit`` (+ the global fan-in); the final job is not a
    graph node and is not counted.  Small sizes shrink the detector count instead.
    """
    if n_jobs < 1 or detectors < 1:
        raise ValueError(f"n_jobs and detectors must be positive (got {n_jobs}, {detectors})")
    rest = n_jobs - 1 - int(global_fanin)
    per_visit = 3 * detectors + 1
    if rest < per_visit:
        return 1, max(1, (rest - 1) // 3)
    return max(1, round(rest / per_visit)), detectors


def make_workflow(
    n_jobs: int,
    *,
    seed: int = 0,
    name: str = DEFAULT_NAME,
    final: bool = True,
    options: WorkflowOptions | None = None,
) -> GenericWorkflow:
    """A DRP-shaped workflow of about ``n_jobs`` jobs (see ``plan_shape``).

    ``pipetaskInit``; per visit x detector ``isr -> characterizeImage -> calibrate``; per
    visit a ``consolidateVisitSummary`` fan-in over its ``calibrate`` jobs; optionally a
    ``makeCcdVisitTable`` fan-in over all visits; a ``finalJob`` if ``final``.  Jobs are
    inserted visit by visit (a topological order, like ``ClusteredQuantumGraph.clusters``).
    """
    options = options or WorkflowOptions()
    visits, detectors = plan_shape(n_jobs, options.detectors, options.global_fanin)
    with _gc_paused():
        return _build_drp(_JobFactory(name, seed, options, DRP_PROFILES), visits, detectors, final)


def _build_drp(factory: _JobFactory, visits: int, detectors: int, final: bool) -> GenericWorkflow:
    """Body of ``make_workflow``: insert the jobs visit by visit."""
    name, options = factory.name, factory.options
    gw = GenericWorkflow(name)
    gw.add_file(factory.qgraph_file)
    fanins: list[str] = []
    for v in range(visits):
        visit = _FIRST_VISIT + v
        calibs: list[str] = []
        for detector in range(detectors):
            parents: list[str] | None = None
            for label in CHAIN_LABELS:
                dims = _chain_data_id(label, visit, detector)
                parents = [factory.add(gw, factory.make_job(label, dims), parents)]
            calibs.extend(parents or ())
        dims = {"instrument": _INSTRUMENT, "visit": visit}
        fanins.append(factory.add(gw, factory.make_job(VISIT_FANIN_LABEL, dims), calibs))
    if options.global_fanin:
        factory.add(gw, factory.make_job(GLOBAL_FANIN_LABEL, {"instrument": _INSTRUMENT}), fanins)
    _finish(gw, factory, final)
    return gw


def _chain_data_id(label: str, visit: int, detector: int) -> dict[str, Any]:
    """Required data-id dimensions of a chain quantum (isr is per exposure, others per visit)."""
    if label == "isr":
        return {"instrument": _INSTRUMENT, "detector": detector, "exposure": visit}
    return {"instrument": _INSTRUMENT, "detector": detector, "visit": visit}


def make_random_workflow(
    n_jobs: int,
    *,
    seed: int = 0,
    name: str = DEFAULT_NAME,
    final: bool = True,
    options: WorkflowOptions | None = None,
) -> GenericWorkflow:
    """A random DAG of ``n_jobs`` jobs over ``options.n_labels`` labels (plus pipetaskInit).

    Each job draws a label and up to ``options.max_parents`` parents among jobs of earlier
    labels (and earlier jobs of its own label if ``options.intra_label_edges``), so the job
    graph and the label graph stay acyclic while labels get fan-in, fan-out and skips.
    Jobs left without parents hang below pipetaskInit.
    """
    options = options or WorkflowOptions()
    if n_jobs < 1 or options.n_labels < 1:
        raise ValueError(f"n_jobs and n_labels must be positive (got {n_jobs}, {options.n_labels})")
    labels = [f"task{k:02d}" for k in range(options.n_labels)]
    profiles = {label: RANDOM_PROFILES[k % len(RANDOM_PROFILES)] for k, label in enumerate(labels)}
    profiles.update({INIT_LABEL: DRP_PROFILES[INIT_LABEL], FINAL_LABEL: DRP_PROFILES[FINAL_LABEL]})
    with _gc_paused():
        factory = _JobFactory(name, seed, options, profiles)
        return _build_random(factory, labels, random.Random(seed ^ 0x5EED), n_jobs, final)


def _build_random(
    factory: _JobFactory, labels: list[str], rng: random.Random, n_jobs: int, final: bool
) -> GenericWorkflow:
    """Body of ``make_random_workflow``: jobs in insertion (= topological) order."""
    name, options = factory.name, factory.options
    gw = GenericWorkflow(name)
    gw.add_file(factory.qgraph_file)
    by_label: list[list[str]] = [[] for _ in labels]
    for i in range(max(1, n_jobs - 1)):
        k = rng.randrange(len(labels))
        parents = _random_parents(rng, by_label[: k + int(options.intra_label_edges)], options.max_parents)
        dims = {"instrument": _INSTRUMENT, "detector": i % 189, "visit": _FIRST_VISIT + i // 189}
        by_label[k].append(factory.add(gw, factory.make_job(labels[k], dims), parents or None))
    _finish(gw, factory, final)
    return gw


def _random_parents(rng: random.Random, pools: list[list[str]], max_parents: int) -> list[str]:
    """Up to ``max_parents`` distinct names drawn from random non-empty ``pools``."""
    chosen: dict[str, None] = {}
    if not pools:
        return []
    for _ in range(rng.randint(0, max_parents)):
        pool = pools[rng.randrange(len(pools))]
        if pool:
            chosen[pool[rng.randrange(len(pool))]] = None
    return list(chosen)


def _finish(gw: GenericWorkflow, factory: _JobFactory, final: bool) -> None:
    """Add pipetaskInit, run attributes and the final job the way transform does."""
    init = GenericWorkflow("init")
    init.add_file(factory.qgraph_file)
    init_job = factory.make_job(INIT_LABEL, {})
    factory.add(init, init_job, None)
    gw.add_workflow_source(init)
    gw.run_attrs.update(
        {
            "bps_isjob": "True",
            "bps_project": "dev",
            "bps_campaign": "quick",
            "bps_run": gw.name,
            "bps_operator": "someone",
            "bps_payload": "DRP",
            "bps_runsite": "SLAC_Rubin",
        }
    )
    if final:
        gw.add_final(_final_job(gw, factory))


def _final_job(gw: GenericWorkflow, factory: _JobFactory) -> GenericWorkflowJob:
    """``finalJob`` as ``transform.create_final_job`` builds it (script transferred)."""
    profile = factory.profiles.get(FINAL_LABEL) or DRP_PROFILES[FINAL_LABEL]
    kwargs = profile.job_kwargs()
    kwargs.update(retry_unless_exit=2, concurrency_limit="db_limit", preemptible=None)
    script = f"{factory.submit_path}/{FINAL_SCRIPT}"
    job = GenericWorkflowJob(
        FINAL_LABEL,
        FINAL_LABEL,
        executable=GenericWorkflowExec(FINAL_SCRIPT, script, True),
        arguments=f"<FILE:runQgraphFile> {factory.options.butler_config}",
        **kwargs,
    )
    gw.add_job_inputs(job.name, [factory.qgraph_file])
    return job


def job_count(gw: GenericWorkflow) -> int:
    """Graph jobs plus the final job: what a compiler must place into tasks."""
    return gw.number_of_nodes() + int(gw.get_final() is not None)


def labels_of(gw: GenericWorkflow) -> Iterable[str]:
    """Labels in the workflow's (topological) label order, final label last if present."""
    final = gw.get_final()
    return [*gw.labels, *([final.label] if final is not None else [])]
