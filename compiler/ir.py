"""The compiler's intermediate representation.

Every pass reads a `Workflow` and returns a new one (`dataclasses.replace`); nothing else
travels between passes. The IR is built for 10^5-10^6 jobs:

* per-job data lives in one slotted `Job` per job, whose bulky parts (attributes, command
  templates, file tuples) are shared between jobs of a label rather than copied;
* graph structure is index-based (`parents[i]` are indices into `jobs`), so passes never
  hash job names in their inner loops;
* per-job results of later passes (pseudo-input names, order ids, owning task) are flat
  tuples indexed like `jobs` instead of new per-job objects.

networkx and the ctrl_bps classes never appear here: `compiler.load.ingest` converts them.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .cmdline import command_params
from .errors import PassError


class NodeKind(Enum):
    """What a node of the source graph is; only JOB survives the flatten pass."""

    JOB = "job"
    NOOP = "noop"
    GROUP = "group"


_KIND = operator.attrgetter("kind")


@dataclass(frozen=True, slots=True)
class Exec:
    """An executable, as GenericWorkflowExec describes it."""

    name: str
    src_uri: str
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class File:
    """An input or output file of a job, as GenericWorkflowFile describes it."""

    name: str
    src_uri: str | None
    wms_transfer: bool = False
    job_access_remote: bool = False
    job_shared: bool = False


@dataclass(frozen=True, slots=True)
class JobAttrs:
    """The job attributes that become PanDA task parameters.

    Jobs of one label almost always share them, so ingest interns one instance per distinct
    value set: at 10^6 jobs this is a handful of objects instead of a million.
    """

    request_memory: Any = None
    memory_multiplier: Any = None
    request_memory_max: Any = None
    request_cpus: Any = None
    request_walltime: Any = None
    compute_site: str | None = None
    compute_cloud: str | None = None
    accounting_group: str | None = None
    number_of_retries: Any = None
    priority: Any = None
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A job's unembedded command line: executable and arguments, as BPS wrote them.

    Jobs of a label share one instance (ingest interns them), and `params`, the `{name}`
    parameters the command uses, is worked out once per distinct command line.
    """

    executable: Exec | None
    arguments: str | None
    template: str = ""
    params: tuple[str, ...] = ()

    @classmethod
    def of(cls, executable: Exec | None, arguments: str | None) -> Command:
        """A command with its template and parameters worked out."""
        src = executable.src_uri if executable else ""
        template = f"{src} {arguments if arguments is not None else ''}"
        return cls(executable, arguments, template, command_params(template))


NO_COMMAND = Command(None, None)


# Not frozen: a frozen dataclass's __init__ costs 4x (1.4 us against 0.34 us measured), and
# there is one Job per job. Treat instances as immutable all the same (dataclasses.replace).
@dataclass(slots=True)
class Job:
    """One payload job (or, before flattening, a noop or a group)."""

    name: str
    label: str
    kind: NodeKind = NodeKind.JOB
    command: Command = NO_COMMAND
    cmdvals: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    attrs: JobAttrs = JobAttrs()
    inputs: tuple[File, ...] = ()
    outputs: tuple[File, ...] = ()
    group: Graph | None = None  # only for NodeKind.GROUP
    # Set by ingest: the source object `environment`, `attrs`, `inputs` and `outputs` are
    # still to be read from. Only a task's first job needs them, so ingest leaves them
    # to `Workflow.complete` (at 10^5 jobs that is most of ingest's time); None = complete.
    source: Any = None

    @property
    def executable(self) -> Exec | None:
        return self.command.executable


@dataclass(frozen=True, slots=True)
class Graph:
    """A DAG of jobs with index-based edges.

    `parents[i]` lists the indices of job i's parents in the order the source graph gives
    its predecessors (that order is visible in the dependency map). `label_order` and
    `label_jobs` carry the source's own label order and per-label job order when it has
    them (GenericWorkflow.labels / get_jobs_by_label); they are None when the source could
    not give them (e.g. ctrl_bps' label graph is cyclic because of noop jobs).
    """

    jobs: tuple[Job, ...]
    parents: tuple[tuple[int, ...], ...]
    label_order: tuple[str, ...] | None = None
    label_jobs: Mapping[str, tuple[int, ...]] | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    def only_jobs(self) -> bool:
        """Whether every node is a payload job (no noops or groups): one C-level pass."""
        return list(map(_KIND, self.jobs)).count(NodeKind.JOB) == len(self.jobs)

    def children_counts(self) -> list[int]:
        """Out-degree of every job."""
        counts = [0] * len(self.jobs)
        for plist in self.parents:
            for p in plist:
                counts[p] += 1
        return counts


