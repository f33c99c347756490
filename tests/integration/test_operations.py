"""``compiler.runtime.operations`` and the runtime CLI against the real iDDS server.

OUTDIRs are real compiles (``compile_workflow`` + ``write_outdir``) of the benchmarks'
``make_workflow(300)`` with a config based on ``benchmarks/submit-example.yaml`` whose
``fileDistributionEndPoint`` is a ``file://`` folder of the test.

The test server has no iDDS agents and no PanDA, so its requests stay ``New`` and have no
transforms.  The report tests therefore write request statuses, transforms, collections
(file counts) and contents (exit codes) **directly into the server's SQLite database**
(`inject_progress`), the rows iDDS's agents would write, and read them back through the
real REST API.  The same replies, saved, are the replay data of
``tests/runtime/test_report.py``: ``--update-golden`` rewrites ``tests/data/runtime/``.

API tests use a direct client with the test user's auth headers; CLI tests go through
``fake_relay`` (the PanDA relay endpoint, which adds them), as ``bps`` reaches iDDS.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from fake_relay import FakeRelay
from idds_server import FORBIDDEN_DN, IddsServer, auth_headers, free_port

from compiler import compile_workflow, write_outdir
from compiler.cli_runtime import RUNTIME_COMMANDS
from compiler.errors import CompileError, ConfigError
from compiler.runtime import idds as runtime
from compiler.runtime import operations as ops
from compiler.runtime import workflow as outdir_workflow
from compiler.runtime.errors import Failure, OutdirError, RuntimeServiceError
from compiler.runtime.submission_key import split_request_name

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUBMIT_EXAMPLE = ROOT / "benchmarks" / "submit-example.yaml"
REPLAY_DIR = ROOT / "tests" / "data" / "runtime"
FAST = runtime.RetryPolicy(attempts=3, first_delay=0.2, max_delay=1.0, budget=3.0, call_timeout=10.0)
UNKNOWN_ID = 987654

# ----- compiled OUTDIRs ------------------------------------------------------------------


@dataclasses.dataclass
class Example:
    """A compiled OUTDIR to copy per test, with the config it was compiled with."""

    outdir: Path
    config: dict[str, Any]
    config_file: Path
    dist: Path


def compile_example(workflows: Any, root: Path, **overrides: Any) -> Example:
    """Compile ``make_workflow(300)`` into ``root/outdir``; create the files it stages."""
    dist = root / "dist"
    submit_dir = root / "submit"
    submit_dir.mkdir(parents=True)
    config = yaml.safe_load(SUBMIT_EXAMPLE.read_text())
    config.update(
        fileDistributionEndPoint=f"file://{dist}/{{uniqProcName}}/",
        fileDistributionEndPointDefault=f"file://{dist}/{{uniqProcName}}/",
        submitPath=str(submit_dir),
        iddsRetryAttempts=3,
        iddsRetryBudget=3,
        iddsCallTimeout=10,
        **overrides,
    )
    options = workflows.WorkflowOptions(submit_path=str(submit_dir))
    generic = workflows.make_workflow(300, options=options)
    outdir = write_outdir(compile_workflow(generic, config, submit_path=root / "outdir"), root / "outdir")
    for local in json.loads((outdir / "workflow.json").read_text())["files_to_pre_stage"].values():
        Path(local).write_text(f"staged content of {Path(local).name}\n")
    config_file = root / "submit.yaml"
    config_file.write_text(yaml.safe_dump(config))
    return Example(outdir, config, config_file, dist)


@pytest.fixture(scope="module")
def example(workflows, tmp_path_factory: pytest.TempPathFactory) -> Example:
    """The 300-job example, chunked at 40 jobs per task (12 tasks: labels span chunks)."""
    return compile_example(workflows, tmp_path_factory.mktemp("example"), maxJobsPerTask=40)


@pytest.fixture
def outdir(example: Example, tmp_path: Path) -> Path:
    """A fresh copy of the example OUTDIR (submit writes submission.json into it).

    Named after the test: the folder name is part of the submission key, and a copy of
    the same content under the same name *is* the same submission (it would be adopted).
    """
    return Path(shutil.copytree(example.outdir, tmp_path / f"outdir-{tmp_path.name}"))


def direct_client(server: IddsServer, dn: str | None = None) -> runtime.IddsClient:
    """A fast-retrying client straight at the server, as ``dn`` (default: the allowed user)."""
    headers = auth_headers(dn) if dn else server.headers
    return runtime.client_from_config(None, url=server.url, headers=headers, policy=FAST)


def workflow_doc(outdir: Path) -> dict[str, Any]:
    """OUTDIR's workflow.json."""
    return json.loads((outdir / "workflow.json").read_text())


