"""Stand-ins for the ctrl_bps GenericWorkflow classes, restored from pickles without lsst.

Why stand-ins: the compiler must read `bps_generic_workflow.pickle` where lsst-ctrl-bps is not
installed, and must not let a pickle name arbitrary code.  The allow-listed unpickler maps the
ctrl_bps class names onto these classes.  They offer the part of the real API that the
compiler's ingest uses, with the same semantics and the same orders, so ingest code works on a
real `lsst.ctrl.bps.GenericWorkflow` and on these alike.

Why they are shaped like this: a workflow has 10^5-10^6 jobs, so restoring one must run
next to no Python code.  The record classes (job, file, executable, noop job) use
``__slots__`` named like the real fields and have neither ``__setstate__`` nor
``__getattr__``.  The loader restores onto fresh per-load subclasses whose
``__setstate__`` (`compiler.load.unpickler._fast_setstate`) stores the pickled
``(None, {slot: value})`` state in C and frees it, and only afterwards gives them
`_Record._field_default` as ``__getattr__``: that hook answers
the real class's default (from `compiler.load.layouts`) for a field a pickle left unset,
without slowing the load (a ``__getattr__`` present during the load would run for every
object, when the unpickler looks up ``__setstate__``).
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from enum import IntEnum
from typing import Any, ClassVar

import networkx

from .layouts import Layout, layouts_of

__all__ = [
    "FastCounter",
    "GenericWorkflow",
    "GenericWorkflowExec",
    "GenericWorkflowFile",
    "GenericWorkflowGroup",
    "GenericWorkflowJob",
    "GenericWorkflowLabels",
    "GenericWorkflowNoopJob",
    "LeanJob",
    "NodeType",
    "PlainDiGraph",
    "counter_mapping",
    "is_generic_workflow",
]

# Graphs created while a load is running, so the loader can tidy them without walking every
# node afterwards.  A ContextVar keeps concurrent loads in different threads apart.
_created_graphs: ContextVar[list[networkx.DiGraph] | None] = ContextVar("_created_graphs", default=None)


class NodeType(IntEnum):
    """Kind of node in a workflow graph; same values as ctrl_bps `GenericWorkflowNodeType`."""

    NOOP = 1
    PAYLOAD = 2
    GROUP = 3


class FastCounter(collections.Counter):
    """A `collections.Counter` filled by `dict.__init__` (the loader itself now restores
    Counters as plain dicts, see `counter_mapping`).

    Why: a pickled Counter is rebuilt by calling ``Counter(dict)``, whose ``__init__`` and
    ``update`` are Python code run once per job (``quanta_counts``); with ``dict.__init__``
    the same mapping is copied in C.  Pickles always hand a Counter a plain dict, for which
    both give the same result.
    """

    __init__ = dict.__init__  # type: ignore[assignment]


def counter_mapping(mapping: Any = None, /) -> dict[Any, Any]:
    """What the loader builds for a pickled `collections.Counter`: the pickled dict itself.

    Why: a pickled Counter is ``Counter(dict)``, and the pickle's memo keeps that argument
    dict alive anyway; building a Counter beside it costs one more dict per job
    (``quanta_counts``: ~190 bytes, 190 MiB at 10^6 jobs) for a field the compiler never
    reads. The same mapping comes back (equal to the Counter; only a missing key raises
    KeyError instead of giving 0).
    """
    if type(mapping) is dict:
        return mapping
    return dict(mapping or {})


def _single_layout(cls_name: str) -> Layout:
    """The layout whose fields a stand-in class gets as slots (one per class, see layouts)."""
    (layout,) = layouts_of(cls_name)
    return layout


class _Record:
    """Base of the slot-based stand-ins: dataclass-like init, equality, repr and defaults."""

    __slots__ = ()
    _layout: ClassVar[Layout]
    _public: ClassVar[type[_Record]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._layout.fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes at most {len(fields)} positional arguments")
        values = dict(zip(fields, args, strict=False))
        for key, value in kwargs.items():
            if key not in fields or key in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated argument {key!r}")
            values[key] = value
        missing = [f for f in self._layout.required if f not in values]
        if missing:
            raise TypeError(f"{type(self).__name__} missing required argument(s): {', '.join(missing)}")
        for key in fields:
            value = values[key] if key in values else self._field_default(key)
            object.__setattr__(self, key, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_layout" in cls.__dict__:
            cls._public = cls

    def _field_default(self, name: str) -> Any:
        """Answer the real class's default for a field that the pickle did not set.

        Installed as ``__getattr__`` on the loader's per-load subclasses after the load, so
        it only runs when a slot is unset.
        """
        layout = type(self)._layout
        factory = layout.factories.get(name)
        if factory is not None:
            value = factory()
            object.__setattr__(self, name, value)  # later reads and writes see the same object
            return value
        if name in layout.defaults:
            return layout.defaults[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the public stand-in class (per-load subclasses are not importable)."""
        return (_rebuild_record, (self._public, dict(zip(self._layout.fields, self._values(), strict=True))))

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._layout.fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Record) or other._public is not self._public:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.name)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        parts = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._layout.fields)
        return f"{self._public.__name__}({parts})"