@dataclass(frozen=True, slots=True)
class LabelBlock:
    """The jobs of one label, in the order they are numbered (order id = position)."""

    label: str
    jobs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One PanDA task: a chunk of the jobs of a label (or the final job)."""

    name: str
    label: str
    number: int  # position in the iDDS workflow, 1-based (the reference's task_count)
    chunk: int  # chunk number within the label, 1-based
    jobs: tuple[int, ...]  # job indices, in order-id order
    first_order_id: int = 0
    dependency_tasks: tuple[str, ...] = ()
    is_final: bool = False
    files: tuple[tuple[str, str], ...] = ()  # files this task's jobs need: (key, uri), staged
    direct_io: tuple[str, ...] = ()  # keys of files the job reads in place
    command_line: str | None = None  # embedded command of the task's first job (before hex)
    executable: str | None = None  # command_line encoded and wrapped in runnerCommand
    work: Work | None = None


@dataclass(frozen=True, slots=True)
class LabelOptions:
    """Config values the reference looks up per label (with curr_cluster/site/pipetask)."""

    site: str
    processing_type: str | None = None
    task_type: str = "test"
    prod_source_label: str = "managed"
    vo: str = "wlcg"
    file_distribution_end_point: str | None = None
    file_distribution_end_point_default: str | None = None


@dataclass(frozen=True, slots=True)
class PayloadOptions:
    """Workflow-wide config values that shape command lines and dependency names."""

    runner_command: str | None = None
    submit_env: tuple[tuple[str, str], ...] = ()  # submit-side values of submitSideResolvedParams
    submit_side_params: tuple[str, ...] = ("USER",)
    event_service: tuple[tuple[str, int], ...] = ()  # (label, max payloads per PanDA job)
    max_payloads_per_panda_job: int = 10
    max_wms_job_walltime: int | float | None = None
    job_name_map: bool = False
    qnode_map: bool = False
    order_id_map_file: str = "panda_order_id_map.json"
    run_temp_space_set: bool = False  # whether LSST_RUN_TEMP_SPACE is in the submit environment


@dataclass(frozen=True, slots=True)
class Options:
    """Compile options resolved from the BPS config before any pass runs.

    Passes read these, never the raw config, so every config lookup happens once and a
    bad value is reported before work starts.
    """

    max_jobs_per_task: int = 30000
    warn_tasks: int = 10_000  # limits.WARN_TASKS: more tasks than this gives a warning
    max_tasks: int = 100_000  # limits.MAX_TASKS: more is refused before any task is built
    placeholder_params: tuple[str, ...] = ("qgraphNodeId", "qgraphId")
    max_name_length: int = 4000
    final_pseudo_input: str = "pure_pseudoinput+qgraphNodeId:+qgraphId:"
    payload: PayloadOptions = PayloadOptions()
    labels: Mapping[str, LabelOptions] = field(default_factory=dict)
    submit_path: str | None = None
    file_distribution_end_point: str | None = None  # where submit stages files (root value)
    config_warnings: tuple[str, ...] = ()  # {var}s no config layer defines (BPS empties them)
    generic_runner: bool = False  # the executable is panda-compile's generic runner (no site)


@dataclass(frozen=True, slots=True)
class Work:
    """A task's PanDA parameters: the keyword arguments of iDDS's DomaPanDAWork.

    Field names are exactly the keyword names, so the runtime builds the work with
    `DomaPanDAWork(task_name=..., dependency_map=..., **asdict(work))`.
    """

    executable: str
    task_queue: str | None
    task_rss: Any
    task_rss_retry_offset: Any
    task_rss_retry_step: Any
    task_rss_max: Any
    task_cloud: str
    task_site: str
    task_priority: int
    core_count: Any
    working_group: str | None
    processing_type: str | None
    task_type: str
    prodSourceLabel: str
    vo: str
    es: bool
    es_label: str
    max_events_per_job: int
    maxattempt: Any
    maxwalltime: Any
    task_log: Mapping[str, str]
    primary_input_collection: Mapping[str, str]
    output_collections: tuple[Mapping[str, str], ...]
    log_collections: tuple[Mapping[str, str], ...] = ()
    encode_command_line: bool = True

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments as plain JSON-able values."""
        out = {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]
        for key in ("task_log", "primary_input_collection"):
            out[key] = dict(out[key])
        for key in ("output_collections", "log_collections"):
            out[key] = [dict(c) for c in out[key]]
        return out


