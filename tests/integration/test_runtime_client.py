"""``compiler.runtime.idds`` against the real iDDS server: build, submit, read back, abort, retry.

The OUTDIR comes from the reference plugin's works (``outdir_factory``), so "read back the
same tasks and dependency maps" compares iDDS's copy with known-good input.  The relay
path runs through ``fake_relay`` (the PanDA endpoint's contract) in front of the same
server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fake_relay import FakeRelay
from idds_server import FORBIDDEN_DN, IddsServer, auth_headers

from compiler.runtime import idds as runtime
from compiler.runtime import workflow as outdir_workflow
from compiler.runtime.errors import Failure, RuntimeServiceError

pytestmark = pytest.mark.integration

FAST = runtime.RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0, budget=3.0, call_timeout=10.0)


def outdir_tasks(outdir: Path) -> dict[str, list[dict[str, Any]]]:
    """``{task name: dependency map}`` as written in OUTDIR."""
    doc = json.loads((outdir / "workflow.json").read_text())
    return {t["name"]: outdir_workflow.read_dependency_map(outdir, t["jobs_file"]) for t in doc["tasks"]}


def stored_workflow(client: runtime.IddsClient, request_id: int) -> Any:
    """The workflow object iDDS stored for ``request_id``."""
    (row,) = client.get_requests(request_id, with_metadata=True)
    assert row["request_id"] == request_id
    return row["request_metadata"]["workflow"]


def assert_same_as_outdir(workflow: Any, outdir: Path) -> None:
    """Same task names, dependency maps and final-task condition as OUTDIR says."""
    doc = json.loads((outdir / "workflow.json").read_text())
    works = {w.task_name: w for w in workflow.template.works.values()}
    assert {name: w.dependency_map for name, w in works.items()} == outdir_tasks(outdir)
    (condition,) = workflow.template.conditions.values()
    assert [m.__self__.task_name for m in condition.conditions] == doc["release_after"]
    assert [w.task_name for w in condition.true_works] == [doc["final_task"]]


def direct_client(server: IddsServer, dn: str | None = None, policy: runtime.RetryPolicy = FAST) -> Any:
    """An IddsClient straight at the test server, as ``dn`` (default: the allowed user)."""
    headers = auth_headers(dn) if dn else server.headers
    return runtime.client_from_config(None, url=server.url, headers=headers, policy=policy)


def test_build_matches_reference(reference, factory_outdir) -> None:
    outdir, summary = factory_outdir
    workflow = outdir_workflow.build_idds_workflow(outdir)
    works = reference.ordered_works(workflow)
    assert [reference.work_summary(w) for w in works] == summary["works"]
    (condition,) = workflow.template.conditions.values()
    assert [m.__self__.task_name for m in condition.conditions] == summary["sink_tasks"]
    assert [w.task_name for w in condition.true_works] == summary["final_tasks"]


def test_submit_and_read_back(live_idds: IddsServer, factory_outdir) -> None:
    outdir, _ = factory_outdir
    client = direct_client(live_idds)
    assert client.ping() == {"Status": "OK"}
    request_id = client.submit(outdir_workflow.build_idds_workflow(outdir))
    assert_same_as_outdir(stored_workflow(client, request_id), outdir)


def test_large_workflow_is_submitted_in_steps(live_idds: IddsServer, factory_outdir, tmp_path: Path) -> None:
    outdir, _ = factory_outdir
    steps = outdir_workflow.split_for_submit(
        outdir_workflow.build_idds_workflow(outdir), 8000, tmp_path / "probe"
    )
    assert len(steps) >= 2
    assert sorted(",".join(s.step_name for s in steps).split(",")) == sorted(outdir_tasks(outdir))

    client = direct_client(live_idds)
    workflow = outdir_workflow.build_idds_workflow(outdir)
    request_id = client.submit(workflow, max_request_length=8000, request_cache=tmp_path / "cache")
    folder = live_idds.additional_storage / workflow.get_internal_id()
    uploaded = {p.name: json.loads(p.read_text()) for p in folder.iterdir()}
    assert uploaded == outdir_tasks(outdir)  # the steps carried every dependency map
    assert_same_as_outdir(stored_workflow(client, request_id), outdir)


def test_abort_and_retry(live_idds: IddsServer, factory_outdir) -> None:
    client = direct_client(live_idds)
    request_id = client.submit(outdir_workflow.build_idds_workflow(factory_outdir[0]))
    assert client.abort(request_id) == ["Command registered successfully"]
    assert client.retry(request_id) == ["Command registered successfully"]
    with pytest.raises(RuntimeServiceError, match="No match requests") as info:
        client.abort(987654)
    assert info.value.kind is Failure.REJECTED
    assert client.get_requests(987654) == []


def test_dn_not_allowed_fails_at_once(live_idds: IddsServer) -> None:
    client = direct_client(live_idds, dn=FORBIDDEN_DN)
    start = time.monotonic()
    with pytest.raises(RuntimeServiceError, match="not authorised") as info:
        client.ping()
    assert (info.value.kind, info.value.attempts) == (Failure.AUTH, 1)
    assert f"User {FORBIDDEN_DN} is not allowed" in str(info.value)
    assert "\n" not in str(info.value)
    assert time.monotonic() - start < 2.0


def test_stopped_server_bounded_retries_then_clear_error(live_idds: IddsServer) -> None:
    client = direct_client(live_idds)
    live_idds.stop()
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeServiceError, match="failed after 3 attempts") as info:
            client.ping()
    finally:
        elapsed = time.monotonic() - start
        live_idds.start()
    assert info.value.kind is Failure.UNREACHED
    assert "Connection refused" in str(info.value)
    assert 0.6 <= elapsed < 3.0  # slept 0.2 + 0.4, not the client's own 0-30 s per attempt
    assert client.ping() == {"Status": "OK"}  # same client object, server back on the same port


def relay_client(monkeypatch: pytest.MonkeyPatch, relay: FakeRelay) -> runtime.IddsClient:
    """An IddsClient built the way ``bps submit`` reaches iDDS: via PANDA_URL_SSL."""
    monkeypatch.setenv("PANDA_BEHIND_REAL_LB", "1")
    monkeypatch.setenv("PANDACACHE_URL", relay.url)
    monkeypatch.setenv("PANDA_URL_SSL", relay.url)
    monkeypatch.setenv("PANDA_URL", relay.url)
    import pandaclient.Client

    for name in ("baseURL", "baseURLSSL"):  # restored after the test: the client sets them
        monkeypatch.setattr(pandaclient.Client, name, getattr(pandaclient.Client, name))
    return runtime.client_from_config({"iddsServer": None}, policy=FAST)


def test_relay_path_round_trip(live_idds: IddsServer, factory_outdir, tmp_path, monkeypatch) -> None:
    outdir, _ = factory_outdir
    with FakeRelay(live_idds.url, live_idds.headers) as relay:
        client = relay_client(monkeypatch, relay)
        assert isinstance(client.transport, runtime.RelayTransport)
        assert client.ping() == {"Status": "OK"}
        request_id = client.submit(
            outdir_workflow.build_idds_workflow(outdir), max_request_length=8000, request_cache=tmp_path
        )
        assert_same_as_outdir(stored_workflow(client, request_id), outdir)
        assert client.abort(request_id) == ["Command registered successfully"]
        relay.fail_next(2, status=503)
        assert client.ping() == {"Status": "OK"}  # two 503s retried
        assert relay.calls.count("submit") >= 3  # steps first, then the workflow


def test_relay_passes_on_auth_refusal_without_retry(live_idds: IddsServer, monkeypatch) -> None:
    with FakeRelay(live_idds.url, auth_headers(FORBIDDEN_DN)) as relay:
        client = relay_client(monkeypatch, relay)
        with pytest.raises(RuntimeServiceError, match="is not allowed") as info:
            client.ping()
    assert (info.value.kind, info.value.attempts) == (Failure.AUTH, 1)
    assert relay.calls == ["ping"]
