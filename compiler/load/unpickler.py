"""Allow-listed loading of `bps_generic_workflow.pickle` files.

Why an allow-list: unpickling calls whatever global the file names, so a pickle can run
``os.system``.  `_SafeUnpickler.find_class` only resolves the ctrl_bps workflow classes,
networkx graphs and views, a few collections and harmless builtins, and refuses everything
else with a `LoadError` before anything is called.  What real pickles name was checked on
pickles of several releases: the ctrl_bps classes, ``networkx.classes.digraph.DiGraph`` (the
label graph), cached networkx views, ``collections.Counter`` / ``defaultdict``,
``builtins.list`` (the defaultdict's factory) and ``uuid.UUID`` (quantum node ids in job tags,
as ``bps transform`` writes them).  ``copyreg._reconstructor`` and ``__newobj__``
never occur: protocols 0 and 1, which would need them, cannot pickle the slots classes at
all, and from protocol 2 on ``__newobj__`` is an opcode, not a global; so they are refused.

Stand-in or real classes: by default the ctrl_bps names resolve to the stand-ins of
`compiler.load.model`, also when lsst-ctrl-bps is installed.  That works without lsst, is
faster (no Python code runs per restored job) and returns the same data through the API the
compiler uses.  ``use_real_classes=True`` keeps the same allow-list but resolves onto the real
ctrl_bps classes, for callers that want genuine ctrl_bps objects.  A real GenericWorkflow
already in memory (handed in by BPS) needs no loading: the compiler accepts it as it is.

Speed: the cyclic garbage collector is paused during the load (it would otherwise scan the
millions of new containers again and again), and the fast path restores every job, file and
executable with one small hook per object that sets the slots in C and frees the pickled
state at once (`_fast_setstate`).  Only if that path meets a state it cannot store (an unknown field, a
positional state) is the file read again on a slower path where every object is checked
against `compiler.load.layouts`, then either restored or reported precisely.

The compiler's own load (``lean=True``) goes one step further: payload jobs become
`model.LeanJob` records holding only what the compiler reads, and each job's own ``tags``
and ``quanta_counts`` dicts are emptied as it is restored (`_lean_setstate`), so the
memo keeps only their empty shells (10^5 jobs: load peak 296 -> 235 MiB).
"""

from __future__ import annotations

import _compat_pickle
import builtins
import collections
import contextlib
import importlib
import io
import operator
import os
import pickle
import re
import sys
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from itertools import repeat
from typing import IO, Any

from ..errors import LoadError
from ..gcpause import gc_paused
from . import model
from .layouts import (
    GRAPH_DEFAULTS,
    GRAPH_REQUIRED,
    JOB_FIELDS,
    LABELS_ATTRIBUTES,
    WORKFLOW_DEFAULTS,
    WORKFLOW_REQUIRED,
    LayoutError,
    detect_layout,
)

__all__ = ["load_generic_workflow"]

Source = str | os.PathLike[str]
Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]

_GW_MODULE = "lsst.ctrl.bps.generic_workflow"
_RECORD_NAMES = ("GenericWorkflowJob", "GenericWorkflowExec", "GenericWorkflowFile", "GenericWorkflowNoopJob")
_GW_NAMES = ("GenericWorkflow", "GenericWorkflowLabels", "GenericWorkflowGroup", *_RECORD_NAMES)
_VIEW_MODULES = ("networkx.classes.reportviews", "networkx.classes.coreviews")
_SAFE_BUILTINS = ("list", "dict", "set", "frozenset", "tuple")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# Groups restored while a load runs (always through the checking class), to be given their
# public class afterwards.
_restored_groups: ContextVar[list[Any] | None] = ContextVar("_restored_groups", default=None)


class _Refused(pickle.UnpicklingError):
    """A global outside the allow-list; carries the dotted name for the LoadError."""

    def __init__(self, dotted: str) -> None:
        super().__init__(dotted)
        self.dotted = dotted


class _NeedsChecking(Exception):
    """The fast path met a state it cannot store; the checking path must read the file."""