def _rebuild_record(cls: type[_Record], values: dict[str, Any]) -> _Record:
    """Unpickle a stand-in record pickled by `_Record.__reduce__` (with plain pickle)."""
    return cls(**values)


class GenericWorkflowExec(_Record):
    """An executable: ``name``, ``src_uri``, ``transfer_executable``."""

    _layout = _single_layout("GenericWorkflowExec")
    __slots__ = _layout.fields


class GenericWorkflowFile(_Record):
    """A file: ``name``, ``src_uri``, ``wms_transfer``, ``job_access_remote``, ``job_shared``."""

    _layout = _single_layout("GenericWorkflowFile")
    __slots__ = _layout.fields


class GenericWorkflowJob(_Record):
    """A payload job, with every field of the real `GenericWorkflowJob` by name."""

    _layout = _single_layout("GenericWorkflowJob")
    __slots__ = _layout.fields

    @property
    def node_type(self) -> NodeType:
        """Payload job (`NodeType.PAYLOAD`)."""
        return NodeType.PAYLOAD


class GenericWorkflowNoopJob(_Record):
    """A node that runs nothing and only carries dependencies (``name``, ``label``)."""

    _layout = _single_layout("GenericWorkflowNoopJob")
    __slots__ = _layout.fields

    @property
    def node_type(self) -> NodeType:
        """Noop job (`NodeType.NOOP`)."""
        return NodeType.NOOP


# The job fields the compiler reads: the command and its values for every job, the task
# attributes (`compiler.ir.JobAttrs`, same names and order) only for a task's first job.
LEAN_FIELDS: tuple[str, ...] = ("name", "label", "executable", "arguments", "cmdvals", "environment")
LEAN_ATTR_FIELDS: tuple[str, ...] = (
    "request_memory",
    "memory_multiplier",
    "request_memory_max",
    "request_cpus",
    "request_walltime",
    "compute_site",
    "compute_cloud",
    "accounting_group",
    "number_of_retries",
    "priority",
    "queue",
)


class LeanJob:
    """A payload job as the compiler's own load restores it: only the fields it reads.

    Why: a full stand-in job is 33 slots (350 bytes) and keeps ``tags`` and
    ``quanta_counts`` (two dicts of ~200 bytes each) and a few ints per job alive; at 10^6
    jobs that is ~0.6 GiB the compiler never reads, and in a VM every fresh page costs a
    fault. `compiler.load.unpickler` restores onto a per-load subclass and stores the six
    fields above plus the task attributes as one tuple, shared by the jobs that have equal
    ones. Other fields are not kept: reading one raises AttributeError saying so. Never
    handed to callers of `load_generic_workflow` unless they ask for ``lean=True``.
    """

    __slots__ = (*LEAN_FIELDS, "attr_values")
    node_type = NodeType.PAYLOAD

    def __getattr__(self, name: str) -> Any:
        if name in _JOB_LAYOUT_FIELDS:
            raise AttributeError(f"job field {name!r} is not kept by the compiler's lean load")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_JOB_LAYOUT_FIELDS = frozenset(_single_layout("GenericWorkflowJob").fields)


def _attr_property(index: int, name: str) -> property:
    def get(self: LeanJob) -> Any:
        return self.attr_values[index]

    return property(get, doc=f"``{name}`` (from the shared attribute tuple)")


for _index, _name in enumerate(LEAN_ATTR_FIELDS):
    setattr(LeanJob, _name, _attr_property(_index, _name))
del _index, _name


class DroppedView:
    """Placeholder for a networkx view (``nodes``, ``in_degree``...) cached in a pickled graph.

    Why: networkx keeps such views in the graph's ``__dict__`` once used, and pickles them.
    Their internals differ between networkx versions, so the loader restores them as this
    inert object and then deletes them; networkx rebuilds a view on first use.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> DroppedView:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accept and ignore whatever the pickle passes."""

    def __setstate__(self, state: Any) -> None:
        """Ignore the view's pickled state."""


def _register(graph: networkx.DiGraph) -> None:
    created = _created_graphs.get()
    if created is not None:
        created.append(graph)


