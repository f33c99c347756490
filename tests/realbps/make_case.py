"""Build a real BPS case: a butler repository, a pipeline of pipe_base's mock tasks,
``pipetask qgraph`` and ``bps transform``, as an operator's submit would.

Run as a script (``python make_case.py ROOT``) so that the butler and the pipeline
machinery live in their own process: the test session only sees the files it leaves.

The pipeline has fan-out and fan-in over the four detectors of daf_butler's
``base.yaml`` test instrument:

    isr (per detector) -> calib (per detector) -> summary (one, all detectors)
                                               -> forced (per detector, needs summary)

so the quantum graph has 4 + 4 + 1 + 4 quanta; with pipetaskInit and the final job the
GenericWorkflow has 15 jobs in 6 labels. The case is made with BPS's own prepare driver,
``wmsServiceClass: compiler.PanDAService``, so the submit folder also holds what BPS with
this plugin wrote (``panda/``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PIPELINE = """\
description: panda-compile real-BPS test pipeline (pipe_base mock tasks)
tasks:
  isr:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
        config.dimensions = ["instrument", "detector"]
        config.inputs["raw"] = DynamicConnectionConfig(
            dataset_type_name="pc_raw", dimensions=["instrument", "detector"])
        config.outputs["exposure"] = DynamicConnectionConfig(
            dataset_type_name="pc_postisr", dimensions=["instrument", "detector"])
  calib:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
        config.dimensions = ["instrument", "detector"]
        config.inputs["exposure"] = DynamicConnectionConfig(
            dataset_type_name="pc_postisr", dimensions=["instrument", "detector"])
        config.outputs["calexp"] = DynamicConnectionConfig(
            dataset_type_name="pc_calexp", dimensions=["instrument", "detector"])
  summary:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
        config.dimensions = ["instrument"]
        config.inputs["calexps"] = DynamicConnectionConfig(
            dataset_type_name="pc_calexp", dimensions=["instrument", "detector"],
            multiple=True)
        config.outputs["summary"] = DynamicConnectionConfig(
            dataset_type_name="pc_summary", dimensions=["instrument"])
  forced:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig
        config.dimensions = ["instrument", "detector"]
        config.inputs["calexp"] = DynamicConnectionConfig(
            dataset_type_name="pc_calexp", dimensions=["instrument", "detector"])
        config.inputs["summary"] = DynamicConnectionConfig(
            dataset_type_name="pc_summary", dimensions=["instrument"])
        config.outputs["forced"] = DynamicConnectionConfig(
            dataset_type_name="pc_forced", dimensions=["instrument", "detector"])
"""

# What an operator writes for `bps submit` at a generic site: no bps_defaults keys, no
# site-wide values; BPS merges those itself.  `outputRun` (with its timestamp),
# `uniqProcName` and `submitPath` are left to BPS, as operators do.
SUBMIT_YAML = """\
pipelineYaml: "{root}/pipeline.yaml"
qgraphFile: "{root}/pipeline.qg"
wmsServiceClass: compiler.PanDAService
computeSite: LOCAL
project: dev
campaign: realbps
operator: tester
payload:
  payloadName: realbps
  butlerConfig: "{root}/repo"
  inCollection: pc_inputs
  output: u/tester/realbps
saveGenericWorkflow: true
fileDistributionEndPoint: "file://{root}/dist/{{uniqProcName}}/"
"""


_PREPARE = """\
import sys
from lsst.ctrl.bps.drivers import prepare_driver
prepare_driver(sys.argv[1], runWmsSubmissionChecks=False)
"""


def _env(venv_root: str) -> dict[str, str]:
    """pip-installed stacks find their bundled configs through these variables."""
    env = dict(os.environ)
    env.setdefault("CTRL_MPEXEC_DIR", venv_root)
    env.setdefault("DAF_BUTLER_DIR", venv_root)
    env.setdefault("CTRL_BPS_DIR", venv_root)
    env.setdefault("USER", "tester")
    env["PANDA_BEHIND_REAL_LB"] = "1"
    env.setdefault("PANDACACHE_URL", "https://127.0.0.1:25443/server/panda")
    return env


def _populate(root: Path) -> None:
    """Repository with Cam1's four detectors and one mock input dataset per detector."""
    from lsst.daf.butler import Butler
    from lsst.pipe.base import Pipeline
    from lsst.pipe.base.tests.mocks import DirectButlerRepo

    config = Butler.makeRepo(str(root / "repo"))
    with Butler.from_config(config, writeable=True) as butler:
        repo = DirectButlerRepo(butler, "base.yaml", input_run="pc_inputs_run",
                                input_chain="pc_inputs", use_import_collections_as_input=False)
        repo.pipeline_graph = Pipeline.from_uri(str(root / "pipeline.yaml")).to_graph()
        repo.insert_datasets("pc_raw")


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run one stack command; on failure say which and show the end of its stderr."""
    env = {**env, "PWD": str(cwd)}  # bps_defaults: submitPath: ${PWD}/submit/{outputRun}
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{Path(argv[0]).name} {argv[-1]} failed ({done.returncode}):\n{tail}")


# The mock tasks' storage classes exist once lsst.pipe.base.tests.mocks is imported; the
# final job's `butler aggregate-graph` never imports it, so jobs that run this case get
# this folder on PYTHONPATH (see `job_environment`).
SITECUSTOMIZE = "import lsst.pipe.base.tests.mocks  # noqa: F401  (registers the mock storage classes)\n"


def job_environment(root: Path) -> dict[str, str]:
    """The environment the case's payload jobs run in (stack variables, mock hook)."""
    env = _env(str(Path(sys.executable).parent.parent))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "hooks"), env.get("PYTHONPATH", "")) if p)
    return env


def build(root: Path) -> Path:
    """Make the case under ``root``; returns the submit folder holding the pickle."""
    bin_dir = Path(sys.executable).parent
    env = _env(str(bin_dir.parent))
    root.mkdir(parents=True, exist_ok=True)
    (root / "hooks").mkdir(exist_ok=True)
    (root / "hooks" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (root / "pipeline.yaml").write_text(PIPELINE)
    _populate(root)
    _run([str(bin_dir / "pipetask"), "qgraph", "-b", str(root / "repo"), "-i", "pc_inputs",
          "-o", "u/tester/realbps", "-p", str(root / "pipeline.yaml"),
          "--save-qgraph", str(root / "pipeline.qg")], env, root)
    (root / "submit.yaml").write_text(SUBMIT_YAML.format(root=root))
    # BPS's own prepare driver (transform, then compiler.PanDAService.prepare into
    # <submit>/panda/); its pre-submission check would ping an iDDS server, which a
    # prepare does not need.
    _run([sys.executable, "-c", _PREPARE, str(root / "submit.yaml")], env, root)
    pickles = sorted((root / "submit").rglob("bps_generic_workflow.pickle"))
    if len(pickles) != 1:
        raise RuntimeError(f"bps transform left {len(pickles)} workflow pickles under {root}/submit")
    return pickles[0].parent


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
