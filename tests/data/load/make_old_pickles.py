"""Write the old-release test pickles of this folder with the real code of those releases.

Not run by the tests: it needs the release wheels, which are not in the repository.  Each
pickle is made by the `generic_workflow.py` of one lsst-ctrl-bps release (with the networkx
release of its time first on PYTHONPATH), so it is byte for byte what that release writes;
the `.json` beside it is `tests/load/snapshot.py` run on the workflow before pickling.

    pip download lsst-ctrl-bps==28.0.2 --no-deps -d /tmp/ctrlbps/28.0.2
    pip install --no-deps --target /tmp/nx/3.4.2 networkx==3.4.2
    PYTHONPATH=/tmp/nx/3.4.2 python tests/data/load/make_old_pickles.py \
        /tmp/ctrlbps/28.0.2/lsst_ctrl_bps-28.0.2-py3-none-any.whl tests/data/load

Needs lsst-utils and PyYAML (imported by the release's helper modules).  The release's own
package `lsst.ctrl.bps` is not imported: only its `generic_workflow.py`, `bps_draw.py` and
`bps_utils.py` are loaded, under their real module names, so the pickles name the real
classes.  Releases before 29.1.0 have a `get_job_outputs` that fails on any job with outputs
(it looks up file objects as dictionary keys); the snapshot then reads the same data through
the fixed method of later releases, which our stand-in implements.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pickle
import sys
import tempfile
import types
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE.parent.parent / "load" / "snapshot.py"


def import_release(wheel: Path) -> types.ModuleType:
    """Load the release's generic_workflow module as lsst.ctrl.bps.generic_workflow."""
    folder = Path(tempfile.mkdtemp())
    with zipfile.ZipFile(wheel) as archive:
        for name in ("generic_workflow.py", "bps_draw.py", "bps_utils.py"):
            (folder / name).write_bytes(archive.read(f"lsst/ctrl/bps/{name}"))
    import lsst.ctrl

    package = types.ModuleType("lsst.ctrl.bps")
    package.__path__ = [str(folder)]
    sys.modules["lsst.ctrl.bps"] = package
    lsst.ctrl.bps = package  # type: ignore[attr-defined]
    return importlib.import_module("lsst.ctrl.bps.generic_workflow")