def _checked_setstate(self: Any, state: Any) -> None:
    """Restore one object through `detect_layout` (checking path, and every group)."""
    base = type(self).__mro__[1]
    dict_part, slot_part = _split_state(base, state)
    values = detect_layout(base.__name__, slot_part)
    if dict_part:
        self.__dict__.update(dict_part)
    for key, value in values.items():
        object.__setattr__(self, key, value)
    groups = _restored_groups.get()
    if groups is not None and isinstance(self, model.GenericWorkflowGroup):
        groups.append(self)


def _split_state(base: type, state: Any) -> tuple[dict[str, Any] | None, Any]:
    """Split a pickled state into its ``__dict__`` part and its slot (field) part."""
    if (
        isinstance(state, tuple)
        and len(state) == 2
        and (state[0] is None or isinstance(state[0], dict))
        and isinstance(state[1], dict | list | tuple)
    ):
        return state[0], state[1]
    if issubclass(base, model.GenericWorkflow) and isinstance(state, dict):
        fields = base._layout.fields  # type: ignore[attr-defined]
        slots = {k: state[k] for k in fields if k in state}
        return {k: v for k, v in state.items() if k not in fields}, slots
    return None, state


_CHECKED_GROUP = type(
    "GenericWorkflowGroup",
    (model.GenericWorkflowGroup,),
    {"__slots__": (), "__setstate__": _checked_setstate, "__qualname__": "GenericWorkflowGroup"},
)


def _fast_setstate(
    self: Any,
    state: Any,
    _drain: Callable[..., Any] = collections.deque,
    _store: Callable[[Any, str, Any], None] = object.__setattr__,
) -> None:
    """Restore one record from its ``(None, {slot: value})`` state, then empty that dict.

    Why not let the C unpickler store the state: the pickle memoizes every state dict, so
    each job's ~40-entry dict would stay alive until the whole load ends (~0.75 KiB per
    job: 75 MiB at 10^5 jobs, 750 MiB at 10^6, all of it fresh pages the kernel must
    zero). Emptying it here frees its table at once for the next job to reuse; the slots
    are still set in C (`map` over ``object.__setattr__``), so the load costs about the
    same. The dict is never referenced again (it was made by ``__reduce_ex__`` for this
    job alone). Any other shape of state, or an unknown field (AttributeError), sends
    the file to the checking path, as before.
    """
    if type(state) is not tuple or len(state) != 2 or state[0] is not None or type(state[1]) is not dict:
        raise _NeedsChecking
    slots = state[1]
    _drain(map(_store, repeat(self), slots.keys(), slots.values()), maxlen=0)
    slots.clear()


def _per_load_records(checking: bool, lean: bool = False) -> dict[str, type]:
    """Fresh subclasses of the record stand-ins, private to one load.

    Why fresh: the loaded objects keep these classes, which get their ``__getattr__`` (field
    defaults) only once the load is over; during the load they carry `_fast_setstate`
    (or `_checked_setstate` on the checking path), removed afterwards.  Other loads, maybe
    in other threads, are unaffected.  With `lean` (fast path only) jobs restore onto a
    subclass of `model.LeanJob` instead (`_lean_setstate`).
    """
    classes: dict[str, type] = {}
    for name in _RECORD_NAMES:
        public = getattr(model, name)
        namespace: dict[str, Any] = {"__slots__": (), "__qualname__": public.__qualname__}
        namespace["__setstate__"] = _checked_setstate if checking else _fast_setstate
        if lean and not checking and name == "GenericWorkflowJob":
            public = model.LeanJob
            namespace["__setstate__"] = _lean_setstate({})
        classes[name] = type(name, (public,), namespace)
    return classes


_JOB_FIELD_SET = frozenset(JOB_FIELDS)
_JOB_FIELD_COUNT = len(_JOB_FIELD_SET)
_lean_values = operator.itemgetter(*model.LEAN_FIELDS)
_attr_values = operator.itemgetter(*model.LEAN_ATTR_FIELDS)
_LEAN_SLOTS = model.LEAN_FIELDS
# sys.getrefcount of a job's own tags dict / quanta_counts dict, read into a local, when
# nothing but the pickle's memo and this job's state holds it (the Counter's argument dict
# is also held by its argument tuple and memoized again as the REDUCE result).
_OWN_TAGS_REFS = 4
_OWN_COUNTS_REFS = 6


