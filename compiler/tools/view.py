"""`panda-compile view OUTDIR -o page.html`: one self-contained page describing a compiled folder.

The page holds a per-label table (tasks, jobs, chunk sizes), the task graph (inline SVG
when Graphviz is there, else the list of edges), and per task its PanDA parameters and
the decoded command of its first job. It references nothing outside itself: styles are
inline, there is no script, and the SVG is rebuilt from Graphviz's output keeping only
drawing elements (no links, images, scripts or comments).

Everything shown comes from the OUTDIR, which is untrusted: the template renders in
Jinja's immutable sandbox with autoescape on, and the SVG is re-serialized by the XML
library (text escaped) rather than pasted.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from markupsafe import Markup

from ..emit.taskparams import TEMPLATES_PACKAGE, bundled_templates_dir
from ..errors import CompileError
from .decode import DecodeError, Decoder, find_decoder_call
from .graph import GraphError, chunk_numbers, graphviz_available, render, task_label, to_dot
from .plan import Plan, PlanError

TEMPLATE = "view.html.j2"
SVG_NS = "http://www.w3.org/2000/svg"
_DRAWING = frozenset({"svg", "g", "title", "polygon", "path", "ellipse", "polyline", "text", "line", "rect"})
_ATTRIBUTES = frozenset(
    {"width", "height", "viewBox", "transform", "id", "class", "fill", "stroke", "stroke-width",
     "stroke-dasharray", "points", "d", "cx", "cy", "rx", "ry", "x", "y", "x1", "x2", "y1", "y2",
     "text-anchor", "font-family", "font-size", "font-weight", "font-style", "opacity"}
)  # fmt: skip


class ViewError(CompileError):
    """A page that cannot be written; the message names the file."""


def _environment() -> jinja2.Environment:
    folder = bundled_templates_dir()
    loader: jinja2.BaseLoader = (
        jinja2.FileSystemLoader(str(folder)) if folder else jinja2.PackageLoader(TEMPLATES_PACKAGE, ".")
    )
    return jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )


def clean_svg(svg: bytes) -> str:
    """Graphviz's SVG keeping only drawing elements and attributes, text escaped."""
    ET.register_namespace("", SVG_NS)
    root = ET.fromstring(svg)

    def clean(element: ET.Element) -> None:
        for child in list(element):
            if child.tag.removeprefix(f"{{{SVG_NS}}}") not in _DRAWING:
                element.remove(child)
            else:
                clean(child)
        for key in list(element.attrib):
            if key not in _ATTRIBUTES:
                del element.attrib[key]

    clean(root)
    return ET.tostring(root, encoding="unicode")


def _graph(doc: dict[str, Any]) -> tuple[str | None, list[tuple[str, str]]]:
    """(inline SVG or None, the edges D -> T and sink -> final)."""
    edges = [(d, t["name"]) for t in doc["tasks"] for d in t["dependency_tasks"]]
    edges += [(name, doc["final_task"]) for name in doc["release_after"]]
    if not graphviz_available():
        return None, edges
    try:
        return clean_svg(render(to_dot(doc), "svg")), edges
    except (GraphError, ET.ParseError):
        return None, edges


def _labels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for task in doc["tasks"]:
        row = rows.setdefault(task["label"], {"label": task["label"], "tasks": 0, "jobs": 0, "chunks": []})
        row["tasks"] += 1
        row["jobs"] += task["job_count"]
        row["chunks"].append(task["job_count"])
    return list(rows.values())


def _first_commands(plan: Plan, environ: Mapping[str, str]) -> dict[int, str]:
    """task index -> the decoded command of its first job (or why it does not decode)."""
    out: dict[int, str] = {}
    for t, jobs in enumerate(plan.task_jobs):
        if not jobs:
            continue
        try:
            call = find_decoder_call(plan.tasks[t]["work"]["executable"])
            out[t] = Decoder(call, environ, plan.read_map).command(plan.job_name[jobs.start])
        except (DecodeError, PlanError) as exc:
            out[t] = f"(does not decode: {exc})"
    return out


def page_context(plan: Plan, environ: Mapping[str, str]) -> dict[str, Any]:
    """What the template shows (plain data; the template escapes every string)."""
    doc = plan.doc
    svg, edges = _graph(doc)
    chunks = chunk_numbers(doc["tasks"])
    commands = _first_commands(plan, environ)
    tasks = [
        {
            "name": task["name"],
            "summary": task_label(task, chunks[task["name"]])[1:],
            "dependencies": task["dependency_tasks"],
            "first_job": plan.job_name[plan.task_jobs[t].start] if plan.task_jobs[t] else None,
            "command": commands.get(t),
            "params": [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in task["work"].items()],
            "is_final": task["name"] == doc["final_task"],
        }
        for t, task in enumerate(doc["tasks"])
    ]
    return {
        "workflow": doc["name"],
        "job_count": doc["job_count"],
        "generator": f"{doc['generator']['name']} {doc['generator']['version']}",
        "input_digest": doc["input_digest"],
        "labels": _labels(doc),
        "svg": Markup(svg) if svg is not None else None,  # rebuilt by clean_svg: escaped
        "edges": edges,
        "release_after": doc["release_after"],
        "final_task": doc["final_task"],
        "tasks": tasks,
        "files": sorted(doc["files_to_pre_stage"].items()),
    }


def write_view(plan: Plan, output: str | os.PathLike[str], environ: Mapping[str, str]) -> None:
    """Render the page and write it atomically to `output`."""
    html = _environment().get_template(TEMPLATE).render(page_context(plan, environ))
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ViewError(f"-o {output}: {exc.strerror or exc}") from None
