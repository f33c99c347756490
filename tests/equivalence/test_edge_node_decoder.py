"""Our task executables decode on the worker with the reference's own edge-node decoder.

The decoder (`lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py`, installed with the
oracle) is what runs on PanDA worker nodes. Here PanDA's part is played by hand: stage
the files to the distribution end point, put the job's dependency-map name where PanDA
puts it (`${IN/L}`), run the executable in an empty folder, and check that the trivial
payload ran with the job's real command line, placeholders filled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler import compile_workflow, write_outdir

SCRIPT = """#!/bin/bash
printf '%s\\n' "$@" > args.txt
"""


def make_workflow(tmp: Path) -> Any:
    bps = pytest.importorskip("lsst.ctrl.bps")
    script = tmp / "record_args.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    qgraph = tmp / "run.qgraph"
    qgraph.write_text("not really a quantum graph")
    gw = bps.GenericWorkflow("wf_decode")
    exe = bps.GenericWorkflowExec("record_args.sh", str(script), True)
    qg_file = bps.GenericWorkflowFile("runQgraphFile", src_uri=str(qgraph), wms_transfer=True)
    butler = bps.GenericWorkflowFile("butlerConfig", src_uri="s3://repo/butler.yaml", job_access_remote=True)
    args = (
        "run-qbb <FILE:butlerConfig> <FILE:runQgraphFile>"
        " --qgraph-node-id {qgraphNodeId} --qgraph-id {qgraphId}"
    )
    for i, label in enumerate(["isr", "calibrate"]):
        job = bps.GenericWorkflowJob(
            f"{label}_1",
            label=label,
            executable=exe,
            arguments=args + " --user <ENV:USER> --visit {visit}",
            cmdvals={"qgraphNodeId": f"node-{i}", "qgraphId": "qg-7", "visit": "903342"},
            environment={"LABEL_OF_JOB": "{visit}"},
        )
        gw.add_job(job, ["isr_1"] if i else None)
        gw.add_job_inputs(job.name, [qg_file, butler])
    return gw


def config(tmp: Path, decoder: str, **extra: Any) -> dict[str, Any]:
    return {
        "computeSite": "LOCAL",
        "fileDistributionEndPoint": f"file://{tmp / 'dist'}/",
        "runnerCommand": f"{sys.executable} {decoder} _cmd_line_",
        "placeholderParams": ["qgraphNodeId", "qgraphId"],
        **extra,
    }


def run_on_worker(executable: str, entry_name: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PANDA_BEHIND_REAL_LB": "1",
        "PANDACACHE_URL": "https://127.0.0.1:25443/server/panda",
    }
    command = executable.replace("${IN/L}", entry_name)
    return subprocess.run(
        ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("mode", ["plain", "enableJobNameMap", "enableQnodeMap"])
def test_decoder_runs_real_command(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, reference: Any
) -> None:
    import lsst.ctrl.bps.panda.edgenode.cmd_line_decoder as decoder_module

    monkeypatch.setenv("USER", "operator1")
    gw = make_workflow(tmp_path)
    extra = {mode: True} if mode != "plain" else {}
    outdir = tmp_path / "out"
    compiled = compile_workflow(gw, config(tmp_path, decoder_module.__file__, **extra), submit_path=outdir)
    write_outdir(compiled, outdir)
    doc = json.loads((outdir / "workflow.json").read_text())
    dist = tmp_path / "dist"
    dist.mkdir()
    for uri in doc["files_to_pre_stage"].values():
        shutil.copy(uri.rstrip("/"), dist)
    task = next(t for t in doc["tasks"] if t["label"] == "calibrate")
    entry = json.loads((outdir / task["jobs_file"]).read_text().splitlines()[0])
    workdir = tmp_path / "worker"
    workdir.mkdir()
    result = run_on_worker(task["work"]["executable"], entry["name"], workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    args = (workdir / "args.txt").read_text().splitlines()
    assert args == [
        "run-qbb",
        "s3://repo/butler.yaml",  # remote input: its URI, embedded on the submit side
        "run.qgraph",  # transferred input: staged next to the job
        "--qgraph-node-id",
        "node-1",  # per-job placeholder, from the pseudo-input name
        "--qgraph-id",
        "qg-7",
        "--user",
        "operator1",  # <ENV:USER> resolved on the submit side
        "--visit",
        "903342",  # static value, embedded
    ]
    assert "export LABEL_OF_JOB=903342;" in result.stdout  # environment prefix, filled
