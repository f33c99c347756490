"""`panda-compile view`: one self-contained page, checked in a real headless browser.

Debian's `chromium --headless --dump-dom` loads the page from disk and prints the DOM it
built: every task name, a row per label with its job count and the graph must be there.
The page is also parsed here for anything that would load from elsewhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.emit.conftest import run_cli
from tests.tools.conftest import build_workflow, compile_to, run_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def dump_dom(page: Path) -> str:
    """The DOM chromium builds from `page` (headless, no network needed)."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class _Page(HTMLParser):
    """Label rows, references and element names of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.references: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self.styles: list[str] = []
        self._row: str | None = None
        self._cells: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        for key in ("src", "href", "xlink:href", "data", "action", "srcset", "poster"):
            if values.get(key) is not None:
                self.references.append((tag, key, values[key] or ""))
        if tag == "tr" and "label-row" in (values.get("class") or ""):
            self._row, self._cells = values.get("data-label"), []
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            self.rows[self._row] = self._cells
            self._row = None
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._in == "td":
            self._cells.append(data)
        if self._in == "style":
            self.styles.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def assert_self_contained(html: str) -> None:
    page = parse(html)
    assert not [r for r in page.references if not r[2].startswith(("data:", "#"))], page.references
    assert "url(" not in "".join(page.styles)
    assert not {"script", "iframe", "link", "img", "object", "embed"} & page.tags


@needs_chromium
def test_view_renders_in_a_browser(example_outdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = run_cli("view", example_outdir, "-o", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert_self_contained(html)
    dom = dump_dom(out)
    doc = json.loads((example_outdir / "workflow.json").read_text())
    for task in doc["tasks"]:
        assert task["name"] in dom
    jobs: dict[str, int] = {}
    for task in doc["tasks"]:
        jobs[task["label"]] = jobs.get(task["label"], 0) + task["job_count"]
    rows = parse(dom).rows
    assert {label: int(cells[2]) for label, cells in rows.items()} == jobs
    if shutil.which("dot"):
        assert re.search(r"<svg[\s>]", dom)
    else:
        assert '<ul class="edges">' in dom


def test_untrusted_names_are_escaped(tmp_path: Path) -> None:
    label = 'x<b id="boom">y&amp;'
    jobs = [f"{label}_1", "b_1"]
    gw = build_workflow(tmp_path, jobs, [(jobs[0], "b_1")], final=False)
    outdir = compile_to(tmp_path, gw, run_config(tmp_path))
    out = tmp_path / "page.html"
    result = run_cli("view", outdir, "-o", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert '<b id="boom">' not in html
    assert "x&lt;b id=&#34;boom&#34;&gt;y&amp;amp;" in html
    assert_self_contained(html)
    if CHROMIUM:
        dom = dump_dom(out)
        assert "<b " not in dom and "x&lt;b id=" in dom  # text in the browser, not an element


def test_view_without_graphviz_lists_the_edges(
    example_outdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler.tools import view

    monkeypatch.setattr(view, "graphviz_available", lambda: False)
    out = tmp_path / "page.html"
    assert run_cli("view", example_outdir, "-o", out).exit_code == 0
    html = out.read_text()
    assert "<svg" not in html
    doc: dict[str, Any] = json.loads((example_outdir / "workflow.json").read_text())
    for task in doc["tasks"]:
        for parent in task["dependency_tasks"]:
            assert f"<li>{parent} → {task['name']}</li>" in html
