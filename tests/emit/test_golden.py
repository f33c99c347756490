"""The bundled example recompiles to its golden folder, byte for byte.

`examples/drp-small/expected/` is what `panda-compile` writes for the example (made with
real ctrl_bps, see make_example.py). The generator version in the headers is pinned for
this test, so the golden changes when the output does, not at every release. Refresh it
after an intended change with `pytest tests/emit/test_golden.py --update-golden`, and
review the diff (or `panda-compile diff`) before committing it.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

import compiler
from compiler.tools.check import check_outdir

from .conftest import CONFIG, EXAMPLE, PICKLE, run_cli

GOLDEN = EXAMPLE / "expected"
PINNED_VERSION = "0.0.0+golden"


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _first_difference(expected: bytes, actual: bytes) -> str:
    diff = difflib.unified_diff(
        expected.decode(errors="replace").splitlines(),
        actual.decode(errors="replace").splitlines(),
        "expected",
        "actual",
        lineterm="",
        n=1,
    )
    return "\n".join(line[:200] for line in list(diff)[:12])


def test_example_recompiles_to_golden(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiler, "__version__", PINNED_VERSION)
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    if request.config.getoption("--update-golden"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out, GOLDEN)
    assert _files(out) == _files(GOLDEN), "files differ from the golden folder"
    for name in _files(GOLDEN):
        expected, actual = (GOLDEN / name).read_bytes(), (out / name).read_bytes()
        assert actual == expected, (
            f"{name} differs from the golden file:\n{_first_difference(expected, actual)}"
        )


def test_golden_folder_passes_check() -> None:
    assert check_outdir(GOLDEN) == []


def test_golden_names_the_example_pickle_by_its_sha256() -> None:
    import hashlib
    import json

    doc = json.loads((GOLDEN / "workflow.json").read_text(encoding="utf-8"))
    assert doc["input_digest"] == "sha256:" + hashlib.sha256(PICKLE.read_bytes()).hexdigest()
    assert doc["generator"] == {"name": "panda-compile", "version": PINNED_VERSION}
