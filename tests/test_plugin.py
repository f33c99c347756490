"""`compiler.PanDAService` as BPS uses it: `wmsServiceClass: compiler.PanDAService`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler import PanDAService, compile_workflow, write_outdir
from tests.conftest import SUBMIT_EXAMPLE


def bps_config(tmp_path: Path, gw: Any) -> Any:
    bps = pytest.importorskip("lsst.ctrl.bps")
    config = bps.BpsConfig(str(SUBMIT_EXAMPLE))
    config["wmsServiceClass"] = "compiler.PanDAService"
    config["submitPath"] = str(tmp_path / "submit")
    config["uniqProcName"] = gw.name
    return config


def test_bps_prepare_driver_writes_our_outdir(tmp_path: Path, workflows: Any) -> None:
    """BPS's own prepare step, pointed at our service, produces the same folder as the CLI."""
    from lsst.ctrl.bps.prepare import prepare

    gw = workflows.make_workflow(300, seed=2)
    config = bps_config(tmp_path, gw)
    out_prefix = tmp_path / "submit"
    out_prefix.mkdir()
    (out_prefix / "bps_file_kept.txt").write_text("BPS's own file")
    wms_workflow = prepare(config, gw, str(out_prefix))
    assert wms_workflow.submit_path == str(out_prefix / "panda")
    assert (out_prefix / "bps_file_kept.txt").exists()  # BPS's submit folder is left alone
    ours = json.loads((out_prefix / "panda" / "workflow.json").read_text())

    direct = tmp_path / "direct"
    write_outdir(compile_workflow(gw, str(SUBMIT_EXAMPLE), submit_path=out_prefix / "panda"), direct)
    expected = json.loads((direct / "workflow.json").read_text())
    # same tasks and task parameters; the config differs only by BPS's own defaults
    assert [t["name"] for t in ours["tasks"]] == [t["name"] for t in expected["tasks"]]
    assert [t["work"] for t in ours["tasks"]] == [t["work"] for t in expected["tasks"]]
    for task in ours["tasks"]:
        assert (out_prefix / "panda" / task["jobs_file"]).read_text() == (
            direct / task["jobs_file"]
        ).read_text()


def test_service_defaults_are_the_bundled_config() -> None:
    service = PanDAService({})
    assert str(service.defaults_uri).endswith("data/plugin_defaults.yaml")
    assert service.defaults_uri.exists()
    defaults = service.defaults  # bps_panda.yaml's values, then the generic runner
    assert defaults["maxJobsPerTask"] == 10000
    assert "_cmd_line_" in defaults["payloadCommand"]
    assert "/cmd_line_decoder.py _cmd_line_;" in defaults["jobContainer"]
    assert defaults["jobLogDir"] == "${PWD}/panda_logs"


def test_is_a_bps_service_when_bps_is_installed() -> None:
    bps = pytest.importorskip("lsst.ctrl.bps")
    assert issubclass(PanDAService, bps.BaseWmsService)


def test_prepare_error_is_one_clear_line(tmp_path: Path) -> None:
    bps = pytest.importorskip("lsst.ctrl.bps")
    from compiler.errors import CompileError

    gw = bps.GenericWorkflow("wf_bad")
    exe = bps.GenericWorkflowExec("x", "/bin/x", False)
    gw.add_job(bps.GenericWorkflowJob("a_1", label="a", executable=exe, arguments="{missing}", cmdvals={}))
    with pytest.raises(CompileError, match=r"job 'a_1' \(label 'a'\): command line uses \{missing\}"):
        PanDAService({}).prepare({"computeSite": "X", "runnerCommand": "r _cmd_line_"}, gw, str(tmp_path))
    assert not (tmp_path / "panda").exists()
