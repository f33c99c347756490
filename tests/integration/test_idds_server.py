"""The fixture's iDDS server, driven by the *real* ``ClientManager``: what the runtime relies on.

These pin down server behaviour, not panda-compile code: that a submitted workflow keeps
its works' task names, dependency maps and the final ``AndCondition``; that abort and
retry are accepted; that a DN that is not allowed gets a fast, clear refusal; and that a
stopped server refuses connections (and comes back with the same database).
"""

from __future__ import annotations

import socket
import sqlite3
import time
from typing import Any

import pytest
from idds_server import FORBIDDEN_DN, IddsServer, auth_headers

pytestmark = pytest.mark.integration

LOG = {"destination": "local", "value": "log.tgz", "dataset": "PandaJob_#{pandaid}/", "token": "local",
       "param_type": "log", "type": "template"}  # fmt: skip


def client_manager(server: IddsServer, dn: str | None = None) -> Any:
    """A real ClientManager for ``server``, identified by ``dn``, without its slow retry loop."""
    from idds.client.clientmanager import ClientManager

    manager = ClientManager(host=server.url, timeout=10)
    manager.setup_client()
    manager.client.retries = 1
    manager.client.session.headers.update(auth_headers(dn) if dn else server.headers)
    return manager


def doma_work(index: int, dependency_map: list[dict[str, Any]], dependency_tasks: list[str]) -> Any:
    """A small DomaPanDAWork named ``t<index>`` (the reference's argument style)."""
    from idds.doma.workflowv2.domapandawork import DomaPanDAWork

    work = DomaPanDAWork(
        executable="echo hello",
        primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{index}"},
        output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{index}"}],
        log_collections=[],
        dependency_map=dependency_map,
        task_name=f"t{index}",
        task_queue="TEST_QUEUE",
        task_log=LOG,
        encode_command_line=True,
        prodSourceLabel="managed",
        task_cloud="US",
    )
    work.dependency_tasks = dependency_tasks
    return work


DEPENDENCY_MAPS = {
    "t1": [{"name": f"a{i}", "order_id": i, "dependencies": []} for i in range(3)],
    "t2": [
        {"name": f"b{i}", "order_id": i, "dependencies": [{"task": "t1", "inputname": f"a{i}"}]}
        for i in range(3)
    ],
    "t3": [{"name": "pure_pseudoinput+qgraphNodeId:+qgraphId:", "submitted": False, "dependencies": []}],
}


def three_work_workflow(name: str) -> Any:
    """t1 -> t2 by dependency map, and t3 released by AndCondition(t1, t2 terminated)."""
    from idds.workflowv2.workflow import AndCondition, Workflow

    t1 = doma_work(1, DEPENDENCY_MAPS["t1"], [])
    t2 = doma_work(2, DEPENDENCY_MAPS["t2"], ["t1"])
    t3 = doma_work(3, DEPENDENCY_MAPS["t3"], [])
    workflow = Workflow(name=name)
    for work in (t1, t2, t3):
        workflow.add_work(work)
    workflow.add_condition(AndCondition(conditions=[t1.is_terminated, t2.is_terminated], true_works=[t3]))
    return workflow


def test_ping_through_client_manager(live_idds: IddsServer) -> None:
    assert client_manager(live_idds).ping() == {"Status": "OK"}


def test_submit_then_read_back_works_and_condition(live_idds: IddsServer) -> None:
    manager = client_manager(live_idds)
    request_id = manager.submit(three_work_workflow("it_three_works"), use_dataset_name=False)
    assert isinstance(request_id, int), request_id

    detail = manager.get_requests(request_id=request_id, with_detail=True)
    assert [row["name"] for row in detail] == ["it_three_works"]
    # Before any transform exists (no iDDS agents here) the detail row comes from an outer
    # join and its request_id is None: report code must not rely on it.
    assert detail[0]["request_id"] in (None, request_id)
    assert detail[0]["username"] == "panda-compile-tester"

    (row,) = manager.get_requests(request_id=request_id, with_metadata=True)
    stored = row["request_metadata"]["workflow"]
    works = {w.task_name: w for w in stored.template.works.values()}
    assert sorted(works) == ["t1", "t2", "t3"]
    assert {name: w.dependency_map for name, w in works.items()} == DEPENDENCY_MAPS
    assert works["t2"].dependency_tasks == ["t1"]
    (condition,) = stored.template.conditions.values()
    assert type(condition).__name__ == "AndCondition"
    assert sorted(m.__self__.task_name for m in condition.conditions) == ["t1", "t2"]
    assert [w.task_name for w in condition.true_works] == ["t3"]


def test_abort_and_retry_register_commands(live_idds: IddsServer) -> None:
    manager = client_manager(live_idds)
    request_id = manager.submit(three_work_workflow("it_abort_retry"), use_dataset_name=False)
    registered = [[0, {"message": "Command registered successfully", "status": 0}]]
    assert manager.abort(request_id=request_id) == registered
    assert manager.retry(request_id=request_id) == registered
    assert manager.abort(request_id=987654) == [[-1, {"message": "No match requests", "status": -1}]]
    with sqlite3.connect(live_idds.db_path) as db:
        rows = db.execute("select cmd_type from commands where request_id = ?", (request_id,)).fetchall()
    assert len(rows) == 2  # abort and resume: nothing acts on them without the iDDS agents


def test_dn_not_allowed_is_refused_at_once(live_idds: IddsServer) -> None:
    manager = client_manager(live_idds, dn=FORBIDDEN_DN)
    start = time.monotonic()
    ok, message = manager.ping()
    assert ok is False
    assert f"User {FORBIDDEN_DN} is not allowed" in message
    assert time.monotonic() - start < 2.0


def test_stopped_server_refuses_connections_then_comes_back(live_idds: IddsServer) -> None:
    manager = client_manager(live_idds)
    request_id = manager.submit(three_work_workflow("it_restart"), use_dataset_name=False)
    live_idds.stop()
    try:
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", live_idds.port), 2),
        ):
            pass
        ok, message = manager.ping()
        assert ok is False
        assert "Connection refused" in message
    finally:
        live_idds.start()
    assert manager.ping() == {"Status": "OK"}
    (row,) = manager.get_requests(request_id=request_id)
    assert row["name"] == "it_restart"  # same port, same database