@dataclass(frozen=True, slots=True)
class Workflow:
    """The whole compilation state; fields fill in as passes run (None = not yet)."""

    name: str
    options: Options
    source: Graph
    final_job: Job | None = None
    run_attrs: Mapping[str, Any] = field(default_factory=dict)
    final_is_workflow: bool = False
    graph: Graph | None = None  # flattened: JOB nodes only
    labels: tuple[LabelBlock, ...] | None = None
    tasks: tuple[Task, ...] | None = None
    order_ids: tuple[int, ...] | None = None  # per job index
    task_of: tuple[int, ...] | None = None  # per job index: index into tasks
    pseudo_inputs: tuple[str, ...] | None = None  # per job index
    final_task: Task | None = None
    release_after: tuple[str, ...] = ()
    dependencies_done: bool = False
    entry_names: tuple[str, ...] | None = None  # per job, when names differ from pseudo-inputs
    files_to_pre_stage: tuple[tuple[str, str], ...] = ()
    completer: Callable[[Job], Job] | None = None  # fills in a Job's details (from ingest)

    def complete(self, job: Job) -> Job:
        """The job with `environment`, `attrs`, `inputs` and `outputs` read from its source."""
        if job.source is None:
            return job
        assert self.completer is not None, "a job from ingest needs the ingest's completer"
        return self.completer(job)

    def replace(self, **changes: Any) -> Workflow:
        """A copy with some fields changed (passes return this)."""
        return dataclasses.replace(self, **changes)

    # ----- derived views -------------------------------------------------------------------

    def all_tasks(self) -> tuple[Task, ...]:
        """Tasks in iDDS order: the label tasks, then the final task if any."""
        tasks = self.tasks or ()
        return (*tasks, self.final_task) if self.final_task else tasks

    def entry_names_or_pseudo(self) -> tuple[str, ...]:
        """The name each job is known by in dependency maps (its entry and its children's).

        That is its pseudo-input unless the job-name map (`label:orderIdMap_N`) or the
        qnode map (`PH:<job>`) is on.
        """
        names = self.entry_names if self.entry_names is not None else self.pseudo_inputs
        assert names is not None
        return names

    def dependency_entries(self, task: Task) -> Iterator[dict[str, Any]]:
        """The task's dependency map, entry by entry, as iDDS receives it.

        Entries are produced on demand from the index arrays so that writing 10^6 of them
        never holds them all in memory.
        """
        if task.is_final:
            yield {"name": self.options.final_pseudo_input, "submitted": False, "dependencies": []}
            return
        assert self.graph is not None and self.tasks is not None
        assert self.task_of is not None and self.order_ids is not None
        parents, task_of, tasks = self.graph.parents, self.task_of, self.tasks
        names = self.entry_names_or_pseudo()
        es = event_service_fields(task)
        for j in task.jobs:
            entry = {
                "name": names[j],
                "order_id": self.order_ids[j],
                "dependencies": [{"task": tasks[task_of[p]].name, "inputname": names[p]} for p in parents[j]],
            }
            if es is not None:
                entry.update(es(self.order_ids[j]))
            yield entry

    # ----- invariants ----------------------------------------------------------------------

    def verify(self, previous: Workflow | None = None) -> None:
        """Check the invariants of every field filled so far; raise PassError if broken.

        Run after every pass, so a broken pass is caught where it breaks things rather
        than in the emitted files. Cost is O(jobs + edges) per check; a check whose
        inputs are the very objects `previous` (already verified) had is skipped.
        """

        def changed(*names: str) -> bool:
            return previous is None or any(getattr(self, n) is not getattr(previous, n) for n in names)

        problems: list[str] = []
        if self.graph is not None and changed("graph"):
            problems += _verify_graph(self.graph)
        if self.labels is not None and self.graph is not None and changed("graph", "labels"):
            problems += _verify_labels(self.labels, len(self.graph))
        if self.tasks is not None and self.graph is not None and changed("graph", "tasks", "task_of"):
            problems += _verify_tasks(self, check_jobs=not _same_job_lists(self, previous))
        if problems:
            raise PassError(problems)


