"""``compiler.runtime.idds`` without a server: failure classification, retries, staging.

The error texts below are the ones the real clients produced against the test server
(idds-client 2.6.21, panda-client 2.2.0); see ``tests/integration`` for the live checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from compiler.errors import CompileError
from compiler.runtime import idds as runtime
from compiler.runtime import staging
from compiler.runtime import workflow as outdir_workflow
from compiler.runtime.errors import Failure, OutdirError, RuntimeServiceError, StagingError

REFUSED = (
    "Connection exception.: {}\nDetails: ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=1): "
    'Max retries exceeded with url: /idds/ping (Caused by NewConnectionError("HTTPConnection(host='
    "'127.0.0.1', port=1): Failed to establish a new connection: [Errno 111] Connection refused\"))"
)
NOT_ALLOWED = "An unknown IDDS exception occurred.: {}\nDetails: User /CN=intruder is not allowed"
READ_TIMEOUT = "HTTPConnectionPool(host='127.0.0.1', port=1): Read timed out. (read timeout=5)"


@pytest.mark.parametrize(
    ("message", "status", "expected"),
    [
        (REFUSED, None, Failure.UNREACHED),
        (NOT_ALLOWED, None, Failure.AUTH),
        (NOT_ALLOWED, 401, Failure.AUTH),
        ("whatever", 403, Failure.AUTH),
        ("Internal error", 500, Failure.TRANSIENT),
        ("<title>503 Service Unavailable</title>", None, Failure.TRANSIENT),
        (READ_TIMEOUT, None, Failure.TRANSIENT),
        ("Connection exception.: SSLError CERTIFICATE_VERIFY_FAILED", None, Failure.AUTH),
        ("Cannot find a valid x509 proxy.", None, Failure.AUTH),
        ("The requested REST API is not defined", 404, Failure.REJECTED),
        ("No match requests", None, Failure.REJECTED),
    ],
)
def test_classify_failure(message: str, status: int | None, expected: Failure) -> None:
    assert runtime.classify_failure(message, status) is expected


def test_one_line_keeps_the_details_part() -> None:
    assert runtime.one_line(NOT_ALLOWED) == "User /CN=intruder is not allowed"
    assert len(runtime.one_line("x" * 1000)) == 300


@pytest.mark.parametrize(
    ("ret", "ok", "failure"),
    [
        ((0, (True, 7)), True, None),
        ((0, [True, [{"request_id": 1}]]), True, None),
        ((255, "Failed with [Errno 111] Connection refused"), False, Failure.UNREACHED),
        ((255, "<title>502 Bad Gateway</title>"), False, Failure.TRANSIENT),
        ((0, [False, "SSL secure connection is required"]), False, Failure.AUTH),
        ((0, [False, "failed to execute command with boom"]), False, Failure.REJECTED),
        ((0, [True, [False, NOT_ALLOWED]]), False, Failure.AUTH),  # relayed ClientManager error
        ((0, [True, "Authentication no permission"]), False, Failure.AUTH),
        ("garbage", False, Failure.REJECTED),
        ((0, "garbage"), False, Failure.REJECTED),
    ],
)
def test_unwrap_relay(ret: Any, ok: bool, failure: Failure | None) -> None:
    reply = runtime.unwrap_relay(ret)
    assert (reply.ok, reply.failure) == (ok, failure)


def test_unwrap_client_manager() -> None:
    assert runtime.unwrap_client_manager((False, REFUSED)).failure is Failure.UNREACHED
    assert runtime.unwrap_client_manager([{"request_id": 1}]).result == [{"request_id": 1}]
    assert runtime.unwrap_client_manager((False, "boom"), http_status=503).failure is Failure.TRANSIENT


class FakeTransport:
    """Replays scripted replies; records the commands called."""

    description = "fake://idds"

    def __init__(self, replies: list[runtime.Reply]) -> None:
        self.replies = list(replies)
        self.commands: list[str] = []

    def call(self, command: str, kwargs: Mapping[str, Any], timeout: float | None = None) -> runtime.Reply:
        self.commands.append(command)
        return self.replies.pop(0)


class FakeTime:
    """A clock that moves only when slept on (plus ``per_call`` seconds per read)."""

    def __init__(self, per_call: float = 0.0) -> None:
        self.now = 0.0
        self.per_call = per_call
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        self.now += self.per_call
        return self.now


def make_client(replies: list[runtime.Reply], fake: FakeTime, **policy: Any) -> runtime.IddsClient:
    transport = FakeTransport(replies)
    return runtime.IddsClient(transport, runtime.RetryPolicy(**policy), sleep=fake.sleep, clock=fake.clock)


def refused() -> runtime.Reply:
    return runtime.Reply.failed(REFUSED)


def test_unreached_is_retried_with_doubling_delays() -> None:
    fake = FakeTime()
    client = make_client([refused(), refused(), runtime.Reply(True, {"Status": "OK"})], fake)
    assert client.ping() == {"Status": "OK"}
    assert fake.sleeps == [0.5, 1.0]


def test_unreached_gives_up_after_the_attempts() -> None:
    fake = FakeTime()
    client = make_client([refused()] * 4, fake)
    with pytest.raises(
        RuntimeServiceError, match=r"failed after 4 attempts in 3\.5 s \(cannot connect\): Connection"
    ) as info:
        client.ping()
    assert (info.value.kind, info.value.attempts) == (Failure.UNREACHED, 4)
    assert fake.sleeps == [0.5, 1.0, 2.0]
    assert isinstance(info.value, CompileError)
    assert "\n" not in str(info.value)


def test_budget_stops_retrying_early() -> None:
    fake = FakeTime(per_call=3.0)  # every call "takes" 3 s
    client = make_client([refused()] * 4, fake, budget=10.0)
    with pytest.raises(RuntimeServiceError) as info:
        client.ping()
    assert info.value.attempts < 4


def test_auth_failure_stops_at_once() -> None:
    fake = FakeTime()
    client = make_client([runtime.Reply.failed(NOT_ALLOWED, 401)], fake)
    with pytest.raises(RuntimeServiceError, match="not authorised: User /CN=intruder is not allowed") as info:
        client.ping()
    assert (info.value.kind, info.value.attempts, fake.sleeps) == (Failure.AUTH, 1, [])


def test_transient_failure_is_not_retried_for_submit_but_is_for_reads() -> None:
    timeout = runtime.Reply.failed(READ_TIMEOUT)
    fake = FakeTime()
    client = make_client([timeout], fake)
    with pytest.raises(RuntimeServiceError, match="may have been applied") as info:
        client.submit(object())
    assert (info.value.kind, info.value.attempts) == (Failure.TRANSIENT, 1)

    client = make_client([timeout, runtime.Reply(True, [{"request_id": 3}])], fake)
    assert client.get_requests(3) == [{"request_id": 3}]


def test_submit_returns_the_request_id() -> None:
    client = make_client([runtime.Reply(True, 42)], FakeTime())
    assert client.submit(object()) == 42


def test_abort_of_unknown_request_is_an_error() -> None:
    answer = [[-1, {"message": "No match requests", "status": -1}]]
    client = make_client([runtime.Reply(True, answer)], FakeTime())
    with pytest.raises(RuntimeServiceError, match="abort of request 9 refused: No match requests"):
        client.abort(9)
    ok = [[0, {"message": "Command registered successfully", "status": 0}]]
    assert make_client([runtime.Reply(True, ok)], FakeTime()).retry(9) == ["Command registered successfully"]


def test_retry_policy_from_config() -> None:
    policy = runtime.RetryPolicy.from_config({"iddsRetryAttempts": "2", "iddsCallTimeout": 5})
    assert (policy.attempts, policy.call_timeout, policy.budget) == (2, 5.0, 60.0)
    assert policy.delays() == [0.5]
    assert runtime.RetryPolicy.from_config(None) == runtime.RetryPolicy()


def test_no_service_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PANDA_URL", "PANDA_URL_SSL", "IDDS_HOST"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeServiceError, match="no iDDS service configured") as info:
        runtime.client_from_config(None)
    assert info.value.kind is Failure.CONFIG


def test_importing_the_runtime_does_not_import_idds() -> None:
    code = (
        "import sys, compiler.runtime.idds\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('idds', 'pandaclient', 'lsst')]\n"
        "sys.exit(f'imported: {bad}' if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_malformed_outdir_is_explained(tmp_path: Path) -> None:
    with pytest.raises(OutdirError, match="cannot read the compiled workflow"):
        outdir_workflow.build_idds_workflow(tmp_path)
    doc = {"name": "wf", "tasks": [{"name": "t1", "jobs_file": "jobs/t1.jsonl"}], "final_task": "t9"}
    (tmp_path / "workflow.json").write_text(json.dumps(doc))
    with pytest.raises(OutdirError, match=r"task #0 \(t1\) lacks 'dependency_tasks' \(and 2 more\)"):
        outdir_workflow.build_idds_workflow(tmp_path)


# ----- staging ---------------------------------------------------------------------------


def make_sources(root: Path) -> dict[str, str]:
    """A file and a folder of two files, as files_to_pre_stage lists them."""
    (root / "qg").mkdir(parents=True)
    (root / "qg" / "a.qgraph").write_bytes(b"A" * 100)
    (root / "qg" / "b.qgraph").write_bytes(b"B" * 10)
    (root / "final_job.bash").write_text("#!/bin/bash\necho done\n")
    return {"runQgraphFile": str(root / "qg"), "job_executable": str(root / "final_job.bash")}


def test_stage_files_copies_then_skips_identical(tmp_path: Path) -> None:
    pytest.importorskip("lsst.resources")
    files = make_sources(tmp_path / "src")
    dest = tmp_path / "dest"
    first = staging.stage_files(files, dest.as_uri(), max_workers=3)
    assert sorted(Path(p).name for p in first.copied) == ["a.qgraph", "b.qgraph", "final_job.bash"]
    assert (dest / "qg" / "a.qgraph").read_bytes() == b"A" * 100
    assert (dest / "final_job.bash").read_text().endswith("echo done\n")

    (tmp_path / "src" / "qg" / "b.qgraph").write_bytes(b"C" * 10)  # same size, new bytes
    second = staging.stage_files(files, dest.as_uri(), max_workers=3)
    assert [Path(p).name for p in second.copied] == ["b.qgraph"]
    assert len(second.skipped) == 2
    assert (dest / "qg" / "b.qgraph").read_bytes() == b"C" * 10


def test_stage_files_reports_failures(tmp_path: Path) -> None:
    pytest.importorskip("lsst.resources")
    files = {"missing": str(tmp_path / "nope.txt"), **make_sources(tmp_path / "src")}
    with pytest.raises(StagingError, match=r"nope\.txt"):
        staging.stage_files(files, (tmp_path / "dest").as_uri(), max_workers=2)