def assert_request_holds_outdir(client: runtime.IddsClient, request_id: int, outdir: Path) -> None:
    """iDDS's stored workflow has OUTDIR's tasks, dependency maps, dependency tasks, condition."""
    (row,) = client.get_requests(request_id, with_metadata=True)
    works = {w.task_name: w for w in row["request_metadata"]["workflow"].template.works.values()}
    doc = workflow_doc(outdir)
    assert sorted(works) == sorted(t["name"] for t in doc["tasks"])  # iDDS keeps works unordered
    for task in doc["tasks"]:
        work = works[task["name"]]
        assert work.dependency_map == outdir_workflow.read_dependency_map(outdir, task["jobs_file"])
        assert list(work.dependency_tasks or []) == task["dependency_tasks"]
    (condition,) = row["request_metadata"]["workflow"].template.conditions.values()
    assert [m.__self__.task_name for m in condition.conditions] == doc["release_after"]
    assert [w.task_name for w in condition.true_works] == [doc["final_task"]]


# ----- writing progress into the server's database ----------------------------------------


@dataclasses.dataclass(frozen=True)
class Progress:
    """A task's transform status and file counts, as iDDS agents would record them."""

    status: str
    processed: int = 0
    processing: int = 0
    failed: int = 0
    missing: int = 0
    out_new: int = 0
    in_new: int = 0
    exit_codes: tuple[int, ...] = ()  # one output content per code (0: a finished job)


P = Progress
SCENARIOS: dict[str, tuple[str, dict[str, Progress]]] = {
    "transforming": ("Transforming", {
        "pipetaskInit_01": P("Finished", processed=1),
        "isr_01": P("Finished", processed=33),
        "isr_02": P("SubFinished", processed=30, failed=2, missing=1, exit_codes=(0, 1, 137)),
        "isr_03": P("Transforming", processed=10, processing=5, failed=1, out_new=17),
        "characterizeImage_01": P("Transforming", processing=3, out_new=30, in_new=20),
        "characterizeImage_02": P("New"),
    }),
    "finished": ("Finished", {"*": P("Finished")}),
    "subfinished": ("SubFinished", {
        "*": P("Finished"),
        "calibrate_03": P("SubFinished", processed=30, failed=3, exit_codes=(139, 139, 1)),
    }),
    "failed": ("Failed", {
        "pipetaskInit_01": P("Finished", processed=1),
        "isr_01": P("Failed", failed=3, missing=30, exit_codes=(1, 1, 2)),
    }),
    "cancelled": ("Cancelled", {
        "pipetaskInit_01": P("Finished", processed=1),
        "isr_01": P("Cancelled", processed=10),
    }),
    "suspended": ("Suspended", {
        "pipetaskInit_01": P("Finished", processed=1),
        "isr_01": P("Suspended", processed=5, processing=3, out_new=25),
    }),
}  # fmt: skip
"""Scenario -> (request status, {``<label>_<chunk>`` or ``*``: progress}); "*" fills every task."""


def _enum_value(enum_name: str, member: str) -> int:
    """The database value of an iDDS enum member (``RequestStatus.Failed`` -> 5)."""
    from idds.common import constants

    return int(getattr(constants, enum_name)[member].value)


def _short_name(task_name: str, workflow: str) -> str:
    """``<workflow>_<NN>_<label>_<CC>`` -> ``<label>_<CC>``."""
    return task_name[len(workflow) + 1 :].split("_", 1)[1]


