"""Remote build against the real iDDS server: submitted, read back, reported, cancelled.

The archive goes to `cache_stand_in`; the config is initialised as ``bps submit`` does
(`tests.equivalence.test_remote_build_equivalence.remote_config`). The CLI and the plugin
are pointed at the server with a direct client (the routes themselves are tested in
`test_operations`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cache_stand_in import UPLOAD_PATH, StandInCache
from click.testing import CliRunner
from idds_server import IddsServer

from compiler.cli import main
from compiler.plugin import PanDAService
from compiler.runtime import idds as runtime
from compiler.runtime import operations as ops
from compiler.runtime import remote_build as rb
from compiler.runtime.errors import RuntimeServiceError
from tests.equivalence.test_remote_build_equivalence import remote_config

pytestmark = pytest.mark.integration

FAST = runtime.RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0, budget=3.0, call_timeout=10.0)


def client(server: IddsServer) -> runtime.IddsClient:
    return runtime.client_from_config(None, url=server.url, headers=server.headers, policy=FAST)


@pytest.fixture
def build(tmp_path: Path, reference: Any) -> tuple[Path, Any, Path]:
    """(submit YAML, its BPS config, the prepared build folder)."""
    path = remote_config(tmp_path)
    config, section = rb.bps_submit_config(path)
    folder = rb.prepare_build(rb.plan_build(config, section, path, "SLAC_Target"), rb.build_folder_of(config))
    return path, config, folder


def test_build_submitted_read_back_reported_cancelled(
    live_idds: IddsServer, cache: StandInCache, build
) -> None:
    _, config, folder = build
    doc = json.loads((folder / rb.BUILD_FILE).read_text())
    service = client(live_idds)
    record = rb.submit_build_folder(folder, config, client=service)

    assert cache.paths == [UPLOAD_PATH]
    assert (folder / doc["archive"]["file"]).read_bytes() in cache.bodies[0]
    assert record.request_name.startswith(doc["name"] + ".pc-" + folder.name)
    assert ops.read_submission(folder) == record
    (row,) = service.get_requests(record.request_id, with_metadata=True)
    assert row["name"] == record.request_name
    (work,) = row["request_metadata"]["build_workflow"].template.works.values()
    assert work.task_name == "build_task" and work.task_type == "lsst_build"
    assert (work.task_site, work.task_queue, work.task_rss) == (
        "SLAC_Rubin_Build",
        "SLAC_Rubin_Build_Queue",
        4000,
    )
    url = f"{cache.url}/cache/{doc['archive']['file']}"
    assert url in work.executable and "remote.yaml SLAC_Target" in work.executable
    assert doc["archive"]["placeholder"] not in work.executable

    shown = ops.report(record.request_id, client=service)
    assert (shown.request_id, shown.name) == (record.request_id, doc["name"])  # shown without its key
    assert shown.state == "RUNNING"  # New on the test server (no agents)
    assert record.request_id in ops.list_requests(record.request_id, client=service)
    assert ops.cancel(record.request_id, client=service) == (True, "Command registered successfully")

    with pytest.raises(ops.AlreadySubmittedError, match=f"request {record.request_id}"):
        rb.submit_build_folder(folder, config, client=service)
    (folder / ops.SUBMISSION_FILE).unlink()  # the answer was lost: the next submit adopts it
    adopted = rb.submit_build_folder(folder, config, client=service)
    assert adopted.adopted and adopted.request_id == record.request_id
    assert cache.paths == [UPLOAD_PATH]  # nothing uploaded again
    forced = rb.submit_build_folder(folder, config, client=service, force=True)
    assert forced.request_id != record.request_id and forced.previous_request_ids == (record.request_id,)


def test_upload_failure_submits_nothing(live_idds: IddsServer, cache: StandInCache, build) -> None:
    _, config, folder = build
    cache.fail_with = 500
    service = client(live_idds)
    name = rb.request_name(json.loads((folder / rb.BUILD_FILE).read_text())["name"], rb.build_key(folder))
    with pytest.raises(RuntimeServiceError, match=r"PanDA cache failed after .*nothing submitted") as caught:
        rb.submit_build_folder(folder, config, client=service)
    assert "\n" not in str(caught.value)
    assert service.request_id_by_name(name) is None
    assert not (folder / ops.SUBMISSION_FILE).exists()


def test_a_changed_archive_is_refused_before_any_server(build, cache: StandInCache) -> None:
    _, config, folder = build
    doc = json.loads((folder / rb.BUILD_FILE).read_text())
    (folder / doc["archive"]["file"]).write_bytes(b"not the archive")
    with pytest.raises(ops.OutdirError, match="changed since compiling"):
        rb.submit_build_folder(folder, config, client=object())  # type: ignore[arg-type]
    assert cache.paths == []


def test_cli_submit_remote_build(
    live_idds: IddsServer,
    cache: StandInCache,
    tmp_path: Path,
    reference: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = remote_config(tmp_path)
    monkeypatch.setattr(rb, "_client", lambda config, url, given: client(live_idds))
    done = CliRunner().invoke(main, ["submit", "--remote-build", str(path)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "Submitted the remote build of u_someone_remote_" in done.output
    (folder,) = (tmp_path / "submit").rglob("panda-build")
    assert done.output.strip().endswith(f"build folder {folder}")
    request_id = ops.read_submission(folder).request_id
    assert f"as iDDS request {request_id}" in done.output
    # the build folder given again: adopted, nothing new
    again = CliRunner().invoke(main, ["submit", "--remote-build", str(folder)], catch_exceptions=False)
    assert again.exit_code == 1 and f"already submitted as iDDS request {request_id}" in again.output
    dry = CliRunner().invoke(main, ["submit", "--remote-build", str(folder), "--dry-run"])
    assert dry.exit_code == 0 and "would submit the remote build" in dry.output
    both = CliRunner().invoke(main, ["submit", str(folder), "--remote-build", str(path)])
    assert both.exit_code == 1 and "either OUTDIR or --remote-build" in both.output


def test_plugin_submit_with_remote_build(
    live_idds: IddsServer,
    cache: StandInCache,
    tmp_path: Path,
    reference: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As BPS's submit driver calls it: no workflow, the config, remote_build and config_file."""
    path = remote_config(tmp_path)
    config, section = rb.bps_submit_config(path)
    monkeypatch.setattr(rb, "_client", lambda config, url, given: client(live_idds))
    workflow = PanDAService(config).submit(None, config=config, remote_build=section, config_file=str(path))
    assert workflow is not None and workflow.name == config["uniqProcName"]
    assert workflow.run_id == ops.read_submission(Path(workflow.submit_path)).request_id
