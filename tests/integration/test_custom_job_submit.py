"""A custom job (`bps submitcmd`) submitted to the real iDDS server, its archive to a stand-in cache.

The PanDA cache endpoint (panda-client's ``putFile``: a multipart POST to
``$PANDA_URL_SSL``'s ``/api/v1/file_server/upload_cache_file``) is a small HTTP server on
127.0.0.1 here, as the relay is in `fake_relay`; it records what it receives and can be
told to fail. iDDS is the real test server.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from idds_server import IddsServer

from compiler import compile_workflow, write_outdir
from compiler.runtime import idds as runtime
from compiler.runtime import operations as ops
from compiler.runtime.errors import RuntimeServiceError
from tests.equivalence.test_custom_job_equivalence import custom_config, custom_workflow

pytestmark = pytest.mark.integration

FAST = runtime.RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0, budget=3.0, call_timeout=10.0)
UPLOAD_PATH = "/api/v1/file_server/upload_cache_file"


class StandInCache:
    """The PanDA cache upload endpoint: ``bodies`` received; ``fail_with`` an HTTP status."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.fail_with: int | None = None
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.paths.append(self.path)
                if owner.fail_with is not None:
                    self.send_response(owner.fail_with)
                    self.end_headers()
                    self.wfile.write(b"cache unavailable")
                    return
                owner.bodies.append(body)
                reply = json.dumps({"success": True, "message": ""}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/server/panda"

    def __enter__(self) -> StandInCache:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch):
    with StandInCache() as server:
        monkeypatch.setenv("PANDA_URL_SSL", server.url)
        monkeypatch.setenv("PANDACACHE_URL", server.url)
        yield server


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