def load_snapshot_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("load_snapshot", SNAPSHOT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_values(label: str, index: int, executable: Any) -> dict[str, Any]:
    """A value different from the default for every job field."""
    return {
        "quanta_counts": Counter({label: 1 + index % 2}),
        "tags": {"visit": 301 + index, "detector": index % 3, "band": "r"},
        "executable": executable,
        "arguments": f"run {{qgraphFile}} --qgraph-node-id {{qgraphNodeId}} {label}",
        "cmdvals": {"qgraphFile": "run.qgraph", "qgraphNodeId": f"node-{label}-{index}"},
        "memory_multiplier": 2.0,
        "request_memory": 2048 + index,
        "request_memory_max": 8192,
        "request_cpus": 1 + index % 2,
        "request_disk": 100,
        "request_walltime": "3600",
        "compute_site": "site_a",
        "accounting_group": "grp",
        "accounting_user": "usr",
        "mail_to": "someone@example.org",
        "when_to_mail": "Error",
        "number_of_retries": 3,
        "retry_unless_exit": [2, 3],
        "abort_on_value": 5,
        "abort_return_value": 6,
        "priority": "10",
        "category": f"cat_{label}",
        "concurrency_limit": "db_limit",
        "queue": "q_main",
        "pre_cmdline": "echo pre",
        "post_cmdline": "echo post",
        "preemptible": index % 2 == 0,
        "profile": {"condor": {"+JobType": "payload"}},
        "attrs": {"bps_job_label": label},
        "environment": {"OMP_NUM_THREADS": "1"},
        "compute_cloud": "cloud_a",
    }


class Builder:
    """Builds the test workflow with one release's API (the part common to all releases)."""

    def __init__(self, gwmod: types.ModuleType) -> None:
        self.m = gwmod
        self.count = 0
        self.pipetask = gwmod.GenericWorkflowExec("pipetask", "${CTRL_MPEXEC_DIR}/bin/pipetask", False)
        self.setup = gwmod.GenericWorkflowExec("setup.sh", "/sw/setup.sh", True)
        self.qgraph = gwmod.GenericWorkflowFile("runQgraphFile", "/submit/run.qgraph", True, True, True)
        self.butler = gwmod.GenericWorkflowFile("butlerConfig", "/repo/butler.yaml", False, True, True)

    def job(self, name: str, label: str, executable: Any = None) -> Any:
        job = self.m.GenericWorkflowJob(name, label)
        for key, value in job_values(label, self.count, executable or self.pipetask).items():
            setattr(job, key, value)
        self.count += 1
        return job

    def add(self, gw: Any, job: Any, parents: list[str] | None = None) -> None:
        gw.add_job(job, parents, None)
        gw.add_job_inputs(job.name, [self.qgraph, self.butler])
        out = self.m.GenericWorkflowFile(f"out_{job.name}", f"/out/{job.name}", self.count % 2 == 0)
        gw.add_job_outputs(job.name, [out])

    def main(self, final_workflow: bool) -> Any:
        gw = self.m.GenericWorkflow("old_release_wf")
        gw.add_file(self.qgraph)
        self.add(gw, self.job("pipetaskInit", "pipetaskInit"))
        sinks = []
        for visit in (301, 10001):
            for detector in (10, 11):
                prev = "pipetaskInit"
                for label in ("isr", "calibrate", "writeTable"):
                    name = f"{label}_{visit}_{detector}"
                    exe = self.setup if label == "calibrate" else None
                    self.add(gw, self.job(name, label, exe), [prev])
                    prev = name
                sinks.append(prev)
        self.add(gw, self.job("summary_all", "summary"), sinks)
        if hasattr(self.m, "GenericWorkflowNoopJob"):
            self.add_node_kinds(gw)
        self.add_final(gw, final_workflow)
        gw.run_attrs.update({"bps_run": gw.name, "bps_operator": "someone", "bps_isjob": "True"})
        gw.run_id = "1234.0"
        # What BPS itself does before saving caches networkx views in the pickled graphs.
        list(gw)
        _ = gw.labels
        gw.in_degree("pipetaskInit")
        list(gw.edges)
        return gw

    def add_node_kinds(self, gw: Any) -> None:
        """Noop job and group, in releases that have them."""
        gw.add_job(self.m.GenericWorkflowNoopJob("noop_order_1", "order"), ["summary_all"], None)
        group = self.m.GenericWorkflowGroup("group_order1_301", "order1", blocking=True)
        group.add_job(self.job("grpA_301", "grpA"))
        group.add_job(self.job("grpB_301", "grpB"), ["grpA_301"], None)
        group.add_job_inputs("grpA_301", [self.qgraph])
        group.add_job_outputs("grpB_301", [self.m.GenericWorkflowFile("grp_out", "/out/grp", True)])
        group.add_executable(self.pipetask)
        list(group)
        gw.add_job(group, ["pipetaskInit"], None)

    def add_final(self, gw: Any, as_workflow: bool) -> None:
        final_exec = self.m.GenericWorkflowExec("finalJob.bash", "/submit/finalJob.bash", True)
        if not as_workflow:
            gw.add_final(self.job("finalJob", "finalJob", final_exec))
            return
        final = self.m.GenericWorkflow("final_wf")
        final.add_job(self.job("finalA", "finalJob", final_exec))
        final.add_job(self.job("finalB", "finalJob", final_exec), ["finalA"], None)
        gw.add_final(final)


def fix_old_outputs(gwmod: types.ModuleType) -> None:
    """Replace a release's broken get_job_outputs by the fixed one (for the snapshot only)."""

    def get_job_outputs(
        self: Any, job_name: str, data: bool = True, transfer_only: bool = False
    ) -> list[Any]:
        files = self._outputs.get(job_name, [])
        return [f if data else f.name for f in files if not transfer_only or f.wms_transfer]

    gwmod.GenericWorkflow.get_job_outputs = get_job_outputs


def main() -> None:
    wheel, out = Path(sys.argv[1]), Path(sys.argv[2])
    release = wheel.name.split("-")[1]
    gwmod = import_release(wheel)
    import networkx

    snap = load_snapshot_module()
    for final_workflow in (False, True):
        gw = Builder(gwmod).main(final_workflow)
        kind = "final-workflow" if final_workflow else "final-job"
        stem = out / f"ctrl_bps-{release}-networkx-{networkx.__version__}-{kind}"
        with open(f"{stem}.pickle", "wb") as stream:
            pickle.dump(gw, stream)
        if "self._files[file_name]" in Path(gwmod.__file__).read_text():
            fix_old_outputs(gwmod)
        Path(f"{stem}.json").write_text(json.dumps(snap.snapshot(gw), indent=1, sort_keys=True) + "\n")
        print(f"wrote {stem}.pickle")


if __name__ == "__main__":
    main()