def _lean_setstate(shared: dict[tuple[Any, ...], tuple[Any, ...]]) -> Callable[[Any, Any], None]:
    """The ``__setstate__`` of one lean load's jobs; `shared` interns the attribute tuples.

    Per job it keeps the six fields the compiler reads and one attribute tuple shared by
    all jobs with equal attributes (the per-job ints and floats die at once), and empties
    the job's own ``tags`` and ``quanta_counts`` dicts: the pickle's memo would keep them
    until the load ends, emptied their tables are reused by the next job's. A dict held by
    anything else (a shared one) is left alone. Any state other than the 33 job fields
    goes to the checking path, which restores full stand-ins and explains problems: the
    first job's keys are compared with the layout's, every later job's count (a set
    comparison per job was 8 % of the load) and the 19 fields read here.
    """
    layout_seen = False

    def setstate(
        self: Any,
        state: Any,
        _drain: Callable[..., Any] = collections.deque,
        _store: Callable[[Any, str, Any], None] = object.__setattr__,
        _refs: Callable[[Any], int] = sys.getrefcount,
    ) -> None:
        if type(state) is not tuple or len(state) != 2 or state[0] is not None or type(state[1]) is not dict:
            raise _NeedsChecking
        slots = state[1]
        if len(slots) != _JOB_FIELD_COUNT:
            raise _NeedsChecking
        nonlocal layout_seen
        if not layout_seen:  # one writer, one layout: the first job is compared key by key
            if slots.keys() != _JOB_FIELD_SET:
                raise _NeedsChecking
            layout_seen = True
        try:
            kept, values = _lean_values(slots), _attr_values(slots)
            tags, counts = slots["tags"], slots["quanta_counts"]
        except KeyError:  # 33 fields, but not the layout's
            raise _NeedsChecking from None
        _drain(map(_store, repeat(self), _LEAN_SLOTS, kept), maxlen=0)
        try:  # noqa: SIM105 (a context manager per job costs more)
            values = shared.setdefault(values, values)
        except TypeError:  # an unhashable value: kept as it is, refused where it is read
            pass
        _store(self, "attr_values", values)
        if type(tags) is dict and _refs(tags) <= _OWN_TAGS_REFS:
            tags.clear()
        if type(counts) is dict and _refs(counts) <= _OWN_COUNTS_REFS:
            counts.clear()
        del kept, tags, counts
        slots.clear()

    return setstate


def _finish_records(classes: dict[str, type]) -> None:
    """After a load: drop the checking hook, install the field-default hook (not on lean jobs)."""
    for cls in classes.values():
        if "__setstate__" in cls.__dict__:
            del cls.__setstate__
        if not issubclass(cls, model.LeanJob):
            cls.__getattr__ = model._Record._field_default  # type: ignore[attr-defined]


def _base_table() -> dict[tuple[str, str], Any]:
    """Allow-list entries common to every mode: harmless containers."""
    table: dict[tuple[str, str], Any] = {("builtins", n): getattr(builtins, n) for n in _SAFE_BUILTINS}
    table[("collections", "defaultdict")] = collections.defaultdict
    table[("collections", "OrderedDict")] = collections.OrderedDict
    # bps transform stores quantum node ids as uuid.UUID in job tags; UUID restores from
    # its own state ({"int": ..., "is_safe": ...}) and runs nothing else.
    table[("uuid", "UUID")] = uuid.UUID
    return table


def _stand_in_table(records: dict[str, type]) -> dict[tuple[str, str], Any]:
    """Allow-list resolving ctrl_bps names onto our stand-ins.

    Groups always take the checking class: they are few, and a group's slots are set on an
    object that also has a ``__dict__``, so an unknown field would otherwise pass unnoticed.
    """
    table = _base_table()
    for name in ("GenericWorkflow", "GenericWorkflowLabels"):
        table[(_GW_MODULE, name)] = getattr(model, name)
    for name, cls in records.items():
        table[(_GW_MODULE, name)] = cls
    table[(_GW_MODULE, "GenericWorkflowGroup")] = _CHECKED_GROUP
    table[(_GW_MODULE, "GenericWorkflowNodeType")] = model.NodeType
    table[("networkx.classes.digraph", "DiGraph")] = model.PlainDiGraph
    table[("collections", "Counter")] = model.counter_mapping
    return table


