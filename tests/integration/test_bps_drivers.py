"""BPS's own drivers with `wmsServiceClass: compiler.PanDAService`, against the local iDDS.

prepare -> submit -> report -> cancel, each through ctrl_bps's code (`lsst.ctrl.bps.prepare`,
`lsst.ctrl.bps.submit`, `report_driver`, `cancel_driver`), reaching iDDS through the fake
PanDA relay as `bps` would (PANDA_URL). The report's task states come from the server as
it is: without the iDDS agents and a PanDA, a fresh request has no tasks yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SUBMIT_EXAMPLE
from tests.integration.test_operations import relay  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def test_prepare_submit_report_cancel(
    tmp_path: Path,
    workflows: Any,
    relay: Any,  # noqa: F811
    capsys: Any,
    bps_report_to_stdout: None,
) -> None:
    bps = pytest.importorskip("lsst.ctrl.bps")
    from lsst.ctrl.bps.drivers import cancel_driver, report_driver
    from lsst.ctrl.bps.prepare import prepare
    from lsst.ctrl.bps.submit import submit

    out_prefix = tmp_path / "submit"
    out_prefix.mkdir()
    gw = workflows.make_workflow(120, seed=4, options=workflows.WorkflowOptions(submit_path=str(out_prefix)))
    for gwfile in [*gw.get_files(data=True, transfer_only=True), *gw.get_executables(data=True)]:
        if gwfile.src_uri.startswith(str(out_prefix)):  # the files bps transform would have written
            Path(gwfile.src_uri).write_text("staged\n")
    config = bps.BpsConfig(str(SUBMIT_EXAMPLE))
    config["wmsServiceClass"] = "compiler.PanDAService"
    config["uniqProcName"] = gw.name
    config["submitPath"] = str(out_prefix)
    dist = tmp_path / "dist"
    config["fileDistributionEndPoint"] = f"file://{dist}/"
    config["fileDistributionEndPointDefault"] = f"file://{dist}/"

    wms_workflow = prepare(config, gw, str(out_prefix))
    submit(config, wms_workflow)
    request_id = wms_workflow.run_id
    assert isinstance(request_id, int)
    assert (Path(wms_workflow.submit_path) / "submission.json").exists()
    assert {"ping", "submit"} <= set(relay.calls)

    capsys.readouterr()
    report_driver("compiler.PanDAService", str(request_id))
    printed = capsys.readouterr().out
    assert str(request_id) in printed and gw.name in printed

    cancel_driver("compiler.PanDAService", str(request_id), None, True, None)
    assert f"Successfully canceled job with id '{request_id}'" in capsys.readouterr().out
    assert "abort" in relay.calls