def _task_progress(doc: dict[str, Any], wanted: dict[str, Progress]) -> list[tuple[int, dict, Progress]]:
    """(task number, task, progress) of the tasks a scenario mentions; "*" means every task."""
    chosen = []
    for number, task in enumerate(doc["tasks"], start=1):
        progress = wanted.get(_short_name(task["name"], doc["name"])) or wanted.get("*")
        if progress is not None:
            if progress.status == "Finished" and not progress.processed:
                progress = dataclasses.replace(progress, processed=task["job_count"])
            chosen.append((number, task, progress))
    return chosen


def _insert(con: sqlite3.Connection, table: str, values: dict[str, Any]) -> int:
    """INSERT one row; its id."""
    sql = f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})"
    return int(con.execute(sql, list(values.values())).lastrowid)


def _insert_task(con: sqlite3.Connection, request_id: int, number: int, task: dict, p: Progress) -> None:
    """One transform with its processing, input and output collections, output contents."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    status = _enum_value("TransformStatus", p.status)
    common = {"request_id": request_id, "workload_id": 1000 + number, "locking": 0}
    common |= {"created_at": now, "updated_at": now}
    transform = {"transform_type": 6, "transform_tag": "processing", "name": task["name"]}
    tid = _insert(con, "transforms", common | transform | {"status": status, "substatus": status})
    common["transform_id"] = tid
    running = _enum_value("ProcessingStatus", "Running")
    _insert(con, "processings", common | {"processing_type": 6, "status": running})
    total = task["job_count"]
    inputs = {"total_files": total, "new_files": p.in_new, "activated_files": total - p.in_new}
    outputs = {"total_files": total, "processed_files": p.processed, "processing_files": p.processing}
    outputs |= {"failed_files": p.failed, "missing_files": p.missing, "new_files": p.out_new}
    for relation, (kind, files) in enumerate((("input", inputs), ("output", outputs))):
        collection = {"coll_type": 3, "relation_type": relation, "scope": "pseudo_dataset", "status": 3}
        collection["name"] = f"pseudo_{kind}_collection#{number}"
        output_coll = _insert(con, "collections", common | files | collection)
    _insert_jobs(con, common | {"coll_id": output_coll}, p.exit_codes)


def _insert_jobs(con: sqlite3.Connection, common: dict[str, Any], exit_codes: tuple[int, ...]) -> None:
    """An output content and its PanDA job record (``contents_ext``) per exit code."""
    for map_id, code in enumerate(exit_codes, start=1):
        job = common | {"map_id": map_id, "status": 3 if code else 2}  # Failed / Available
        content = {"scope": "pseudo_dataset", "name": f"job{map_id}", "content_type": 2}
        content_id = _insert(con, "contents", job | content | {"content_relation_type": 1})
        for key in ("locking", "created_at", "updated_at"):
            del job[key]
        panda = {"content_id": content_id, "panda_id": 5000 + map_id, "trans_exit_code": code}
        _insert(con, "contents_ext", job | panda | {"job_status": "failed" if code else "finished"})


def _md5(value: object) -> str | None:
    """SQL ``md5()`` as the test server defines it."""
    return None if value is None else hashlib.md5(str(value).encode()).hexdigest()


def inject_progress(server: IddsServer, request_id: int, outdir: Path, scenario: str) -> None:
    """Write a scenario's request status and task rows into the server's SQLite database."""
    request_status, wanted = SCENARIOS[scenario]
    doc = workflow_doc(outdir)
    con = sqlite3.connect(server.db_path, timeout=10)
    # an index on contents uses md5(): the server registers it on its connections too
    con.create_function("md5", 1, _md5, deterministic=True)
    try:
        with con:
            value = _enum_value("RequestStatus", request_status)
            con.execute(
                "UPDATE requests SET status = ?, substatus = ? WHERE request_id = ?",
                (value, value, request_id),
            )
            for number, task, progress in _task_progress(doc, wanted):
                _insert_task(con, request_id, number, task, progress)
    finally:
        con.close()


# ----- submit ----------------------------------------------------------------------------


def test_submit_stages_records_and_matches_outdir(live_idds: IddsServer, example: Example, outdir) -> None:
    client = direct_client(live_idds)
    record = ops.submit_outdir(outdir, example.config, client=client)

    assert record.steps == 0 and record.server == live_idds.url
    assert record.workflow == workflow_doc(outdir)["name"]
    assert ops.read_submission(outdir) == record
    saved = json.loads((outdir / ops.SUBMISSION_FILE).read_text())
    assert saved["request_id"] == record.request_id and saved["tool_version"]
    datetime.datetime.fromisoformat(saved["submitted_at"])
    staged = Path(record.file_distribution_end_point.removeprefix("file://"))
    assert staged.parent == example.dist
    names = {Path(p).name for p in workflow_doc(outdir)["files_to_pre_stage"].values()}
    assert {p.name for p in staged.iterdir()} == names and record.staged_files == len(names)
    assert_request_holds_outdir(client, record.request_id, outdir)


def test_large_workflow_is_submitted_in_steps(live_idds: IddsServer, example: Example, outdir) -> None:
    client = direct_client(live_idds)
    config = {**example.config, "maxRequestLength": 20000}
    record = ops.submit_outdir(outdir, config, client=client)
    assert record.steps >= 2
    assert_request_holds_outdir(client, record.request_id, outdir)
    # the explicit argument wins over the config
    again = ops.submit_outdir(outdir, config, client=client, force=True, max_request_length=10**9)
    assert again.steps == 0


def test_double_submit_is_refused_unless_forced(live_idds: IddsServer, example: Example, outdir) -> None:
    client = direct_client(live_idds)
    before = len(ops.list_requests(client=client))
    first = ops.submit_outdir(outdir, example.config, client=client)
    with pytest.raises(
        ops.AlreadySubmittedError, match=f"already submitted as iDDS request {first.request_id}"
    ):
        ops.submit_outdir(outdir, example.config, client=client)
    assert len(ops.list_requests(client=client)) == before + 1  # the refused submit made no request
    second = ops.submit_outdir(outdir, example.config, client=client, force=True)
    assert second.request_id != first.request_id
    assert second.previous_request_ids == (first.request_id,)
    assert second.staged_files == 0  # same files already at the end point
    assert ops.read_submission(outdir) == second


def test_wrong_credentials_fail_at_once(live_idds: IddsServer, example: Example, outdir, tmp_path) -> None:
    client = direct_client(live_idds, dn=FORBIDDEN_DN)
    dist = tmp_path / "dist"
    config = {**example.config, "fileDistributionEndPoint": str(dist)}  # a plain path: file:// added
    start = time.monotonic()
    with pytest.raises(RuntimeServiceError, match="not authorised") as info:
        ops.submit_outdir(outdir, config, client=client)
    assert time.monotonic() - start < 2.0
    assert (info.value.kind, info.value.attempts) == (Failure.AUTH, 1)
    assert not (outdir / ops.SUBMISSION_FILE).exists()
    assert not dist.exists()  # refused before anything was staged
    assert ops.ping(client=client)[0] == -1


def test_server_stopped_mid_session(live_idds: IddsServer, example: Example, outdir) -> None:
    """Bounded retries, one clear error, no submission.json; the server comes back for later tests."""
    client = direct_client(live_idds)
    assert ops.ping(client=client) == (0, None)
    live_idds.stop()
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeServiceError, match="failed after 3 attempts") as info:
            ops.submit_outdir(outdir, example.config, client=client)
        status, message = ops.ping(client=client)
    finally:
        elapsed = time.monotonic() - start
        live_idds.start()
    assert info.value.kind is Failure.UNREACHED and "\n" not in str(info.value)
    assert not (outdir / ops.SUBMISSION_FILE).exists()
    assert status == -1 and "Connection refused" in message
    assert elapsed < 8.0
    assert ops.submit_outdir(outdir, example.config, client=client).request_id > 0


# ----- report, status, cancel, restart, list ---------------------------------------------


def _save_replies(client: runtime.IddsClient, request_id: int, scenario: str, server_root: Path) -> None:
    """Write the detail rows (and exit-code replies) of a request as replay data.

    The server's temporary folder (in ``additional_data_storage``) becomes ``/srv/idds``
    so a re-capture changes only what the server really answered differently.
    """
    from idds.common.utils import json_dumps

    def save(name: str, reply: Any) -> None:
        text = json_dumps(reply, indent=1).replace(str(server_root), "/srv/idds")
        (REPLAY_DIR / name).write_text(text + "\n")

    rows = client.get_requests(request_id, with_detail=True)
    save(f"request-{scenario}.json", rows)
    ext = {
        str(row["transform_workload_id"]): client.call(
            "get_contents_output_ext", request_id=request_id, workload_id=row["transform_workload_id"]
        )
        for row in rows
        if getattr(row.get("transform_status"), "name", None) in ("SubFinished", "Failed")
    }
    if ext:
        save(f"contents-output-ext-{scenario}.json", ext)


def _assert_replay_shape(client: runtime.IddsClient, request_id: int, scenario: str) -> None:
    """The saved replay rows have the fields and statuses the live server gives now."""
    from idds.common.utils import json_loads

    live = client.get_requests(request_id, with_detail=True)
    saved = json_loads((REPLAY_DIR / f"request-{scenario}.json").read_text())
    assert [sorted(r) for r in saved] == [sorted(r) for r in live]
    key = ("status", "transform_name", "transform_status", "output_total_files")

    def shape(rows: list[Any]) -> list[tuple[str, ...]]:  # the name without its OUTDIR key
        return sorted((split_request_name(r["name"])[0], *(str(r[k]) for k in key)) for r in rows)

    assert shape(saved) == shape(live)


def test_report_follows_progress(live_idds: IddsServer, example: Example, request, tmp_path: Path) -> None:
    """Report of every scenario; with ``--update-golden`` the replies become replay data."""
    client = direct_client(live_idds)
    update = request.config.getoption("--update-golden")
    reports = {}
    for scenario in ("new", *SCENARIOS):
        folder = Path(shutil.copytree(example.outdir, tmp_path / f"{tmp_path.name}-{scenario}"))
        request_id = ops.submit_outdir(folder, example.config, client=client).request_id
        if scenario != "new":
            inject_progress(live_idds, request_id, folder, scenario)
        reports[scenario] = ops.report(request_id, client=client, exit_codes=True)
        assert ops.request_status(request_id, client=client) == reports[scenario].state
        if update:
            _save_replies(client, request_id, scenario, live_idds.root)
        else:
            _assert_replay_shape(client, request_id, scenario)

    new = reports["new"]
    assert (new.state, new.idds_status, new.total_jobs, new.per_label) == ("RUNNING", "New", 0, {})
    assert new.operator == "panda-compile-tester" and new.name == workflow_doc(example.outdir)["name"]
    running = reports["transforming"]
    assert list(running.per_label) == ["pipetaskInit", "isr", "characterizeImage"]
    isr = {s: n for s, n in running.per_label["isr"].items() if n}
    assert isr == {"SUCCEEDED": 73, "RUNNING": 22, "FAILED": 3, "PRUNED": 1}
    assert running.exit_codes == {"isr": [1, 137]} and running.total_jobs == 166
    assert {k: r.state for k, r in reports.items()} == {
        "new": "RUNNING", "transforming": "RUNNING", "finished": "SUCCEEDED", "subfinished": "SUCCEEDED",
        "failed": "FAILED", "cancelled": "DELETED", "suspended": "HELD",
    }  # fmt: skip
    assert reports["finished"].state_counts()["SUCCEEDED"] == reports["finished"].total_jobs == 300
    assert reports["subfinished"].exit_codes == {"calibrate": [139, 139, 1]}
    assert reports["failed"].exit_codes == {"isr": [1, 1, 2]}


def test_cancel_restart_list_and_unknown_ids(live_idds: IddsServer, example: Example, outdir) -> None:
    client = direct_client(live_idds)
    request_id = ops.submit_outdir(outdir, example.config, client=client).request_id
    assert ops.list_requests(request_id, client=client) == [request_id]
    assert request_id in ops.list_requests(client=client)
    assert ops.list_requests(UNKNOWN_ID, client=client) == []
    assert ops.cancel(request_id, client=client) == (True, "Command registered successfully")
    assert ops.restart(request_id, client=client) == (request_id, "Command registered successfully")

    ok, message = ops.cancel(UNKNOWN_ID, client=client)  # looked up first: never aborted
    assert not ok and f"no iDDS request {UNKNOWN_ID}" in message
    new_id, message = ops.restart(UNKNOWN_ID, client=client)
    assert new_id is None and f"no iDDS request {UNKNOWN_ID}" in message
    with pytest.raises(ops.RequestNotFound, match=f"no iDDS request {UNKNOWN_ID}"):
        ops.report(UNKNOWN_ID, client=client)
    with pytest.raises(ops.RequestNotFound):
        ops.request_status(UNKNOWN_ID, client=client)


# ----- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli() -> click.Group:
    """A group holding the runtime commands, as the main CLI will register them."""
    group = click.Group("panda-compile")
    for command in RUNTIME_COMMANDS:
        group.add_command(command)
    return group


@pytest.fixture
def relay(live_idds: IddsServer, monkeypatch: pytest.MonkeyPatch):
    """The fake PanDA relay in front of the server, and the environment ``bps`` would have."""
    with FakeRelay(live_idds.url, live_idds.headers) as fake:
        for name in ("PANDA_BEHIND_REAL_LB", "PANDACACHE_URL", "PANDA_URL_SSL", "PANDA_URL"):
            monkeypatch.setenv(name, "1" if name == "PANDA_BEHIND_REAL_LB" else fake.url)
        monkeypatch.delenv("IDDS_HOST")  # bps's environment: the relay only (a conflict warns)
        import pandaclient.Client

        for name in ("baseURL", "baseURLSSL"):  # restored afterwards: the client sets them
            monkeypatch.setattr(pandaclient.Client, name, getattr(pandaclient.Client, name))
        yield fake


def run(cli: click.Group, *args: Any) -> Any:
    """Invoke the group (``result.stdout``/``result.stderr`` apart, ``output`` both)."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_round_trip_through_relay(cli, relay, example: Example, outdir) -> None:
    config = ["--config", example.config_file]
    done = run(cli, "submit", outdir, *config)
    assert done.exit_code == 0, done.output
    request_id = ops.read_submission(outdir).request_id
    assert f"as iDDS request {request_id} (PanDA relay" in done.output

    refused = run(cli, "submit", outdir, *config)
    assert refused.exit_code == 1
    assert f"already submitted as iDDS request {request_id}" in refused.output
    assert len(refused.stderr.strip().splitlines()) == 1 and refused.stdout == ""
    forced = run(cli, "submit", outdir, "--force", *config)
    assert forced.exit_code == 0 and ops.read_submission(outdir).request_id != request_id

    shown = run(cli, "report", request_id)
    assert shown.exit_code == 0 and f"Request {request_id}" in shown.output
    assert "state RUNNING" in shown.output
    as_json = json.loads(run(cli, "report", request_id, "--json", "--exit-codes").stdout)
    assert (as_json["request_id"], as_json["state"], as_json["idds_status"]) == (request_id, "RUNNING", "New")
    header, row = run(cli, "list", request_id).stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "CREATED", "KEY"]
    assert row.split()[0] == str(request_id) and row.split()[-1].startswith(f"{outdir.name}-")
    assert str(request_id) in [line.split()[0] for line in run(cli, "list").stdout.splitlines()]
    assert run(cli, "ping").output.strip() == "OK"
    assert "Command registered successfully" in run(cli, "cancel", request_id).output
    assert "Command registered successfully" in run(cli, "restart", request_id).output
    for command in ("cancel", "restart", "list", "report"):
        failed = run(cli, command, UNKNOWN_ID)
        assert failed.exit_code == 1 and len(failed.stderr.strip().splitlines()) == 1, command
        assert failed.stdout == "" and failed.stderr.startswith("Error: "), command
    assert {"ping", "submit", "get_requests", "abort", "retry"} <= set(relay.calls)  # all via the relay


