"""Jobs-file lines are the same whether names are written raw between quotes or JSON-escaped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import compile_workflow
from compiler.emit import writer

from .conftest import CONFIG, PICKLE


def _lines(wf: writer.Workflow, tmp: Path) -> list[str]:
    jobs_writer = writer._JobsWriter(wf)
    out: list[str] = []
    for number, task in enumerate(wf.tasks or ()):
        path = tmp / f"{number}.jsonl"
        jobs_writer.write_task(task, path, path.name)
        out += path.read_text(encoding="utf-8").splitlines()
    return out


def test_names_needing_escapes_are_escaped(tmp_path: Path) -> None:
    wf = compile_workflow(PICKLE, CONFIG).workflow
    assert wf.pseudo_inputs is not None and wf.entry_names is None
    plain = _lines(wf, tmp_path)
    odd = tuple(name + ' "é\\\t' for name in wf.pseudo_inputs)
    escaped = _lines(wf.replace(pseudo_inputs=odd), tmp_path)
    assert escaped != plain
    for line in escaped:
        entry = json.loads(line)
        assert entry["name"] in odd
        assert all(dep["inputname"] in odd for dep in entry["dependencies"])
        assert line.isascii()  # ensure_ascii, as json.dumps writes it
    for line, other in zip(plain, escaped, strict=True):
        assert json.loads(line)["name"] + ' "é\\\t' == json.loads(other)["name"]


def test_plain_names_are_written_as_json_dumps_would(tmp_path: Path) -> None:
    wf = compile_workflow(PICKLE, CONFIG).workflow
    for line in _lines(wf, tmp_path):
        assert json.dumps(json.loads(line)) == line


def test_flushing_by_size_changes_no_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wf = compile_workflow(PICKLE, CONFIG).workflow
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    usual = _lines(wf, tmp_path / "a")
    monkeypatch.setattr(writer, "FLUSH_CHARS", 1)  # every line is flushed on its own
    assert _lines(wf, tmp_path / "b") == usual
