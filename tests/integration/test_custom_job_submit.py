"""A custom job (`bps submitcmd`) submitted to the real iDDS server, its archive to a stand-in cache.

The PanDA cache endpoint is `cache_stand_in` (as the relay is `fake_relay`); iDDS is the
real test server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cache_stand_in import UPLOAD_PATH, StandInCache
from idds_server import IddsServer

from compiler import compile_workflow, write_outdir
from compiler.runtime import idds as runtime
from compiler.runtime import operations as ops
from compiler.runtime.errors import RuntimeServiceError
from tests.equivalence.test_custom_job_equivalence import custom_config, custom_workflow

pytestmark = pytest.mark.integration

FAST = runtime.RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0, budget=3.0, call_timeout=10.0)


@pytest.fixture
def custom_outdir(tmp_path: Path, reference: Any) -> tuple[Path, Any]:
    gw, config = custom_workflow(custom_config(tmp_path))
    outdir = tmp_path / f"custom-{tmp_path.name}"
    write_outdir(compile_workflow(gw, config, submit_path=outdir), outdir)
    return outdir, config


def client(server: IddsServer) -> runtime.IddsClient:
    return runtime.client_from_config(None, url=server.url, headers=server.headers, policy=FAST)


def test_custom_job_submit_uploads_then_submits(
    live_idds: IddsServer, cache: StandInCache, custom_outdir
) -> None:
    outdir, config = custom_outdir
    doc = json.loads((outdir / "workflow.json").read_text())
    archive = doc["archive"]
    service = client(live_idds)
    record = ops.submit_outdir(outdir, config, client=service)

    assert cache.paths == [UPLOAD_PATH]
    (body,) = cache.bodies
    assert (outdir / archive["file"]).read_bytes() in body  # the compiled bytes went up
    assert record.staged_files == 0 and record.file_distribution_end_point == ""  # no staging
    (row,) = service.get_requests(record.request_id, with_metadata=True)
    (work,) = row["request_metadata"]["workflow"].template.works.values()
    url = f"{cache.url}/cache/{archive['file']}"
    assert url in work.executable and archive["placeholder"] not in work.executable
    assert work.task_name == doc["tasks"][0]["name"]
    assert ops.read_submission(outdir) == record


def test_upload_failure_is_one_line_and_nothing_is_submitted(
    live_idds: IddsServer, cache: StandInCache, custom_outdir
) -> None:
    outdir, config = custom_outdir
    cache.fail_with = 503
    service = client(live_idds)
    name = ops.submit_plan(outdir, config)["request_name"]
    with pytest.raises(RuntimeServiceError) as caught:
        ops.submit_outdir(outdir, config, client=service)
    message = str(caught.value)
    assert "\n" not in message
    assert "upload of" in message and "PanDA cache failed after" in message and "status 503" in message
    assert "nothing submitted" in message
    assert len(cache.paths) >= 2  # retried within the policy, then given up
    assert not (outdir / ops.SUBMISSION_FILE).exists()
    assert not (outdir / "submission-intent.json").exists()
    assert service.request_id_by_name(name) is None


def test_missing_cache_url_fails_before_any_server(
    live_idds: IddsServer, custom_outdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    outdir, config = custom_outdir
    monkeypatch.delenv("PANDACACHE_URL", raising=False)
    calls: list[str] = []

    class Refusing:
        transport = type("T", (), {"description": "nowhere"})()

        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            raise AssertionError(f"contacted the server: {name}")

    with pytest.raises(RuntimeServiceError, match="PANDACACHE_URL is not set"):
        ops.submit_outdir(outdir, config, client=Refusing())  # type: ignore[arg-type]
    assert calls == []


def test_bps_submitcmd_through_the_plugin(
    live_idds: IddsServer, tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bps submitcmd`` (ctrl_bps's driver) with ``wmsServiceClass: compiler.PanDAService``."""
    from fake_relay import FakeRelay
    from lsst.ctrl.bps.drivers import submitcmd_driver

    config_path = custom_config(tmp_path)
    (tmp_path / "submit").rmdir()  # bps makes the submit folder itself
    with config_path.open("a") as fh:
        fh.write("wmsServiceClass: compiler.PanDAService\n")
    import pandaclient.Client

    for name in ("baseURL", "baseURLSSL", "server_base_path_ssl"):  # restored afterwards
        monkeypatch.setattr(pandaclient.Client, name, getattr(pandaclient.Client, name))
    with FakeRelay(live_idds.url, live_idds.headers) as relay, StandInCache(relay) as server:
        for name in ("PANDACACHE_URL", "PANDA_URL_SSL", "PANDA_URL"):
            monkeypatch.setenv(name, server.url)
        monkeypatch.setenv("PANDA_BEHIND_REAL_LB", "1")
        monkeypatch.delenv("IDDS_HOST", raising=False)
        submitcmd_driver(str(config_path))
    assert server.paths == [UPLOAD_PATH]
    assert {"ping", "submit"} <= set(relay.calls)
    record = ops.read_submission(tmp_path / "submit" / "panda")
    assert record is not None and record.workflow == "custom_run_1"
    archive = json.loads((tmp_path / "submit" / "panda" / "workflow.json").read_text())["archive"]
    assert (tmp_path / "submit" / "panda" / archive["file"]).read_bytes() in server.bodies[0]
