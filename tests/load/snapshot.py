"""JSON-able snapshot of a GenericWorkflow, taken only through the API the compiler uses.

Why: the same function runs on a real ctrl_bps workflow and on our stand-in, so equal
snapshots mean the loader hands the compiler the same data in the same orders.  It is also
run by `tests/data/load/make_old_pickles.py` inside old ctrl_bps releases, whose snapshots
are stored beside their pickles.  Needs neither lsst nor the compiler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx

JOB_FIELDS = (
    "name", "label", "quanta_counts", "tags", "executable", "arguments", "cmdvals",
    "memory_multiplier", "request_memory", "request_memory_max", "request_cpus", "request_disk",
    "request_walltime", "compute_site", "accounting_group", "accounting_user", "mail_to",
    "when_to_mail", "number_of_retries", "retry_unless_exit", "abort_on_value",
    "abort_return_value", "priority", "category", "concurrency_limit", "queue", "pre_cmdline",
    "post_cmdline", "preemptible", "profile", "attrs", "environment", "compute_cloud",
)  # fmt: skip
PAYLOAD, GROUP = 2, 3


def plain(value: Any) -> Any:
    """Turn field values into JSON-able data (Counters and mappings become dicts)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "transfer_executable"):
        return exec_snapshot(value)
    return value


def file_snapshot(gwfile: Any) -> dict[str, Any]:
    """All fields of a file object."""
    fields = ("name", "src_uri", "wms_transfer", "job_access_remote", "job_shared")
    return {f: getattr(gwfile, f) for f in fields}


def exec_snapshot(gwexec: Any) -> dict[str, Any]:
    """All fields of an executable object."""
    return {f: getattr(gwexec, f) for f in ("name", "src_uri", "transfer_executable")}


def node_type(obj: Any) -> int:
    """Node type as an int; releases before the node classes have only payload jobs."""
    return int(getattr(obj, "node_type", PAYLOAD))


def job_snapshot(job: Any) -> dict[str, Any]:
    """Every field of a payload job, plus its node type."""
    data = {f: plain(getattr(job, f)) for f in JOB_FIELDS}
    data["node_type"] = node_type(job)
    return data


def labels_or_cycle(gw: Any) -> list[str] | str:
    """`gw.labels`, or 'cycle' where the label graph is cyclic (then the real one raises too)."""
    try:
        return list(gw.labels)
    except networkx.NetworkXUnfeasible:
        return "cycle"


def files_of(gw: Any, name: str, which: str) -> dict[str, Any]:
    """A node's inputs or outputs through every data / transfer_only combination."""
    get = gw.get_job_inputs if which == "inputs" else gw.get_job_outputs
    return {
        "data": [file_snapshot(f) for f in get(name)],
        "names": get(name, data=False),
        "transfer": [f.name for f in get(name, data=True, transfer_only=True)],
    }


def node_snapshot(gw: Any, name: str) -> dict[str, Any]:
    """A node's object and its neighbourhood in the graph."""
    obj = gw.get_job(name)
    kind = node_type(obj)
    if kind == PAYLOAD:
        data: dict[str, Any] = job_snapshot(obj)
    elif kind == GROUP:
        data = {"name": obj.name, "label": obj.label, "blocking": obj.blocking, "graph": snapshot(obj)}
    else:
        data = {"name": obj.name, "label": obj.label}
    data.update(
        node_type=kind,
        predecessors=list(gw.predecessors(name)),
        successors=list(gw.successors(name)),
        in_degree=gw.in_degree(name),
        out_degree=gw.out_degree(name),
        inputs=files_of(gw, name, "inputs"),
        outputs=files_of(gw, name, "outputs"),
    )
    return data


def payload_labels(gw: Any) -> list[str]:
    """Labels of the payload jobs, sorted (works even where the label graph is cyclic)."""
    return sorted({gw.get_job(n).label for n in gw.nodes if node_type(gw.get_job(n)) == PAYLOAD})


def snapshot(gw: Any) -> dict[str, Any]:
    """Everything the compiler can read from a workflow, in API order."""
    labels = labels_or_cycle(gw)
    final = gw.get_final()
    if final is None:
        final_data = None
    elif hasattr(final, "get_final"):
        final_data = {"workflow": snapshot(final)}
    else:
        final_data = {"job": job_snapshot(final)}
    return {
        "name": gw.name,
        "run_id": gw.run_id,
        "run_attrs": plain(gw.run_attrs),
        "len": len(gw),
        "order": list(gw),
        "nodes": list(gw.nodes),
        "edges": [list(e) for e in gw.edges],
        "labels": labels,
        "jobs_by_label": {x: [j.name for j in gw.get_jobs_by_label(x)] for x in payload_labels(gw)},
        "node_details": {n: node_snapshot(gw, n) for n in gw.nodes},
        "files": [file_snapshot(f) for f in gw.get_files(data=True, transfer_only=False)],
        "files_default": gw.get_files(),
        "executables": [exec_snapshot(e) for e in gw.get_executables(data=True, transfer_only=False)],
        "executables_default": gw.get_executables(),
        "final": final_data,
    }
