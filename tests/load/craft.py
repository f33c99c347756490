"""Craft GenericWorkflow pickles without lsst-ctrl-bps, for tests of unusual or hostile files.

How: build the workflow from our stand-ins (`compiler.load.model`), then pickle it with
`CtrlBpsPickler`, which writes every stand-in class under the name the real ctrl_bps class
has (``lsst.ctrl.bps.generic_workflow.GenericWorkflowJob``...) and the records' state exactly
as the real slots dataclasses do (``(None, {slot: value})``), so the result is what ctrl_bps
writes.  `StateOverride` lets a test replace one object's pickled state, e.g.
by a positional list of values or a state with an unknown field.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections.abc import Iterable
from typing import Any

from compiler.load import model

GW_MODULE = "lsst.ctrl.bps.generic_workflow"

REAL_NAMES: dict[Any, tuple[str, str]] = {
    model.GenericWorkflow: (GW_MODULE, "GenericWorkflow"),
    model.GenericWorkflowGroup: (GW_MODULE, "GenericWorkflowGroup"),
    model.GenericWorkflowJob: (GW_MODULE, "GenericWorkflowJob"),
    model.GenericWorkflowNoopJob: (GW_MODULE, "GenericWorkflowNoopJob"),
    model.GenericWorkflowExec: (GW_MODULE, "GenericWorkflowExec"),
    model.GenericWorkflowFile: (GW_MODULE, "GenericWorkflowFile"),
    model.GenericWorkflowLabels: (GW_MODULE, "GenericWorkflowLabels"),
    model.NodeType: (GW_MODULE, "GenericWorkflowNodeType"),
    model.PlainDiGraph: ("networkx.classes.digraph", "DiGraph"),
    model.FastCounter: ("collections", "Counter"),
}


class CtrlBpsPickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pure-Python pickler that writes stand-in classes under the real ctrl_bps names."""

    def reducer_override(self, obj: Any) -> Any:
        """Records pickle as ctrl_bps slots dataclasses do: NEWOBJ, then (None, {slot: value})."""
        if isinstance(obj, model._Record) and not isinstance(obj, StateOverride):
            state = dict(zip(obj._layout.fields, obj._values(), strict=True))
            return (copyreg.__newobj__, (type(obj),), (None, state))
        return NotImplemented

    def save_global(self, obj: Any, name: str | None = None) -> None:
        target = REAL_NAMES.get(obj) or REAL_NAMES.get(getattr(obj, "_public", None))
        if target is None:
            super().save_global(obj, name)
            return
        module, qualname = target
        self.save(module)
        self.save(qualname)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def dumps(obj: Any, protocol: int = 4) -> bytes:
    """Pickle with the real ctrl_bps class names."""
    buffer = io.BytesIO()
    CtrlBpsPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


class StateOverride:
    """Pickles as a `cls` object whose state is `state`, whatever it is."""

    def __init__(self, cls: type, state: Any) -> None:
        self.cls = cls
        self.state = state

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # the pickler checks that NEWOBJ's class is the object's
        return self.cls

    def __reduce__(self) -> tuple[Any, ...]:
        return (copyreg.__newobj__, (self.cls,), self.state)


def make_job(name: str, label: str, **fields: Any) -> model.GenericWorkflowJob:
    """A payload job with a default executable."""
    fields.setdefault("executable", model.GenericWorkflowExec("pipetask", "/bin/pipetask", False))
    fields.setdefault("arguments", "run {qgraphFile}")
    return model.GenericWorkflowJob(name, label, **fields)


def add_job(gw: model.GenericWorkflow, job: Any, parents: Iterable[str] = ()) -> None:
    """Add a node the way ctrl_bps `GenericWorkflow.add_job` does (graph, labels, executables)."""
    parents = list(parents)
    gw.add_node(job.name, job=job)
    for parent in parents:
        gw.add_edge(parent, job.name)
    if job.node_type != model.NodeType.PAYLOAD:
        return
    if job.executable is not None:
        gw._executables[job.executable.name] = job.executable
    labels = gw._job_labels
    labels._label_to_jobs[job.label].append(job)
    labels._label_graph.add_node(job.label)
    for parent in parents:
        parent_job = gw.get_job(parent)
        if parent_job.node_type == model.NodeType.PAYLOAD:
            labels._label_graph.add_edge(parent_job.label, job.label)


def add_files(gw: model.GenericWorkflow, job_name: str, inputs: list[Any], outputs: list[Any]) -> None:
    """Record a job's input and output files as ctrl_bps does."""
    for which, files in (("_inputs", inputs), ("_outputs", outputs)):
        getattr(gw, which).setdefault(job_name, []).extend(files)
        for gwfile in files:
            gw._files.setdefault(gwfile.name, gwfile)


def small_workflow(name: str = "crafted") -> model.GenericWorkflow:
    """A small three-label workflow with files, a noop job, a group and a final job."""
    gw = model.GenericWorkflow(name)
    qgraph = model.GenericWorkflowFile("runQgraphFile", "/submit/run.qgraph", True, True, True)
    add_job(gw, make_job("pipetaskInit", "pipetaskInit"))
    for visit in (1, 2):
        prev = "pipetaskInit"
        for label in ("isr", "calibrate", "coadd"):
            job = make_job(f"{label}_{visit}", label, tags={"visit": visit}, request_memory=2048)
            add_job(gw, job, [prev])
            out = model.GenericWorkflowFile(f"out_{job.name}", f"/out/{job.name}", visit == 1)
            add_files(gw, job.name, [qgraph], [out])
            prev = job.name
    add_job(gw, model.GenericWorkflowNoopJob("noop_1", "order"), ["coadd_1"])
    group = model.GenericWorkflowGroup("group_1", "order1", blocking=True)
    add_job(group, make_job("grpA_1", "grpA"))
    add_job(group, make_job("grpB_1", "grpB"), ["grpA_1"])
    add_job(gw, group, ["pipetaskInit"])
    final_exec = model.GenericWorkflowExec("finalJob.bash", "/submit/finalJob.bash", True)
    gw._final = make_job("finalJob", "finalJob", executable=final_exec)
    gw._executables[final_exec.name] = final_exec
    gw.run_attrs["bps_run"] = name
    return gw
