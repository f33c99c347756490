"""Convert a GenericWorkflow (real ctrl_bps object or our stand-in) into the IR.

This is the only module that reads GenericWorkflow objects; it uses the subset of the
ctrl_bps API that both the real class and `compiler.load.model` provide. Cost matters here
(it touches every job once, ~10^6 times), so:

* commands, attribute sets, executables and file tuples are interned: jobs of one label
  share them;
* the cyclic garbage collector is paused: the source graph holds millions of container
  objects and every GC pass walks them all (measured: ingest of 100k jobs 1.26 s with the
  GC running, 0.68 s paused);
* predecessors and per-job input/output lists are read from the graph's own mappings
  (`_pred`, `_inputs`, `_outputs`, which both the real class and the stand-in carry) when
  present, instead of one method call and temporary list per job;
* a graph of payload jobs only (the usual one) becomes IR jobs through C-level maps
  (`_payload_jobs`), and a graph the caller loaded for this compile alone gives up its
  adjacency once the IR has its own edges (`consume`).

Every field read is type-checked here, once (`compiler.load.typecheck`): a malformed
pickle is one `LoadError` naming the job and field, never a traceback in a later pass.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Hashable
from itertools import repeat
from typing import Any

import networkx

from ..cmdline import command_template_problem
from ..errors import LoadError
from ..gcpause import gc_paused
from ..ir import Command, Exec, File, Graph, Job, JobAttrs, NodeKind, Options, Workflow
from .typecheck import (
    SCALARS,
    FieldProblem,
    check_arguments,
    check_jobs,
    check_mapping,
    check_text,
    check_workflow_fields,
    is_job_like,
    node_problem,
)

# GenericWorkflowNodeType values (ctrl_bps IntEnum): NOOP=1, PAYLOAD=2, GROUP=3.
_KIND_BY_NODE_TYPE = {1: NodeKind.NOOP, 2: NodeKind.JOB, 3: NodeKind.GROUP}

_ATTR_FIELDS = tuple(f for f in JobAttrs.__slots__)  # type: ignore[attr-defined]
_get_attrs = operator.attrgetter(*_ATTR_FIELDS)


class _Interner:
    """Shares equal attribute sets, executables and file tuples between jobs."""

    def __init__(self) -> None:
        self.attrs: dict[tuple[Any, ...], JobAttrs] = {}
        self.execs: dict[int, Exec | None] = {}
        self.commands: dict[tuple[int, str | None], Command] = {}
        self.converters: list[_JobConverter] = []  # one per (sub)graph, for `complete`
        self.files: dict[int, File] = {}
        self.file_tuples: dict[tuple[int, ...], tuple[File, ...]] = {}
        self._keep: list[Any] = []  # keep source objects alive while their id() is a key

    def job_attrs(self, values: tuple[Any, ...]) -> JobAttrs:
        try:
            found = self.attrs.get(values)
        except TypeError:  # an unhashable value (e.g. a list): refused below
            found = None
        if found is None:
            for name, value in zip(_ATTR_FIELDS, values, strict=True):
                if type(value) not in SCALARS:
                    raise FieldProblem(name, f"must be a string or a number, not {type(value).__name__}")
                if isinstance(value, str):
                    check_text(value, name)
            found = self.attrs[values] = JobAttrs(*values)
        return found

    def executable(self, gwexec: Any) -> Exec | None:
        key = id(gwexec)
        if key not in self.execs:
            if gwexec is not None:
                check_text(getattr(gwexec, "name", None), "executable name")
                check_text(getattr(gwexec, "src_uri", None), "executable src_uri", optional=True)
            self._keep.append(gwexec)
            self.execs[key] = (
                None
                if gwexec is None
                else Exec(gwexec.name, gwexec.src_uri or "", bool(gwexec.transfer_executable))
            )
        return self.execs[key]

    def command(self, gwexec: Any, arguments: str | None) -> Command:
        if arguments is not None and type(arguments) is not str:
            check_arguments(arguments)  # refuses it, named; an unhashable one must not reach the lookup
        key = (id(gwexec), arguments)
        found = self.commands.get(key)
        if found is None:
            check_arguments(arguments)
            command = Command.of(self.executable(gwexec), arguments)
            problem = command_template_problem(command.template)
            if problem:
                raise FieldProblem("arguments", problem)
            found = self.commands[key] = command
        return found

    def file_tuple(self, gwfiles: list[Any]) -> tuple[File, ...]:
        if not gwfiles:
            return ()
        if not isinstance(gwfiles, list | tuple):
            raise FieldProblem("files", f"must be a list, not {type(gwfiles).__name__}")
        key = tuple(map(id, gwfiles))
        found = self.file_tuples.get(key)
        if found is None:
            found = self.file_tuples[key] = tuple(self._file(f) for f in gwfiles)
        return found

    def _file(self, gwfile: Any) -> File:
        key = id(gwfile)
        if key not in self.files:
            name = getattr(gwfile, "name", None)
            check_text(name, "file name")
            check_text(getattr(gwfile, "src_uri", None), f"file {name[:100]!r} src_uri", optional=True)
            self._keep.append(gwfile)
            self.files[key] = File(
                gwfile.name,
                gwfile.src_uri,
                bool(gwfile.wms_transfer),
                bool(gwfile.job_access_remote),
                bool(getattr(gwfile, "job_shared", False)),
            )
        return self.files[key]


def _node_kind(node: Any) -> NodeKind:
    try:
        return _KIND_BY_NODE_TYPE[int(getattr(node, "node_type", 2))]
    except (AttributeError, KeyError, TypeError, ValueError, NotImplementedError):
        raise LoadError(f"node {getattr(node, 'name', node)!r} has an unknown node type") from None


def _files_getter(gw: Any, attr: str, method: str) -> Callable[[str], Any]:
    """A fast `name -> files` lookup: the graph's own mapping if it has one."""
    mapping = getattr(gw, attr, None)
    if isinstance(mapping, dict):
        empty: tuple[()] = ()
        return lambda name: mapping.get(name, empty)
    api = getattr(gw, method)
    return lambda name: api(name, data=True, transfer_only=False)


