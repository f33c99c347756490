"""Field layouts of the ctrl_bps GenericWorkflow classes, as data, and how to recognise them.

Why this table exists: a `bps_generic_workflow.pickle` stores, for every job, file, executable
and group, the values of the class's dataclass fields.  Our loader restores them onto its own
stand-in classes, so it must know which fields each lsst-ctrl-bps release pickles, what the
real class's default is for a field a pickle lacks, and how to tell one layout from another.

What the releases since 2024 actually do (read from the `generic_workflow.py` of every
lsst-ctrl-bps release on PyPI from 26.0.1 to 30.2026.300, 105 releases):

* Every class keeps the same field names in the same order in all of them, so each class has
  exactly one layout.  What changed is structure, not fields:

  - 26.0.1-26.0.2: hand-written ``__slots__`` and ``__init__`` (slot order differs from the
    field order: ``mail_to``/``when_to_mail`` come right after ``tags``); job ``label``
    defaults to ``"UNK"``.
  - 26.2024.200 up to 29.0.1 and the weeklies up to 29.2025.1300: ``@dataclass(slots=True)``.
  - 29.1.0 and later, weeklies from 29.2025.1400: ``GenericWorkflowJob`` and the new
    ``GenericWorkflowNoopJob`` / ``GenericWorkflowGroup`` derive from ``GenericWorkflowNode``
    (fields ``name``, ``label``); the group is also a ``GenericWorkflow`` (a networkx DiGraph).

* None of these classes is frozen, so Python pickles them by slot NAME: the state is
  ``(None, {slot: value})`` (``({graph attributes}, {slot: value})`` for a group), with the
  slots of a subclass listed before those of its bases.  A positional state (a list of field
  values, as Python writes only for frozen slots dataclasses) is still understood, by field
  count and a type check, so a pickle written that way is not silently misread.

`LAYOUTS` below is the de-duplicated table; `detect_layout` turns one object's pickled state
into ``{field: value}`` or explains why it cannot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Releases whose generic_workflow.py was read to build this table (PyPI, 2024 on).
RELEASES_CHECKED: tuple[str, ...] = (
    "26.0.1",
    "26.0.2",
    *(
        f"26.2024.{w}"
        for w in (200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1400, 1500, 1600, 1700)
    ),
    "27.0.0",
    *(f"27.2024.{w}" for w in range(1800, 4500, 100) if w != 2500),
    "28.0.0",
    "28.0.1",
    "28.0.2",
    *(f"28.2024.{w}" for w in range(4700, 5200, 100)),
    *(f"28.2025.{w}" for w in range(100, 1000, 100)),
    "29.0.0",
    "29.0.1",
    "29.1.0",
    "29.1.1",
    "29.2.0",
    "29.2.1",
    *(f"29.2025.{w}" for w in range(1300, 5000, 100) if w != 4800),
    "30.0.0",
    "30.2026.300",
)

ALL_RELEASES = "26.0.1 to 30.2026.300 (every release since 2024)"
NODE_RELEASES = "29.1.0 and later; weeklies from 29.2025.1400"


@dataclass(frozen=True)
class Layout:
    """One way a ctrl_bps class is pickled.

    `fields` is the dataclass field order (the order a positional state would use);
    `required` are the fields without a default; `defaults` / `factories` give the real
    class's default for every other field (a factory builds a fresh mutable value).
    `types` lists, for some fields, the types a value may have: used to check a positional
    state, where a wrong guess would shift every value.
    """

    cls: str
    fields: tuple[str, ...]
    releases: str
    required: tuple[str, ...] = ("name",)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    factories: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    types: Mapping[str, tuple[type, ...]] = field(default_factory=dict)
    note: str = ""


_STR = (str,)
_OPT_STR = (str, type(None))
_DICT = (dict,)

JOB_FIELDS: tuple[str, ...] = (
    "name",
    "label",
    "quanta_counts",
    "tags",
    "executable",
    "arguments",
    "cmdvals",
    "memory_multiplier",
    "request_memory",
    "request_memory_max",
    "request_cpus",
    "request_disk",
    "request_walltime",
    "compute_site",
    "accounting_group",
    "accounting_user",
    "mail_to",
    "when_to_mail",
    "number_of_retries",
    "retry_unless_exit",
    "abort_on_value",
    "abort_return_value",
    "priority",
    "category",
    "concurrency_limit",
    "queue",
    "pre_cmdline",
    "post_cmdline",
    "preemptible",
    "profile",
    "attrs",
    "environment",
    "compute_cloud",
)

_JOB_FACTORIES: dict[str, Callable[[], Any]] = {
    "quanta_counts": Counter,
    "tags": dict,
    "cmdvals": dict,
    "profile": dict,
    "attrs": dict,
    "environment": dict,
}

LAYOUTS: tuple[Layout, ...] = (
    Layout(
        cls="GenericWorkflowJob",
        fields=JOB_FIELDS,
        releases=ALL_RELEASES,
        required=("name", "label"),
        defaults={f: None for f in JOB_FIELDS[2:] if f not in _JOB_FACTORIES},
        factories=_JOB_FACTORIES,
        types={
            "name": _STR,
            "label": _OPT_STR,
            "quanta_counts": _DICT,
            "tags": _DICT,
            "arguments": _OPT_STR,
            "cmdvals": _DICT,
            "profile": _DICT,
            "attrs": _DICT,
            "environment": _DICT,
        },
        note="33 fields everywhere; since the node classes (29.1.0) name/label sit in the base "
        "class and are pickled after the other slots",
    ),
    Layout(
        cls="GenericWorkflowNoopJob",
        fields=("name", "label"),
        releases=NODE_RELEASES,
        required=("name", "label"),
        types={"name": _STR, "label": _OPT_STR},
    ),
    Layout(
        cls="GenericWorkflowGroup",
        fields=("name", "label", "blocking"),
        releases=NODE_RELEASES,
        required=("name", "label"),
        defaults={"blocking": False},
        types={"name": _STR, "label": _OPT_STR, "blocking": (bool,)},
        note="also a GenericWorkflow: its graph attributes are pickled as a dict beside the slots",
    ),
    Layout(
        cls="GenericWorkflowFile",
        fields=("name", "src_uri", "wms_transfer", "job_access_remote", "job_shared"),
        releases=ALL_RELEASES,
        defaults={"src_uri": None, "wms_transfer": False, "job_access_remote": False, "job_shared": False},
        types={"name": _STR, "src_uri": _OPT_STR, "wms_transfer": (bool,)},
    ),
    Layout(
        cls="GenericWorkflowExec",
        fields=("name", "src_uri", "transfer_executable"),
        releases=ALL_RELEASES,
        defaults={"src_uri": None, "transfer_executable": False},
        types={"name": _STR, "src_uri": _OPT_STR, "transfer_executable": (bool,)},
    ),
)

# Instance attributes of GenericWorkflow (and of a group, beside its slots) set by
# GenericWorkflow.__init__ in every release; the graph itself adds networkx's own attributes
# (_node, _adj, _succ, _pred, graph, and __networkx_cache__ since networkx 3.3) plus whatever
# cached views (nodes, in_degree, ...) had been used before the workflow was saved.
WORKFLOW_ATTRIBUTES: tuple[str, ...] = (
    "_name",
    "run_attrs",
    "_job_labels",
    "_files",
    "_executables",
    "_inputs",
    "_outputs",
    "run_id",
    "_final",
)
GRAPH_REQUIRED: tuple[str, ...] = ("_node", "_adj", "_succ", "_pred")
WORKFLOW_REQUIRED: tuple[str, ...] = ("_name", "_job_labels", *GRAPH_REQUIRED)
GRAPH_DEFAULTS: Mapping[str, Callable[[], Any]] = {"graph": dict, "__networkx_cache__": dict}
WORKFLOW_DEFAULTS: Mapping[str, Callable[[], Any]] = {
    **GRAPH_DEFAULTS,
    "run_attrs": dict,
    "_files": dict,
    "_executables": dict,
    "_inputs": dict,
    "_outputs": dict,
    "run_id": lambda: None,
    "_final": lambda: None,
}
LABELS_ATTRIBUTES: tuple[str, ...] = ("_label_graph", "_label_to_jobs")


class LayoutError(ValueError):
    """A pickled object's state matches no known layout of its class."""


