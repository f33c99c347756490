"""Absurd outputs: too many PanDA tasks warn, then stop, before any task is built or written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hardening import refusal, run_bounded

ROOT = Path(__file__).resolve().parents[1]
PICKLE = ROOT / "examples" / "drp-small" / "bps_generic_workflow.pickle"
CONFIG = ROOT / "examples" / "drp-small" / "submit.yaml"


def _config(tmp_path: Path, **keys: object) -> Path:
    path = tmp_path / "c.yaml"
    lines = [
        f"includeConfigs: [{json.dumps(str(CONFIG))}]",
        *(f"{k}: {json.dumps(v)}" for k, v in keys.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_too_many_tasks_is_refused_naming_the_key(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_bounded(
        PICKLE, "--config", _config(tmp_path, maxJobsPerTask=1, pandaCompileMaxTasks=50), "-o", out
    )
    refusal(result, "pandaCompileMaxTasks")
    assert not out.exists()


def test_many_tasks_warn_once_and_compile(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_bounded(PICKLE, "--config", _config(tmp_path, pandaCompileWarnTasks=3), "-q", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("pandaCompileWarnTasks") == 1 and len(result.stderr.splitlines()) == 1
    assert run_bounded("check", out).returncode == 0