def _real_table(name: str) -> dict[tuple[str, str], Any]:
    """Allow-list resolving onto the real ctrl_bps, networkx and collections classes."""
    try:
        real = importlib.import_module(_GW_MODULE)
    except ImportError as exc:
        raise LoadError(f"{name}: use_real_classes=True needs lsst-ctrl-bps ({_one_line(exc)})") from None
    import networkx

    table = _base_table()
    for name in (*_GW_NAMES, "GenericWorkflowNodeType"):
        if hasattr(real, name):
            table[(_GW_MODULE, name)] = getattr(real, name)
    table[("networkx.classes.digraph", "DiGraph")] = networkx.DiGraph
    table[("collections", "Counter")] = collections.Counter
    return table


def _view_class(module: str, name: str, real: bool) -> Any:
    """A networkx view class (real mode) or the inert placeholder; None if not a view."""
    if module not in _VIEW_MODULES or not name.endswith("View"):
        return None
    if not real:
        return model.DroppedView
    found = getattr(importlib.import_module(module), name, None)
    return found if isinstance(found, type) else None


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler whose `find_class` answers only from an allow-list."""

    def __init__(self, file: IO[bytes], table: dict[tuple[str, str], Any], real: bool) -> None:
        super().__init__(file)
        self._table = table
        self._real = real

    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 write Python 2 names (``__builtin__.list``); map them as pickle does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = self._table.get((module, name))
        if found is None:
            found = _view_class(module, name, self._real)
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _opener(source: Source) -> tuple[str, Opener]:
    """Display name and a function opening the source for binary reading (callable twice).

    A plain path is opened directly; a URI goes through lsst-resources (a local ``file://``
    one is then opened as a file, anything else is read once into memory).
    """
    text = (
        source
        if isinstance(source, str)
        else os.fspath(source)
        if isinstance(source, os.PathLike)
        else str(source)
    )
    if not _URI.match(text):
        return text, lambda: open(text, "rb")
    try:
        from lsst.resources import ResourcePath

        uri = ResourcePath(text)
        if uri.scheme == "file":
            path = uri.ospath
            return text, lambda: open(path, "rb")
        data = uri.read()
    except Exception as exc:
        raise LoadError(f"{text}: cannot read workflow file: {_one_line(exc)}") from None
    return text, lambda: contextlib.nullcontext(io.BytesIO(data))


def _needs_checking(exc: Exception) -> bool:
    """Whether a fast-path failure means 'state the C restorer cannot store'."""
    if isinstance(exc, AttributeError | _NeedsChecking):
        return True
    return isinstance(exc, pickle.UnpicklingError) and "state is not a dictionary" in str(exc)


def _unpickle(name: str, opener: Opener, table: dict[tuple[str, str], Any], real: bool, fast: bool) -> Any:
    """Run one unpickling pass and turn every failure into a one-line `LoadError`."""
    try:
        with opener() as stream:
            return _SafeUnpickler(stream, table, real).load()
    except _Refused as exc:
        raise LoadError(
            f"{name}: refused to load global '{exc.dotted}' (not allowed in a GenericWorkflow pickle)"
        ) from None
    except LayoutError as exc:
        raise LoadError(f"{name}: {exc}") from None
    except OSError as exc:
        raise LoadError(f"{name}: cannot read workflow file: {_one_line(exc)}") from None
    except Exception as exc:
        if fast and _needs_checking(exc):
            raise _NeedsChecking from exc
        raise LoadError(
            f"{name}: not a readable GenericWorkflow pickle ({type(exc).__name__}: {_one_line(exc)})"
        ) from None


def _load_stand_ins(name: str, opener: Opener, checking: bool, lean: bool = False) -> Any:
    """One pass with the stand-ins, with the GC paused throughout (see `compiler.gcpause`)."""
    records = _per_load_records(checking, lean)
    graphs: list[Any] = []
    groups: list[Any] = []
    graphs_token = model._created_graphs.set(graphs)
    groups_token = _restored_groups.set(groups)
    try:
        with gc_paused():
            obj = _load_into(name, opener, records, groups, graphs, checking)
    finally:
        model._created_graphs.reset(graphs_token)
        _restored_groups.reset(groups_token)
    return obj


def _load_into(
    name: str, opener: Opener, records: dict[str, type], groups: list[Any], graphs: list[Any], checking: bool
) -> Any:
    """The body of `_load_stand_ins`: unpickle, then give groups and graphs their final form."""
    obj = _unpickle(name, opener, _stand_in_table(records), real=False, fast=not checking)
    _finish_records(records)
    for group in groups:
        group.__class__ = model.GenericWorkflowGroup
    if not isinstance(obj, model.GenericWorkflow):
        raise LoadError(f"{name}: top-level object is a {type(obj).__name__}, not a GenericWorkflow")
    for graph in graphs:
        _tidy_graph(name, graph)
    return obj


def _tidy_graph(name: str, graph: Any) -> None:
    """Drop pickled networkx views, fill attributes a pickle may lack, check the essentials."""
    attrs = graph.__dict__
    for key in [k for k, v in attrs.items() if isinstance(v, model.DroppedView)]:
        del attrs[key]
    workflow = isinstance(graph, model.GenericWorkflow)
    for key, factory in (WORKFLOW_DEFAULTS if workflow else GRAPH_DEFAULTS).items():
        if key not in attrs:
            attrs[key] = factory()
    required = WORKFLOW_REQUIRED if workflow else GRAPH_REQUIRED
    missing = [key for key in required if key not in attrs]
    labels = attrs.get("_job_labels")
    if workflow and labels is not None and not isinstance(labels, model.GenericWorkflowLabels):
        missing.append("_job_labels (wrong type)")
    elif workflow and labels is not None:
        missing += [f"_job_labels.{key}" for key in LABELS_ATTRIBUTES if key not in labels.__dict__]
    if missing:
        kind = type(graph).__name__
        raise LoadError(f"{name}: {kind} {attrs.get('_name', '')!r} lacks {', '.join(missing)}")


def _load_real(name: str, opener: Opener) -> Any:
    """One pass onto the real ctrl_bps classes (same allow-list)."""
    table = _real_table(name)
    with gc_paused():
        obj = _unpickle(name, opener, table, real=True, fast=False)
    real_cls = table[(_GW_MODULE, "GenericWorkflow")]
    if not isinstance(obj, real_cls):
        raise LoadError(f"{name}: top-level object is a {type(obj).__name__}, not a GenericWorkflow")
    return obj


def load_generic_workflow(source: Source, use_real_classes: bool = False, *, lean: bool = False) -> Any:
    """Load a GenericWorkflow pickle from a path or any lsst-resources URI.

    Returns our stand-in `compiler.load.model.GenericWorkflow` by default, even where
    lsst-ctrl-bps is installed (faster, and the same everywhere); with
    ``use_real_classes=True`` a real ``lsst.ctrl.bps.GenericWorkflow`` (needs lsst-ctrl-bps).
    Both go through the same allow-list.  Every problem (missing or unreadable file, not a
    pickle, truncated, a refused global, an unknown field layout, not a GenericWorkflow)
    raises `LoadError` naming the source.

    ``lean=True`` is the compiler's own load: payload jobs become `model.LeanJob` records,
    which keep only the fields the compiler reads (about a third of a full stand-in's
    memory, with ``tags`` and ``quanta_counts`` freed as the load goes). A pickle the fast
    path cannot read is read again on the checking path, which gives full stand-ins.
    """
    name, opener = _opener(source)
    if use_real_classes:
        return _load_real(name, opener)
    try:
        return _load_stand_ins(name, opener, checking=False, lean=lean)
    except _NeedsChecking:
        return _load_stand_ins(name, opener, checking=True)