class _JobConverter:
    """Turns the payload jobs of one graph into IR Jobs."""

    def __init__(self, gw: Any, interner: _Interner) -> None:
        self.interner = interner
        self.gw = gw
        self.inputs_of = _files_getter(gw, "_inputs", "get_job_inputs")
        self.outputs_of = _files_getter(gw, "_outputs", "get_job_outputs")

    def __call__(self, node: Any) -> Job:
        """One payload job as an IR Job, details left to `complete` (shares cmdvals: read-only)."""
        cmdvals = node.cmdvals
        try:
            command = self.interner.command(node.executable, node.arguments)
        except FieldProblem as exc:
            raise node_problem(node.name, exc.field, str(exc)[len(exc.field) + 1 :]) from None
        return Job(
            node.name, node.label, NodeKind.JOB, command, cmdvals if cmdvals is not None else {}, source=node
        )

    def owns(self, node: Any) -> bool:
        """Whether `node` is a job of this converter's graph (files are looked up per graph)."""
        name = node.name
        return name in self.gw and self.gw.nodes[name].get("job") is node

    def complete(self, job: Job) -> Job:
        """`job` with its environment, attributes and files read from its source node."""
        node, interner = job.source, self.interner
        environment = node.environment
        try:
            check_mapping(environment, "environment")
            return dataclasses.replace(
                job,
                environment=environment if environment is not None else {},
                attrs=interner.job_attrs(_get_attrs(node)),
                inputs=interner.file_tuple(self.inputs_of(node.name)),
                outputs=interner.file_tuple(self.outputs_of(node.name)),
                source=None,
            )
        except FieldProblem as exc:
            raise node_problem(job.name, exc.field, str(exc)[len(exc.field) + 1 :]) from None