def test_cli_report_table(cli, relay, live_idds: IddsServer, example: Example, outdir) -> None:
    request_id = ops.submit_outdir(outdir, example.config, client=direct_client(live_idds)).request_id
    inject_progress(live_idds, request_id, outdir, "transforming")
    lines = run(cli, "report", request_id, "--exit-codes").output.splitlines()
    assert lines[0].startswith(f"Request {request_id}  ") and "(iDDS Transforming)" in lines[0]
    assert lines[1].split() == ["LABEL", "UNREADY", "RUNNING", "SUCCEEDED", "FAILED", "PRUNED", "TOTAL"]
    assert lines[2].split() == ["TOTAL", "53", "35", "74", "3", "1", "166"]
    assert lines[4].split() == ["pipetaskInit", "0", "0", "1", "0", "0", "1"]
    assert lines[5].split() == ["isr", "0", "22", "73", "3", "1", "99"]
    assert lines[-2:] == ["Exit codes:", "  isr: 1 x1, 137 x1"]


def test_cli_wrong_credentials_and_unreachable_url(cli, live_idds: IddsServer, example, outdir) -> None:
    """``--url`` bypasses the relay; without the DN headers the server refuses at once."""
    start = time.monotonic()
    refused = run(cli, "submit", outdir, "--config", example.config_file, "--url", live_idds.url)
    assert refused.exit_code == 1 and time.monotonic() - start < 3.0
    assert "not authorised" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (outdir / ops.SUBMISSION_FILE).exists()

    nowhere = f"http://127.0.0.1:{free_port()}/idds"
    start = time.monotonic()
    down = run(cli, "ping", "--config", example.config_file, "--url", nowhere)
    assert down.exit_code == 1 and time.monotonic() - start < 6.0
    *warnings, error = down.stderr.strip().splitlines()
    assert error.startswith(f"Error: iDDS ping at {nowhere} failed after 3 attempts in ")
    assert "(cannot connect)" in error and down.stdout == ""
    assert [w.split(":")[0:2] for w in warnings] == [
        ["warning", " iDDS ping failed (unreached), retrying in 0.5 s"],
        ["warning", " iDDS ping failed (unreached), retrying in 1.0 s"],
    ]


