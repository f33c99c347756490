"""Tiny IR workflows for pass tests, written as text instead of GenericWorkflow objects."""

from __future__ import annotations

from compiler.ir import Command, Exec, Graph, Job, LabelOptions, NodeKind, Options, PayloadOptions, Workflow

EXE = Exec("pipetask", "/bin/pipetask")
ARGS = "run --qgraph-node-id {qgraphNodeId} --qgraph-id {qgraphId}"


def job(
    name: str, label: str | None = None, *, kind: NodeKind = NodeKind.JOB, group: Graph | None = None
) -> Job:
    """A job whose label is the part of its name before '_' unless given."""
    label = label if label is not None else name.split("_")[0]
    if kind is not NodeKind.JOB:
        return Job(name=name, label=label, kind=kind, group=group)
    return Job(
        name=name,
        label=label,
        command=Command.of(EXE, ARGS),
        cmdvals={"qgraphNodeId": f"id-{name}", "qgraphId": "qg1"},
    )


def graph(jobs: list[Job], edges: list[tuple[str, str]], *, source_order: bool = True) -> Graph:
    """A graph from jobs and (parent, child) name pairs; label order = first appearance."""
    index = {j.name: i for i, j in enumerate(jobs)}
    parents: list[list[int]] = [[] for _ in jobs]
    for parent, child in edges:
        parents[index[child]].append(index[parent])
    label_jobs: dict[str, list[int]] = {}
    for i, j in enumerate(jobs):
        label_jobs.setdefault(j.label, []).append(i)
    return Graph(
        tuple(jobs),
        tuple(tuple(p) for p in parents),
        tuple(label_jobs) if source_order else None,
        {k: tuple(v) for k, v in label_jobs.items()} if source_order else None,
    )


RUNNER = "runner.sh _cmd_line_"
END_POINT = "file:///dist/"


def labels_of(g: Graph) -> list[str]:
    out: list[str] = []
    for j in g.jobs:
        out += labels_of(j.group) if j.group is not None else [j.label]
    return out


def options(g: Graph, max_jobs: int = 30000, payload: PayloadOptions | None = None) -> Options:
    """Options as resolve_options would give for a minimal config covering every label."""
    label_options = LabelOptions(site="SITE", file_distribution_end_point=END_POINT)
    return Options(
        max_jobs_per_task=max_jobs,
        payload=payload or PayloadOptions(runner_command=RUNNER),
        labels=dict.fromkeys([*labels_of(g), "finalJob"], label_options),
        submit_path="/submit",
    )


def workflow(
    g: Graph,
    *,
    final: bool = False,
    max_jobs: int = 30000,
    name: str = "wf",
    payload: PayloadOptions | None = None,
) -> Workflow:
    return Workflow(
        name=name,
        options=options(g, max_jobs, payload),
        source=g,
        final_job=job("finalJob", "finalJob") if final else None,
    )