def event_service_fields(task: Task) -> Callable[[int], dict[str, Any]] | None:
    """For an event-service task, `order_id -> {map_id, sub_map_id, es_name}`.

    iDDS adds these fields when it receives an ES task's dependency map: the task's order
    ids (contiguous within a task) are cut into runs of `max_events_per_job`; run k is
    event-service file `<es_label>:eventservice_<first>^<count>`.
    """
    work = task.work
    if work is None or not work.es or not task.jobs:
        return None
    size = max(int(work.max_events_per_job), 1)
    first, last = task.first_order_id, task.first_order_id + len(task.jobs) - 1
    label = work.es_label

    def fields(order_id: int) -> dict[str, Any]:
        map_id = (order_id - first) // size
        start = first + map_id * size
        count = min(start + size - 1, last) - start + 1
        return {
            "map_id": map_id,
            "sub_map_id": order_id - start,
            "es_name": f"{label}:eventservice_{start}^{count}",
        }

    return fields


def _verify_graph(graph: Graph) -> list[str]:
    n = len(graph.jobs)
    if len(graph.parents) != n:
        return [f"graph has {n} jobs but {len(graph.parents)} parent lists"]
    problems = []
    if not graph.only_jobs():
        problems += [
            f"job '{job.name}' is a {job.kind.value} node after flattening"
            for job in graph.jobs
            if job.kind is not NodeKind.JOB
        ]
    flat = list(itertools.chain.from_iterable(graph.parents))  # C-level: O(edges), no Python loop
    if flat and (min(flat) < 0 or max(flat) >= n):
        problems.append(f"parent indices outside 0..{n - 1}")
    return problems


def _verify_labels(labels: tuple[LabelBlock, ...], n_jobs: int) -> list[str]:
    seen = [0] * n_jobs
    for block in labels:
        for j in block.jobs:
            seen[j] += 1
    missing = sum(1 for s in seen if s == 0)
    doubled = sum(1 for s in seen if s > 1)
    problems = []
    if missing:
        problems.append(f"{missing} jobs are in no label block")
    if doubled:
        problems.append(f"{doubled} jobs are in more than one label block")
    return problems


def _same_job_lists(wf: Workflow, previous: Workflow | None) -> bool:
    """Whether a pass only changed task metadata (the payload passes): no job moved."""
    if previous is None or previous.tasks is None or wf.tasks is None:
        return False
    if wf.graph is not previous.graph or wf.task_of is not previous.task_of:
        return False
    return len(wf.tasks) == len(previous.tasks) and all(
        a.jobs is b.jobs for a, b in zip(wf.tasks, previous.tasks, strict=True)
    )


def _verify_tasks(wf: Workflow, check_jobs: bool = True) -> list[str]:
    """Task names unique and every task within the limit; with `check_jobs`, also that
    every job is in exactly one task and `task_of` agrees (O(jobs), so skipped when a
    pass left every task's job list as it was)."""
    assert wf.tasks is not None and wf.graph is not None
    problems: list[str] = []
    names = [t.name for t in wf.tasks]
    if len(set(names)) != len(names):
        problems.append("duplicate task names")
    limit = wf.options.max_jobs_per_task
    for t in wf.tasks:
        if not t.jobs:
            problems.append(f"task '{t.name}' has no jobs")
        if len(t.jobs) > limit:
            problems.append(f"task '{t.name}' has {len(t.jobs)} jobs, over maxJobsPerTask={limit}")
    if not check_jobs:
        return problems
    count = [0] * len(wf.graph.jobs)
    for t in wf.tasks:
        for j in t.jobs:
            count[j] += 1
    if any(c != 1 for c in count):
        problems.append(f"{sum(1 for c in count if c != 1)} jobs are not in exactly one task")
    if wf.task_of is not None:
        for ti, t in enumerate(wf.tasks):
            if any(wf.task_of[j] != ti for j in t.jobs):
                problems.append(f"task '{t.name}': task_of disagrees with its job list")
    return problems