def layouts_of(cls_name: str) -> tuple[Layout, ...]:
    """All known layouts of one ctrl_bps class, in table order."""
    return tuple(layout for layout in LAYOUTS if layout.cls == cls_name)


def detect_layout(cls_name: str, state: Any) -> dict[str, Any]:
    """Return ``{field: value}`` for one object's pickled slot state.

    Accepts a mapping of slot names (what every release writes) or a positional list/tuple of
    field values; raises `LayoutError` naming the class and the field count otherwise.
    """
    if isinstance(state, Mapping):
        return _detect_named(cls_name, dict(state))
    if isinstance(state, list | tuple):
        return _detect_positional(cls_name, list(state))
    raise LayoutError(f"{cls_name}: unexpected pickled state of type {type(state).__name__}")


def _detect_named(cls_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Check a by-name state against the known layouts; unknown names are an error."""
    best: set[str] = set()
    for layout in layouts_of(cls_name):
        unknown = set(values) - set(layout.fields)
        missing = [f for f in layout.required if f not in values]
        if not unknown and not missing:
            return values
        best = unknown or set(missing)
    names = ", ".join(sorted(best))
    raise LayoutError(
        f"{cls_name} with {len(values)} fields matches no known layout (unknown or missing: {names})"
    )


def _detect_positional(cls_name: str, values: list[Any]) -> dict[str, Any]:
    """Pick the layout with as many fields as the state whose typed fields type-check."""
    for layout in layouts_of(cls_name):
        if len(layout.fields) != len(values):
            continue
        candidate = dict(zip(layout.fields, values, strict=True))
        if all(isinstance(candidate[f], types) for f, types in layout.types.items()):
            return candidate
    counts = sorted({len(layout.fields) for layout in layouts_of(cls_name)})
    raise LayoutError(
        f"{cls_name} with {len(values)} positional fields matches no known layout "
        f"(known field counts: {', '.join(map(str, counts)) or 'none'})"
    )
