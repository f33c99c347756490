"""`panda-compile graph OUTDIR -o FILE`: the task graph as DOT, or SVG/PNG through Graphviz.

One node per task, named by the task name, its label saying what an operator checks
before submitting (label and chunk, job count, site and queue, memory); an edge D -> T
for every D in T's ``dependency_tasks``; the final task with a dashed edge from each task
of its release condition. Top-down, tasks of one label in one box, so a workflow of 10^3
tasks stays readable. The DOT text is written here (no dependency); turning it into
SVG/PNG needs Graphviz (the ``dot`` program, or the ``graph`` extra's Python bindings
with it). Every string from the OUTDIR is quoted and escaped.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CompileError

FORMATS = ("dot", "svg", "png")
MISSING_GRAPHVIZ = (
    "writing .{fmt} needs Graphviz's `dot` program: install Graphviz"
    " (e.g. apt-get install graphviz) and the extra: pip install 'panda-compile[graph]'"
)


class GraphError(CompileError):
    """A graph that cannot be written (format, missing Graphviz, Graphviz failing)."""


def quote(text: object) -> str:
    """A DOT string literal of `text`: backslashes and quotes escaped, newlines as line breaks."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _lines(*lines: str) -> str:
    return quote("\n".join(lines))


def chunk_numbers(tasks: Sequence[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """task name -> (its chunk number, the label's number of chunks), in workflow order."""
    by_label: dict[str, list[str]] = {}
    for task in tasks:
        by_label.setdefault(task["label"], []).append(task["name"])
    return {name: (k + 1, len(names)) for names in by_label.values() for k, name in enumerate(names)}


def task_label(task: dict[str, Any], chunk: tuple[int, int]) -> list[str]:
    """The lines shown for a task (also `view`'s summary of it)."""
    work = task["work"]
    return [
        task["name"],
        f"{task['label']} · chunk {chunk[0]}/{chunk[1]}",
        _plural(task["job_count"], "job"),
        f"site {work.get('task_site')} · queue {work.get('task_queue')}",
        f"memory {work.get('task_rss')} MB",
    ]


def to_dot(doc: dict[str, Any]) -> str:
    """The DOT text of a workflow.json document (see the module doc)."""
    tasks, final = doc["tasks"], doc["final_task"]
    chunks = chunk_numbers(tasks)
    out = [
        f"digraph {quote(doc['name'])} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef4fb", fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555"];',
    ]
    labels: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        if task["name"] != final:
            labels.setdefault(task["label"], []).append(task)
    for k, (label, members) in enumerate(labels.items()):
        jobs = sum(t["job_count"] for t in members)
        out.append(f"  subgraph cluster_{k} {{")
        title = f"{label}: {_plural(len(members), 'task')}, {_plural(jobs, 'job')}"
        out.append(f"    label={quote(title)};")
        out.append('    style="rounded"; color="#9bb7d4"; fontname="Helvetica";')
        out += [
            f"    {quote(t['name'])} [label={_lines(*task_label(t, chunks[t['name']]))}];" for t in members
        ]
        out.append("  }")
    for task in tasks:
        out += [f"  {quote(d)} -> {quote(task['name'])};" for d in task["dependency_tasks"]]
    if final is not None:
        task = next(t for t in tasks if t["name"] == final)
        release = f"final: released when {len(doc['release_after'])} sink task(s) have terminated"
        lines = [*task_label(task, chunks[final]), release]
        out.append(f'  {quote(final)} [label={_lines(*lines)}, shape=box, fillcolor="#fbf1e0"];')
        out += [
            f'  {quote(name)} -> {quote(final)} [style=dashed, label="is_terminated", fontsize=8];'
            for name in doc["release_after"]
        ]
    out.append("}")
    return "\n".join(out) + "\n"


def render(dot: str, fmt: str) -> bytes:
    """`dot` rendered as `fmt` (svg, png) by Graphviz; `GraphError` if it is missing or fails."""
    try:
        graphviz = importlib.import_module("graphviz")
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return bytes(graphviz.Source(dot).pipe(format=fmt))
        except graphviz.ExecutableNotFound:
            raise GraphError(MISSING_GRAPHVIZ.format(fmt=fmt)) from None
        except graphviz.CalledProcessError as exc:
            raise GraphError(f"Graphviz failed: {exc}") from None
    program = shutil.which("dot")
    if program is None:
        raise GraphError(MISSING_GRAPHVIZ.format(fmt=fmt))
    result = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False)
    if result.returncode:
        first = result.stderr.decode(errors="replace").strip().splitlines()[:1]
        raise GraphError(f"Graphviz `dot -T{fmt}` failed: {first[0] if first else result.returncode}")
    return result.stdout


def graphviz_available() -> bool:
    """Whether SVG/PNG can be rendered here (the bindings need the program too)."""
    return shutil.which("dot") is not None


def write_graph(doc: dict[str, Any], output: str | Path) -> str:
    """Write the graph to `output` in the format its extension names; the format."""
    path = Path(output)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GraphError(f"-o {output}: unknown format {path.suffix!r} (use .dot, .svg or .png)")
    dot = to_dot(doc)
    data = dot.encode() if fmt == "dot" else render(dot, fmt)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GraphError(f"-o {output}: {exc.strerror or exc}") from None
    return fmt