def _convert_node(node: Any, convert_job: _JobConverter) -> Job:
    kind = _node_kind(node)
    if kind is NodeKind.JOB:
        return convert_job(node)
    if kind is NodeKind.NOOP:
        return Job(name=node.name, label=node.label, kind=NodeKind.NOOP)
    group = ingest_graph(node, convert_job.interner)
    return Job(name=node.name, label=node.label, kind=NodeKind.GROUP, group=group)


def _source_label_order(
    gw: Any, index: dict[str, int]
) -> tuple[tuple[str, ...] | None, dict[str, tuple[int, ...]] | None]:
    """The source's own label order and per-label job order, or (None, None) if unusable."""
    try:
        labels = tuple(gw.labels)
    except networkx.NetworkXUnfeasible:
        return None, None
    position = index.__getitem__
    label_jobs = {label: tuple(map(position, map(_NAME, gw.get_jobs_by_label(label)))) for label in labels}
    return labels, label_jobs


_NODE_TYPE = operator.attrgetter("node_type")
_NAME = operator.attrgetter("name")
_LABEL = operator.attrgetter("label")
_EXECUTABLE = operator.attrgetter("executable")
_ARGUMENTS = operator.attrgetter("arguments")
_CMDVALS = operator.attrgetter("cmdvals")
# What an incomplete job holds until `complete` reads its own (only a task's first job is
# ever completed): one shared empty mapping, not a new dict per job.
_NOT_YET: dict[str, Any] = {}


def _payload_jobs(nodes: list[Any], convert_job: _JobConverter) -> list[Job] | None:
    """IR jobs for a graph of payload jobs only, built by C-level maps; None if it is not.

    The usual graph (every node a payload job with dict cmdvals and hashable arguments)
    costs no Python code per job: at 10^6 jobs 1.4 s of a per-job loop became 0.8-1.0 s. Any
    other graph, or any problem, takes the per-job loop, which explains problems by job.
    """
    try:
        if set(map(_NODE_TYPE, nodes)) != {2}:
            return None
    except AttributeError:  # ctrl_bps before 29.1: no node_type
        return None
    cmdvals = list(map(_CMDVALS, nodes))
    if set(map(type, cmdvals)) != {dict}:
        return None
    interner = convert_job.interner
    executables = list(map(_EXECUTABLE, nodes))
    keys = list(zip(map(id, executables), map(_ARGUMENTS, nodes), strict=True))
    try:
        distinct = dict(zip(keys, nodes, strict=True))
    except TypeError:  # unhashable arguments
        return None
    for key, node in distinct.items():
        if key not in interner.commands:
            try:
                convert_job(node)  # interns the command
            except LoadError:  # the per-job loop names the first job with the problem
                return None
    commands = list(map(interner.commands.__getitem__, keys))
    return list(
        map(
            Job,
            map(_NAME, nodes),
            map(_LABEL, nodes),
            repeat(NodeKind.JOB),
            commands,
            cmdvals,
            repeat(_NOT_YET),
            repeat(JobAttrs()),
            repeat(()),
            repeat(()),
            repeat(None),
            nodes,
        )
    )


_JOB_OF = operator.methodcaller("get", "job")


def _named_nodes(gw: Any) -> tuple[list[str], list[Any]]:
    """Node names and their job objects, in graph order (C-level on networkx's own dict)."""
    node_data = getattr(gw, "_node", None)
    if type(node_data) is dict and set(map(type, node_data.values())) <= {dict}:
        names, nodes = list(node_data), list(map(_JOB_OF, node_data.values()))
    else:
        pairs = list(gw.nodes(data="job"))
        names, nodes = [name for name, _ in pairs], [node for _, node in pairs]
    if type(None) in set(map(type, nodes)):  # no == per node (full stand-ins define __eq__)
        name = names[[node is None for node in nodes].index(True)]
        raise LoadError(f"graph node {name!r} carries no job object")
    return names, nodes