class PlainDiGraph(networkx.DiGraph):
    """Plain `networkx.DiGraph` for the label graph; records itself while a load runs.

    Why a subclass: the unpickler must know every graph it created, and ``DiGraph.__new__``
    (a networkx dispatcher since 3.6) is not needed to restore one.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> PlainDiGraph:
        graph = object.__new__(cls)
        _register(graph)
        return graph


class GenericWorkflowLabels:
    """Label view of the payload jobs: label dependency graph and jobs per label."""

    def __init__(self) -> None:
        self._label_graph: networkx.DiGraph = PlainDiGraph()
        self._label_to_jobs: collections.defaultdict[str, list[Any]] = collections.defaultdict(list)

    @property
    def labels(self) -> list[str]:
        """Job labels in topological order of the label graph (as ctrl_bps)."""
        return list(networkx.topological_sort(self._label_graph))

    def get_jobs_by_label(self, label: str) -> list[Any]:
        """Jobs having the label (the stored list; an unknown label yields an empty list)."""
        return self._label_to_jobs[label]


class GenericWorkflow(networkx.DiGraph):
    """Stand-in for ``lsst.ctrl.bps.GenericWorkflow``: a DiGraph of job names.

    Node data ``"job"`` holds the job, noop job or group object.  Only the read API used by
    the compiler is provided; it mirrors the real methods' semantics and orders.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> GenericWorkflow:
        graph = object.__new__(cls)
        _register(graph)
        return graph

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.run_attrs: dict[str, Any] = {}
        self._job_labels = GenericWorkflowLabels()
        self._files: dict[str, GenericWorkflowFile] = {}
        self._executables: dict[str, GenericWorkflowExec] = {}
        self._inputs: dict[str, list[GenericWorkflowFile]] = {}
        self._outputs: dict[str, list[GenericWorkflowFile]] = {}
        self.run_id: str | None = None
        self._final: Any = None

    @property
    def name(self) -> str:  # type: ignore[override]
        """Name of the workflow."""
        return self._name

    @property
    def labels(self) -> list[str]:
        """Payload job labels in topological order of the label graph."""
        return self._job_labels.labels

    def get_jobs_by_label(self, label: str) -> list[Any]:
        """Payload jobs with the label, in the order they were added."""
        return self._job_labels.get_jobs_by_label(label)

    def get_job(self, job_name: str) -> Any:
        """The node object (job, noop job or group) of a node name."""
        return self._node[job_name]["job"]

    def __iter__(self) -> Iterator[str]:
        """Node names in topological order (as the real class)."""
        return networkx.topological_sort(self)

    def get_final(self) -> Any:
        """The final job or workflow, or None."""
        return self._final

    def get_job_inputs(self, job_name: str, data: bool = True, transfer_only: bool = False) -> list[Any]:
        """Input files of a job (objects, or names if not `data`), optionally only WMS-transferred."""
        return _select_files(self._inputs.get(job_name, ()), data, transfer_only)

    def get_job_outputs(self, job_name: str, data: bool = True, transfer_only: bool = False) -> list[Any]:
        """Output files of a job (objects, or names if not `data`), optionally only WMS-transferred."""
        return _select_files(self._outputs.get(job_name, ()), data, transfer_only)

    def get_files(self, data: bool = False, transfer_only: bool = True) -> list[Any]:
        """Workflow files (names by default), by default only those the WMS transfers."""
        return [f if data else key for key, f in self._files.items() if not transfer_only or f.wms_transfer]

    def get_executables(self, data: bool = False, transfer_only: bool = True) -> list[Any]:
        """Executables (names by default), by default only those the WMS transfers."""
        return [
            e if data else key
            for key, e in self._executables.items()
            if not transfer_only or e.transfer_executable
        ]


def _select_files(files: Any, data: bool, transfer_only: bool) -> list[Any]:
    return [f if data else f.name for f in files if not transfer_only or f.wms_transfer]


class GenericWorkflowGroup(GenericWorkflow):
    """A group node: a sub-workflow run as one unit (``name``, ``label``, ``blocking``)."""

    _layout: ClassVar[Layout] = _single_layout("GenericWorkflowGroup")
    __slots__ = _layout.fields

    def __init__(self, name: str, label: str, blocking: bool = False) -> None:
        super().__init__(name)
        self.name = name  # type: ignore[misc]
        self.label = label
        self.blocking = blocking

    def __getattr__(self, name: str) -> Any:
        """Answer the default of a group field the pickle did not set."""
        layout = type(self)._layout
        if name in layout.defaults:
            return layout.defaults[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def node_type(self) -> NodeType:
        """Group node (`NodeType.GROUP`)."""
        return NodeType.GROUP


def is_generic_workflow(obj: object) -> bool:
    """True for a real ``lsst.ctrl.bps.GenericWorkflow`` (or group) and for our stand-in.

    Does not import lsst.ctrl.bps: if it was never imported, no real instance can exist.
    """
    if isinstance(obj, GenericWorkflow):
        return True
    real = sys.modules.get("lsst.ctrl.bps.generic_workflow")
    real_cls = getattr(real, "GenericWorkflow", None)
    return isinstance(real_cls, type) and isinstance(obj, real_cls)
