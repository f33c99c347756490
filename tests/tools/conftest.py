"""Small workflows whose jobs run a real program, compiled into OUTDIRs for the tool tests.

The program (`fake_pipetask.py`) stands in for `pipetask`: it appends one JSON line per
run to ``$FAKE_RECORD`` (its qgraphNodeId, its folder, start and end times), sleeps
``$FAKE_SLEEP`` seconds, hangs when its node id is in ``$FAKE_HANG`` and exits 3 when it
is in ``$FAKE_FAIL``. Jobs get the caller's environment, so tests steer it from there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

FAKE_PIPETASK = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
node = args[args.index("--qgraph-node-id") + 1]
start = time.time()
if node in os.environ.get("FAKE_HANG", "").split(","):
    with open(os.environ["FAKE_RECORD"] + ".pid", "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    time.sleep(600)
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
qgraph = args[args.index("run-qbb") + 2]
record = {{"node": node, "qgraph_id": args[args.index("--qgraph-id") + 1], "cwd": os.getcwd(),
          "qgraph_here": os.path.exists(qgraph), "start": start, "end": time.time()}}
with open(os.environ["FAKE_RECORD"], "a") as fh:
    fh.write(json.dumps(record) + "\\n")
sys.exit(3 if node in os.environ.get("FAKE_FAIL", "").split(",") else 0)
"""

FINAL_SCRIPT = """#!/bin/bash
echo "final $*" >> "$FAKE_RECORD.final"
"""


def build_workflow(
    tmp: Path, jobs: Sequence[str], edges: Sequence[tuple[str, str]], final: bool, extra_args: str = ""
) -> Any:
    """A GenericWorkflow: jobs named ``<label>_<n>``, run by the fake pipetask; node id = name."""
    bps = pytest.importorskip("lsst.ctrl.bps")
    script = tmp / "fake_pipetask.py"
    script.write_text(FAKE_PIPETASK.format(python=sys.executable))
    script.chmod(0o755)
    qgraph = tmp / "run.qgraph"
    qgraph.write_text("not really a quantum graph")
    gw = bps.GenericWorkflow("wf_run")
    exe = bps.GenericWorkflowExec("fake_pipetask.py", str(script), False)
    qg_file = bps.GenericWorkflowFile("runQgraphFile", src_uri=str(qgraph), wms_transfer=True)
    butler = bps.GenericWorkflowFile("butlerConfig", src_uri="s3://repo/butler.yaml", job_access_remote=True)
    args = (
        "run-qbb <FILE:butlerConfig> <FILE:runQgraphFile>"
        " --qgraph-node-id {qgraphNodeId} --qgraph-id {qgraphId}"
    )
    for name in jobs:
        job = bps.GenericWorkflowJob(
            name,
            label=name.rsplit("_", 1)[0],
            executable=exe,
            arguments=args + extra_args,
            cmdvals={"qgraphNodeId": name, "qgraphId": "qg-7"},
        )
        gw.add_job(job)
        gw.add_job_inputs(job.name, [qg_file, butler])
    for parent, child in edges:  # after every job: a parent may come later in its label
        gw.add_job_relationships(parent, child)
    if final:
        final_script = tmp / "final_job.bash"
        final_script.write_text(FINAL_SCRIPT)
        job = bps.GenericWorkflowJob(
            "finalJob",
            label="finalJob",
            executable=bps.GenericWorkflowExec("final_job.bash", str(final_script), True),
            arguments="<FILE:runQgraphFile> s3://repo/butler.yaml",
        )
        gw.add_job_inputs(job.name, [qg_file])
        gw.add_final(job)
    return gw


def run_config(tmp: Path, runner: str = "runner.sh _cmd_line_", **extra: Any) -> dict[str, Any]:
    """A config whose jobs decode locally; `runner` is the runnerCommand (any, by default)."""
    return {
        "computeSite": "LOCAL",
        "fileDistributionEndPoint": f"file://{tmp / 'dist'}/",
        "runnerCommand": runner,
        "placeholderParams": ["qgraphNodeId", "qgraphId"],
        "maxJobsPerTask": 2,
        "finalJob": {"processingType": ""},
        **extra,
    }


def compile_to(tmp: Path, gw: Any, config: dict[str, Any], name: str = "out") -> Path:
    """`gw` compiled with `config` into ``tmp/name``."""
    from compiler import compile_workflow, write_outdir

    outdir = tmp / name
    write_outdir(compile_workflow(gw, config, submit_path=outdir), outdir)
    return outdir


def records(path: Path) -> list[dict[str, Any]]:
    """The fake pipetask's JSON lines (none if it never ran)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# A diamond with a tail and a side branch: a -> b1, b2 -> c -> d; a -> e (independent of c).
DIAMOND_JOBS = ["a_1", "b_1", "b_2", "b_3", "c_1", "d_1", "e_1", "e_2"]
DIAMOND_EDGES = [
    ("a_1", "b_1"),
    ("a_1", "b_2"),
    ("a_1", "b_3"),
    ("b_1", "c_1"),
    ("b_2", "c_1"),
    ("c_1", "d_1"),
    ("a_1", "e_1"),
    ("e_1", "e_2"),
]


@pytest.fixture()
def diamond(tmp_path: Path) -> Path:
    """The diamond compiled (final job included), jobs run by the fake pipetask."""
    gw = build_workflow(tmp_path, DIAMOND_JOBS, DIAMOND_EDGES, final=True)
    return compile_to(tmp_path, gw, run_config(tmp_path))


from tests.emit.conftest import example_outdir  # noqa: E402,F401  (the bundled example, compiled)
