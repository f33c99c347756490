"""`panda-compile run` on a real BPS case: real `pipetask` jobs, outputs in the butler.

The session's case (tests/realbps/make_case.py: butler repo, pipe_base mock tasks,
`pipetask qgraph`, BPS's prepare with compiler.PanDAService and no site config). `run
--as-pilot` runs each job's whole executable, the generic runner included, as a pilot
would. This is the only test that writes into the case's repository.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.realbps.conftest import RealCase
from tests.realbps.make_case import job_environment


def test_run_executes_every_real_job_and_the_outputs_reach_the_butler(
    real_case: RealCase, tmp_path: Path
) -> None:
    outdir = real_case.bps_outdir  # what `bps prepare` with our plugin wrote
    doc = json.loads((outdir / "workflow.json").read_text())
    log = tmp_path / "run.jsonl"
    env = job_environment(real_case.root)
    env.pop("CTRL_BPS_PANDA_DIR", None)  # `run` decodes itself
    command = [sys.executable, "-m", "compiler", "run", str(outdir), "--as-pilot", "--workers", "2",
               "--log", str(log), "--scratch", str(tmp_path / "scratch")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == doc["job_count"] == 15
    assert {line["status"] for line in lines} == {"succeeded"}
    assert lines[-1]["task"] == doc["final_task"]  # aggregate-graph after every other job
    query = subprocess.run(
        ["butler", "query-datasets", str(real_case.repo), "pc_forced", "--collections", "u/tester/realbps"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len([row for row in query.stdout.splitlines() if row.startswith("pc_forced ")]) == 4
