"""Shared pieces of the OUTDIR tests: the bundled example, compiled once, and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "drp-small"
PICKLE = EXAMPLE / "bps_generic_workflow.pickle"
CONFIG = EXAMPLE / "submit.yaml"


def run_cli(*args: Any) -> Result:
    """`panda-compile ARGS` in-process; exceptions other than exits propagate."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def config_with(tmp: Path, name: str = "submit.yaml", **keys: Any) -> Path:
    """A submit YAML that includes the example's and sets some keys."""
    import json

    path = tmp / name
    lines = [f"includeConfigs: [{json.dumps(str(CONFIG))}]"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in keys.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def example_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example compiled by the CLI (read-only: copy it before breaking it)."""
    out = tmp_path_factory.mktemp("example") / "out"
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def maps_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example with event service on two labels and both name maps."""
    tmp = tmp_path_factory.mktemp("maps")
    config = config_with(tmp, enableQnodeMap=True, enableEventService="isr:5,calibrate")
    out = tmp / "out"
    result = run_cli(PICKLE, "--config", config, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture()
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    """A writable copy of a compiled folder."""

    def copy(folder: Path) -> Path:
        target = tmp_path / f"copy-{folder.name}"
        shutil.copytree(folder, target)
        return target

    return copy
