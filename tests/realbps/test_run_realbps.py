"""`panda-compile run` on a real BPS case: real `pipetask` jobs, outputs in the butler.

The case (tests/realbps/make_case.py: butler repo, pipe_base mock tasks, `pipetask
qgraph`, BPS's prepare with compiler.PanDAService) is made afresh for this module: its
jobs write into the repository, so it is not shared with the session's `real_case`,
whose own payload test runs the same jobs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.realbps.conftest import HERE, RealCase
from tests.realbps.make_case import job_environment


@pytest.fixture(scope="module")
def own_case(tmp_path_factory: pytest.TempPathFactory) -> RealCase:
    for module in ("lsst.ctrl.bps", "lsst.ctrl.mpexec", "lsst.pipe.base", "lsst.daf.butler"):
        pytest.importorskip(module)
    root = tmp_path_factory.mktemp("realbps-run")
    done = subprocess.run(
        [sys.executable, str(HERE / "make_case.py"), str(root)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return RealCase(root, Path(done.stdout.strip().splitlines()[-1]))


def test_run_executes_every_real_job_and_the_outputs_reach_the_butler(
    own_case: RealCase, tmp_path: Path
) -> None:
    outdir = own_case.bps_outdir  # what `bps prepare` with our plugin wrote
    doc = json.loads((outdir / "workflow.json").read_text())
    log = tmp_path / "run.jsonl"
    env = job_environment(own_case.root)
    env.pop("CTRL_BPS_PANDA_DIR", None)  # `run` decodes itself
    command = [sys.executable, "-m", "compiler", "run", str(outdir), "--workers", "2",
               "--log", str(log), "--scratch", str(tmp_path / "scratch")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == doc["job_count"] == 15
    assert {line["status"] for line in lines} == {"succeeded"}
    assert lines[-1]["task"] == doc["final_task"]  # aggregate-graph after every other job
    query = subprocess.run(
        ["butler", "query-datasets", str(own_case.repo), "pc_forced", "--collections", "u/tester/realbps"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len([row for row in query.stdout.splitlines() if row.startswith("pc_forced ")]) == 4
