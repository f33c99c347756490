"""`panda-compile graph`: DOT always (no extra needed), SVG and PNG through Graphviz."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compiler.tools import graph
from tests.emit.conftest import run_cli

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


def workflow(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / "workflow.json").read_text())


def test_dot_has_every_task_and_every_dependency(example_outdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    result = run_cli("graph", example_outdir, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    nodes = set(re.findall(r'^\s*"([^"]+)" \[label="', text, re.M))
    edges = set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)";$', text, re.M))
    doc = workflow(example_outdir)
    assert nodes == {t["name"] for t in doc["tasks"]}
    assert edges == {(d, t["name"]) for t in doc["tasks"] for d in t["dependency_tasks"]}
    released = set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)" \[style=dashed', text, re.M))
    assert released == {(name, doc["final_task"]) for name in doc["release_after"]}
    for task in doc["tasks"]:  # each node's label starts with its name and shows its job count
        assert f'"{task["name"]}" [label="{task["name"]}\\n{task["label"]} · chunk ' in text
        assert f"\\n{task['job_count']} job" in text


@needs_dot
@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<svg"), (".png", b"\x89PNG\r\n\x1a\n")])
def test_svg_and_png_through_graphviz(
    example_outdir: Path, tmp_path: Path, suffix: str, magic: bytes
) -> None:
    out = tmp_path / f"g{suffix}"
    result = run_cli("graph", example_outdir, "-o", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert magic in data[:400]
    if suffix == ".svg":
        for task in workflow(example_outdir)["tasks"]:
            assert task["name"].encode() in data


def test_untrusted_strings_are_escaped() -> None:
    assert graph.quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    doc = {
        "name": 'wf"; evil',
        "final_task": None,
        "release_after": [],
        "tasks": [
            {"name": 't"1', "label": "l\\x", "job_count": 1, "dependency_tasks": [], "work": {}},
            {"name": "t2", "label": "l\\x", "job_count": 2, "dependency_tasks": ['t"1'], "work": {}},
        ],
    }
    text = graph.to_dot(doc)
    assert '"t\\"1" -> "t2";' in text
    if shutil.which("dot"):
        parsed = subprocess.run(["dot", "-Tjson"], input=text.encode(), capture_output=True, check=True)
        names = {o["name"] for o in json.loads(parsed.stdout)["objects"] if "label" in o and "nodes" not in o}
        assert {'t"1', "t2"} <= names


def test_svg_without_graphviz_names_the_extra(
    example_outdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real_import = importlib.import_module

    def no_graphviz(name: str, *args: Any) -> Any:
        if name == "graphviz":
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    monkeypatch.setattr(graph.importlib, "import_module", no_graphviz)
    out = tmp_path / "g.svg"
    result = run_cli("graph", example_outdir, "-o", out)
    assert result.exit_code == 1
    assert "panda-compile[graph]" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []
    dot = run_cli("graph", example_outdir, "-o", tmp_path / "g.dot")  # DOT needs nothing
    assert dot.exit_code == 0


def test_unknown_format_is_refused(example_outdir: Path, tmp_path: Path) -> None:
    result = run_cli("graph", example_outdir, "-o", tmp_path / "g.pdf")
    assert result.exit_code == 1 and "unknown format '.pdf'" in result.stderr
