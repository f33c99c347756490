"""A plain, non-editable `pip install .` works in a fresh venv without the LSST stack.

This is what an operator's machine or a CI job that only checks payloads looks like:
the wheel must carry its templates, schemas and bundled config, and the compiler must
load a real ctrl_bps pickle through its own unpickler. Slow (a venv and a wheel build,
about half a minute), so it runs once, in one test.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "drp-small"


@pytest.mark.skipif(os.environ.get("PANDA_COMPILE_SKIP_INSTALL_TEST") == "1", reason="asked to skip")
def test_wheel_install_without_lsst(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        check=True,
        env=env,
        timeout=600,
    )
    work = tmp_path / "elsewhere"  # not the source tree: only the installed package is importable
    work.mkdir()
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('lsst.ctrl') is None)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "True", "the fresh venv must not have lsst-ctrl-bps"
    both = "import compiler, importlib.metadata as m; print(compiler.__version__, m.version('panda-compile'))"
    versions = subprocess.run(
        [python, "-c", both],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    package_version, installed_version = versions.stdout.split()
    assert package_version == installed_version != "0+unknown"  # one version, read at build time
    out = work / "out"
    result = subprocess.run(
        [
            env_dir / "bin" / "panda-compile",
            EXAMPLE / "bps_generic_workflow.pickle",
            "--config",
            EXAMPLE / "submit.yaml",
            "-o",
            out,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads((out / "workflow.json").read_text())
    assert doc["name"] == "u_someone_DRP_20250601T000000Z"
    assert sum(t["job_count"] for t in doc["tasks"]) == 201  # 200 jobs + the final job
    assert all((out / t["jobs_file"]).exists() for t in doc["tasks"])
    check = subprocess.run(
        [env_dir / "bin" / "panda-compile", "check", out], cwd=work, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
