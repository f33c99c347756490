"""Convert a GenericWorkflow (real ctrl_bps object or our stand-in) into the IR.

This is the only module that reads GenericWorkflow objects; it uses the public subset of
the ctrl_bps API that both the real class and `compiler.load.model` provide. Cost matters
here (it touches every job once), so attribute sets, executables and file tuples are
interned: jobs of one label share them.
"""

from __future__ import annotations

import operator
from collections.abc import Hashable
from typing import Any

import networkx

from ..errors import LoadError
from ..ir import Exec, File, Graph, Job, JobAttrs, NodeKind, Options, Workflow

# GenericWorkflowNodeType values (ctrl_bps IntEnum): NOOP=1, PAYLOAD=2, GROUP=3.
_KIND_BY_NODE_TYPE = {1: NodeKind.NOOP, 2: NodeKind.JOB, 3: NodeKind.GROUP}

_ATTR_FIELDS = tuple(f for f in JobAttrs.__slots__)  # type: ignore[attr-defined]
_get_attrs = operator.attrgetter(*_ATTR_FIELDS)


class _Interner:
    """Shares equal attribute sets, executables and file tuples between jobs."""

    def __init__(self) -> None:
        self.attrs: dict[tuple[Any, ...], JobAttrs] = {}
        self.execs: dict[int, Exec | None] = {}
        self.files: dict[int, File] = {}
        self.file_tuples: dict[tuple[int, ...], tuple[File, ...]] = {}
        self._keep: list[Any] = []  # keep source objects alive while their id() is a key

    def job_attrs(self, values: tuple[Any, ...]) -> JobAttrs:
        try:
            found = self.attrs.get(values)
        except TypeError:  # an unhashable value (e.g. a list): no sharing for this job
            return JobAttrs(*values)
        if found is None:
            found = self.attrs[values] = JobAttrs(*values)
        return found

    def executable(self, gwexec: Any) -> Exec | None:
        key = id(gwexec)
        if key not in self.execs:
            self._keep.append(gwexec)
            self.execs[key] = (
                None
                if gwexec is None
                else Exec(gwexec.name, gwexec.src_uri or "", bool(gwexec.transfer_executable))
            )
        return self.execs[key]

    def file_tuple(self, gwfiles: list[Any]) -> tuple[File, ...]:
        key = tuple(id(f) for f in gwfiles)
        found = self.file_tuples.get(key)
        if found is None:
            found = self.file_tuples[key] = tuple(self._file(f) for f in gwfiles)
        return found

    def _file(self, gwfile: Any) -> File:
        key = id(gwfile)
        if key not in self.files:
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
        return _KIND_BY_NODE_TYPE[int(node.node_type)]
    except (AttributeError, KeyError, TypeError, ValueError, NotImplementedError):
        raise LoadError(f"node {getattr(node, 'name', node)!r} has an unknown node type") from None


def _convert_job(gw: Any, node: Any, interner: _Interner) -> Job:
    """One payload job of `gw` as an IR Job (shares dicts with the source: read-only)."""
    name = node.name
    return Job(
        name=name,
        label=node.label,
        kind=NodeKind.JOB,
        executable=interner.executable(node.executable),
        arguments=node.arguments,
        cmdvals=node.cmdvals if node.cmdvals is not None else {},
        environment=node.environment if node.environment is not None else {},
        attrs=interner.job_attrs(_get_attrs(node)),
        inputs=interner.file_tuple(gw.get_job_inputs(name, data=True, transfer_only=False)),
        outputs=interner.file_tuple(gw.get_job_outputs(name, data=True, transfer_only=False)),
    )


def _convert_node(gw: Any, node: Any, interner: _Interner) -> Job:
    kind = _node_kind(node)
    if kind is NodeKind.JOB:
        return _convert_job(gw, node, interner)
    if kind is NodeKind.NOOP:
        return Job(name=node.name, label=node.label, kind=NodeKind.NOOP)
    return Job(name=node.name, label=node.label, kind=NodeKind.GROUP, group=ingest_graph(node, interner))


def _source_label_order(
    gw: Any, index: dict[str, int]
) -> tuple[tuple[str, ...] | None, dict[str, tuple[int, ...]] | None]:
    """The source's own label order and per-label job order, or (None, None) if unusable."""
    try:
        labels = tuple(gw.labels)
    except networkx.NetworkXUnfeasible:
        return None, None
    label_jobs = {label: tuple(index[j.name] for j in gw.get_jobs_by_label(label)) for label in labels}
    return labels, label_jobs


def ingest_graph(gw: Any, interner: _Interner | None = None) -> Graph:
    """The job graph of a GenericWorkflow (or of a group inside one)."""
    interner = interner or _Interner()
    names: list[str] = []
    jobs: list[Job] = []
    for name, node in gw.nodes(data="job"):
        if node is None:
            raise LoadError(f"graph node {name!r} carries no job object")
        names.append(name)
        jobs.append(_convert_node(gw, node, interner))
    index = {name: i for i, name in enumerate(names)}
    pred = gw.pred
    parents = tuple(tuple(index[p] for p in pred[name]) for name in names)
    label_order, label_jobs = _source_label_order(gw, index)
    return Graph(tuple(jobs), parents, label_order, label_jobs)


def ingest(gw: Any, options: Options) -> Workflow:
    """The initial IR of a whole GenericWorkflow: its graph, final job and run attributes."""
    interner = _Interner()
    graph = ingest_graph(gw, interner)
    final = gw.get_final()
    final_job = None
    final_is_workflow = False
    if final is not None:
        if hasattr(final, "nodes") and not hasattr(final, "executable"):
            final_is_workflow = True
        else:
            final_job = _convert_job(gw, final, interner)
    run_attrs: dict[Hashable, Any] = dict(getattr(gw, "run_attrs", None) or {})
    return Workflow(
        name=gw.name,
        options=options,
        source=graph,
        final_job=final_job,
        run_attrs=run_attrs,
        final_is_workflow=final_is_workflow,
    )