def ingest_graph(gw: Any, interner: _Interner | None = None) -> Graph:
    """The job graph of a GenericWorkflow (or of a group inside one)."""
    interner = interner or _Interner()
    convert_job = _JobConverter(gw, interner)
    interner.converters.append(convert_job)
    names, nodes = _named_nodes(gw)
    jobs = _payload_jobs(nodes, convert_job)
    if jobs is None:
        # Payload jobs are by far the most common node: skip the kind dispatch for them.
        # (ctrl_bps before 29.1 has no node_type: every node is a payload job.)
        jobs = [
            convert_job(node) if getattr(node, "node_type", 2) == 2 else _convert_node(node, convert_job)
            for node in nodes
        ]
    del nodes
    check_jobs(jobs)
    index = dict(zip(names, range(len(names)), strict=True))
    pred = getattr(gw, "_pred", None) or gw.pred
    position = index.__getitem__
    parents = tuple(map(tuple, map(map, repeat(position), map(pred.__getitem__, names))))
    label_order, label_jobs = _source_label_order(gw, index)
    return Graph(tuple(jobs), parents, label_order, label_jobs)


def ingest(gw: Any, options: Options | None = None, *, consume: bool = False) -> Workflow:
    """The initial IR of a whole GenericWorkflow: its graph, final job and run attributes.

    With `consume` (the caller loaded `gw` itself and nobody else holds it), the graph's
    adjacency is emptied once the IR has its own edges: at 10^6 jobs that frees ~0.7 GiB
    (node, successor and predecessor dicts) for the passes to reuse instead of touching
    fresh pages. Only the jobs and the file mappings, which completion reads, stay.
    """
    raw_run_attrs = getattr(gw, "run_attrs", None)
    check_workflow_fields(gw.name, raw_run_attrs)
    with gc_paused():
        interner = _Interner()
        graph = ingest_graph(gw, interner)
        final = gw.get_final()
        final_job = None
        final_is_workflow = False
        if final is not None:
            if hasattr(final, "nodes") and not hasattr(final, "executable"):
                final_is_workflow = True
            elif not is_job_like(final):
                raise LoadError(f"the final job must be a GenericWorkflowJob, not {type(final).__name__}")
            else:
                final_job = interner.converters[0].complete(interner.converters[0](final))
                check_jobs([final_job])
        if consume and len(interner.converters) == 1:
            _release_adjacency(gw)
    run_attrs: dict[Hashable, Any] = dict(raw_run_attrs or {})
    return Workflow(
        name=gw.name,
        options=options if options is not None else Options(),
        source=graph,
        final_job=final_job,
        run_attrs=run_attrs,
        final_is_workflow=final_is_workflow,
        completer=_completer(interner),
    )


def _release_adjacency(gw: Any) -> None:
    """Empty a consumed graph's node and edge dicts (see `ingest`); its jobs live on in the IR."""
    for attr in ("_succ", "_pred", "_node", "_adj"):
        mapping = getattr(gw, attr, None)
        if type(mapping) is dict:
            mapping.clear()
    labels = getattr(gw, "_job_labels", None)
    to_jobs = getattr(labels, "_label_to_jobs", None)
    if isinstance(to_jobs, dict):
        to_jobs.clear()


def _completer(interner: _Interner) -> Callable[[Job], Job]:
    """Completes jobs of any (sub)graph: each converter knows its own graph's file mappings."""
    if len(interner.converters) == 1:  # no groups: every job is the one graph's
        return interner.converters[0].complete
    by_node: dict[int, _JobConverter] = {}

    def complete(job: Job) -> Job:
        converter = by_node.get(id(job.source))
        if converter is None:
            converter = next(c for c in interner.converters if c.owns(job.source))
            by_node[id(job.source)] = converter
        return converter.complete(job)

    return complete