# ----- local checks before anything is contacted (no server needed) ----------------------


def test_file_distribution_uri_follows_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {
        "fileDistributionEndPoint": "${LSST_RUN_TEMP_SPACE}/x/",
        "fileDistributionEndPointDefault": "/d/",
    }
    monkeypatch.delenv("LSST_RUN_TEMP_SPACE", raising=False)
    assert ops.file_distribution_uri(ops._as_config(config)) == "file:///d/"
    monkeypatch.setenv("LSST_RUN_TEMP_SPACE", "s3://bucket")
    assert ops.file_distribution_uri(ops._as_config(config)) == "s3://bucket/x/"  # expanded, as BpsConfig
    assert ops.file_distribution_uri(ops._as_config({"fileDistributionEndPoint": "s3://b/p/"})) == "s3://b/p/"


def test_local_problems_are_found_before_any_call(example: Example, outdir, tmp_path, monkeypatch) -> None:
    for name in ("PANDA_URL", "PANDA_URL_SSL", "IDDS_HOST"):
        monkeypatch.delenv(name, raising=False)
    recorded = {"request_id": 17, "server": "s", "submitted_at": "t", "steps": 0}
    (outdir / ops.SUBMISSION_FILE).write_text(json.dumps(recorded))
    with pytest.raises(ops.AlreadySubmittedError, match="already submitted as iDDS request 17") as info:
        ops.submit_outdir(outdir, example.config)
    assert info.value.request_id == 17
    (outdir / ops.SUBMISSION_FILE).unlink()
    no_end_point = {k: v for k, v in example.config.items() if not k.startswith("fileDistribution")}
    # the end point the compile put into every decoder is recorded: the config need not repeat it
    with pytest.raises(RuntimeServiceError, match="no iDDS service configured"):
        ops.submit_outdir(outdir, no_end_point)
    doc = json.loads((outdir / "workflow.json").read_text())
    del doc["file_distribution_end_point"]  # a folder compiled before it was recorded
    (outdir / "workflow.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="fileDistributionEndPoint"):
        ops.submit_outdir(outdir, no_end_point)
    with pytest.raises(ConfigError, match="maxRequestLength"):
        ops.submit_outdir(outdir, {**example.config, "maxRequestLength": "big"})
    with pytest.raises(OutdirError, match=r"workflow\.json"):
        ops.submit_outdir(tmp_path, example.config)
    with pytest.raises(RuntimeServiceError, match="no iDDS service configured"):
        ops.submit_outdir(outdir, example.config)
    assert not (outdir / ops.SUBMISSION_FILE).exists()
    with pytest.raises(CompileError, match="not a number"):
        ops.report("abc")
