"""`panda-compile run`: real jobs (the fake pipetask of conftest.py), in dependency order.

Every check reads what the jobs themselves recorded (their qgraphNodeId, folder, start
and end) next to the run's log, so ordering is checked causally (a child starts after
its parents ended), never by timing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.emit.conftest import run_cli
from tests.tools.conftest import DIAMOND_EDGES, DIAMOND_JOBS, build_workflow, compile_to, records, run_config

FINAL = "finalJob"


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def run(outdir: Path, tmp: Path, *args: Any) -> tuple[Any, list[dict[str, Any]]]:
    """`run OUTDIR --log ... --scratch ...` in-process; (result, log lines by job)."""
    log = tmp / "run.jsonl"
    result = run_cli("run", outdir, "--log", log, "--scratch", tmp / "scratch", *args)
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, lines


def node(line: dict[str, Any]) -> str:
    """The qgraphNodeId in an entry name (`<job>+qgraphNodeId:<id>+...`); the final job's is ''."""
    return line["name"].split("+qgraphNodeId:")[1].split("+")[0]


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie left to an init that does not reap is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("FAKE_RECORD", str(record))
    for key in ("FAKE_FAIL", "FAKE_HANG", "FAKE_SLEEP"):
        monkeypatch.delenv(key, raising=False)
    return record


def test_every_job_runs_once_after_its_parents(diamond: Path, env: Path, tmp_path: Path) -> None:
    before = digest(diamond)
    result, lines = run(diamond, tmp_path, "--workers", "3")
    assert result.exit_code == 0, result.output
    assert digest(diamond) == before  # OUTDIR untouched
    ran = records(env)
    assert sorted(r["node"] for r in ran) == sorted(DIAMOND_JOBS)  # each exactly once
    by_node = {r["node"]: r for r in ran}
    for parent, child in DIAMOND_EDGES:
        assert by_node[parent]["end"] <= by_node[child]["start"], (parent, child)
    assert all(r["qgraph_id"] == "qg-7" and r["qgraph_here"] for r in ran)  # inputs delivered
    assert len({r["cwd"] for r in ran}) == len(ran)
    assert all(Path(r["cwd"]).is_relative_to(tmp_path / "scratch") for r in ran)
    # the log: one line per job, final job last and after everything else
    assert len(lines) == len(DIAMOND_JOBS) + 1
    assert {line["status"] for line in lines} == {"succeeded"}
    assert all(line["exit_code"] == 0 for line in lines)
    assert sorted(node(line) for line in lines if line["label"] != FINAL) == sorted(DIAMOND_JOBS)
    final = [line for line in lines if line["label"] == FINAL]
    assert len(final) == 1 and final[0]["start"] >= max(r["end"] for r in ran)
    assert (env.parent / "record.jsonl.final").read_text() == "final run.qgraph s3://repo/butler.yaml\n"
    assert "total             9       0        0" in result.stdout


def test_failure_blocks_exactly_its_descendants(
    diamond: Path, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "b_1")
    result, lines = run(diamond, tmp_path, "--workers", "2", "--keep-going")
    assert result.exit_code == 1
    status = {node(line): line for line in lines if line["label"] != FINAL}
    assert len(lines) == len(DIAMOND_JOBS) + 1
    assert status["b_1"]["status"] == "failed" and status["b_1"]["exit_code"] == 3
    blocked = {n for n, line in status.items() if line["status"] == "blocked"}
    assert blocked == {"c_1", "d_1"}  # descendants of b_1, nothing else
    assert all("b_1" in status[n]["reason"] and status[n]["exit_code"] is None for n in blocked)
    assert {n for n, line in status.items() if line["status"] == "succeeded"} == set(
        DIAMOND_JOBS
    ) - blocked - {"b_1"}
    assert sorted(r["node"] for r in records(env)) == sorted(set(DIAMOND_JOBS) - blocked)
    final = [line for line in lines if line["label"] == FINAL]
    assert final[0]["status"] == "succeeded"  # the final job runs after failures too


def test_without_keep_going_no_job_starts_after_a_failure(
    diamond: Path, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "b_1")
    result, lines = run(diamond, tmp_path, "--workers", "1")
    assert result.exit_code == 1
    assert [r["node"] for r in records(env)] == ["a_1", "b_1"]  # run order: a_1, then b_1 failed
    status = {node(line): line["status"] for line in lines if line["label"] != FINAL}
    assert status == dict.fromkeys(DIAMOND_JOBS, "blocked") | {"a_1": "succeeded", "b_1": "failed"}
    assert any("--keep-going" in (line["reason"] or "") for line in lines)
    assert [line["status"] for line in lines if line["label"] == FINAL] == ["succeeded"]


def test_never_more_than_workers_jobs_at_once(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [f"a_{i}" for i in range(8)]
    outdir = compile_to(tmp_path, build_workflow(tmp_path, jobs, [], final=False), run_config(tmp_path))
    monkeypatch.setenv("FAKE_SLEEP", "0.2")
    result, lines = run(outdir, tmp_path, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert len(records(env)) == 8
    events = sorted([(line["start"], 1) for line in lines] + [(line["end"], -1) for line in lines])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 2


def test_job_timeout_kills_the_job_and_blocks_its_descendants(
    diamond: Path, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_HANG", "c_1")
    result, lines = run(diamond, tmp_path, "--workers", "2", "--keep-going", "--job-timeout", "1")
    assert result.exit_code == 1
    status = {node(line): line for line in lines if line["label"] != FINAL}
    assert status["c_1"]["status"] == "failed" and status["c_1"]["exit_code"] != 0
    assert "timed out" in status["c_1"]["reason"]
    assert status["d_1"]["status"] == "blocked"
    assert not alive(int(Path(str(env) + ".pid").read_text()))


def test_ctrl_c_kills_running_jobs_and_logs_every_job(diamond: Path, env: Path, tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "compiler", "run", str(diamond), "--log", str(log), "--workers", "2"]
    proc = subprocess.Popen(
        command, env={**os.environ, "FAKE_HANG": "a_1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    pid_file = Path(str(env) + ".pid")
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not alive(int(pid_file.read_text()))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == len(DIAMOND_JOBS) + 1
    assert {node(line): line["status"] for line in lines}["a_1"] == "failed"
    assert {line["status"] for line in lines if node(line) != "a_1"} == {"blocked"}


def test_labels_and_max_jobs_select_with_what_they_need(diamond: Path, env: Path, tmp_path: Path) -> None:
    result, lines = run(diamond, tmp_path, "--labels", "c")
    assert result.exit_code == 0, result.output
    assert sorted(node(line) for line in lines) == ["a_1", "b_1", "b_2", "c_1"]  # no final job
    e_task = next(
        t["name"] for t in json.loads((diamond / "workflow.json").read_text())["tasks"] if t["label"] == "e"
    )
    result = run_cli("run", diamond, "--dry-run", "--json", "--max-jobs", "1", "--tasks", e_task)
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["name"].split("+")[0] for x in result.stdout.splitlines()] == ["a_1", "e_1"]


def test_as_pilot_runs_the_whole_executable(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, reference: Any
) -> None:
    import lsst.ctrl.bps.panda.edgenode.cmd_line_decoder as decoder

    gw = build_workflow(tmp_path, ["a_1", "b_1"], [("a_1", "b_1")], final=False)
    config = run_config(tmp_path, runner=f"{sys.executable} {decoder.__file__} _cmd_line_")
    outdir = compile_to(tmp_path, gw, config)
    result, lines = run(outdir, tmp_path, "--as-pilot")
    assert result.exit_code == 0, result.output
    assert [line["status"] for line in lines] == ["succeeded", "succeeded"]
    assert [r["node"] for r in records(env)] == ["a_1", "b_1"]
    assert all(r["qgraph_here"] for r in records(env))  # the stock decoder copied it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "nope"], "--labels: no label named 'nope'"),
        (["--scratch", "{full}"], "not empty"),
        (["--log", "{tmp}/missing/run.jsonl"], "--log"),
    ],
)
def test_bad_input_is_one_line_and_runs_nothing(
    diamond: Path, env: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    args = [a.format(full=full, tmp=tmp_path) for a in args]
    result = run_cli("run", diamond, *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert records(env) == []


def test_a_folder_failing_check_is_refused(diamond: Path, env: Path, tmp_path: Path) -> None:
    (tmp_path / "run.qgraph").write_text("changed after compiling")
    result, lines = run(diamond, tmp_path)
    assert result.exit_code == 1 and "fails check" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert lines == [] and records(env) == [] and not (tmp_path / "scratch").exists()


def test_staging_failure_is_one_line_and_runs_nothing(tmp_path: Path, env: Path) -> None:
    gw = build_workflow(tmp_path, ["a_1"], [], final=False)
    outdir = compile_to(tmp_path, gw, run_config(tmp_path, fileDistributionEndPoint="file:///proc/pc-nope/"))
    result = run_cli("run", outdir)
    assert result.exit_code == 1
    assert "cannot stage runQgraphFile" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert records(env) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out.")) == []  # no log, no scratch


def test_json_needs_dry_run(diamond: Path, env: Path) -> None:
    result = run_cli("run", diamond, "--json")
    assert result.exit_code == 2 and "--json goes with --dry-run" in result.stderr
    assert records(env) == []


def test_progress_line_on_stderr(tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outdir = compile_to(tmp_path, build_workflow(tmp_path, ["a_1"], [], final=False), run_config(tmp_path))
    monkeypatch.setenv("FAKE_SLEEP", "0.3")
    result, _ = run(outdir, tmp_path, "--progress")
    assert result.exit_code == 0, result.output
    assert "\r0/1 done: 0 succeeded, 0 failed, 0 blocked; 1 running" in result.stderr
    assert result.stderr.endswith("\r\033[K")  # cleared before the table
    assert "\na              1       0        0  \n" in result.stdout


def test_a_dependency_cycle_is_refused_by_name(diamond: Path, env: Path, tmp_path: Path) -> None:
    """A forged folder that passes check (digests updated) but whose jobs wait on each other."""
    doc = json.loads((diamond / "workflow.json").read_text())
    i, task = next((i, t) for i, t in enumerate(doc["tasks"]) if t["label"] == "b")
    path = diamond / task["jobs_file"]
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(entries) == 2
    for k, entry in enumerate(entries):
        entry["dependencies"].append({"task": task["name"], "inputname": entries[1 - k]["name"]})
    data = "".join(json.dumps(e) + "\n" for e in entries).encode()
    path.write_bytes(data)
    doc["tasks"][i]["jobs_sha256"] = hashlib.sha256(data).hexdigest()
    doc["tasks"][i]["dependency_tasks"].append(task["name"])
    (diamond / "workflow.json").write_text(json.dumps(doc))
    assert run_cli("check", diamond).exit_code == 0
    result, lines = run(diamond, tmp_path)
    assert result.exit_code == 1
    assert "is in a dependency cycle" in result.stderr and task["jobs_file"] in result.stderr
    assert lines == [] and records(env) == []


def test_a_parent_later_in_its_own_task_runs_first(tmp_path: Path, env: Path) -> None:
    gw = build_workflow(tmp_path, ["a_1", "a_2"], [("a_2", "a_1")], final=False)
    outdir = compile_to(tmp_path, gw, run_config(tmp_path))
    doc = json.loads((outdir / "workflow.json").read_text())
    assert len(doc["tasks"]) == 1  # both in one task, a_1's parent on the later line
    result, _ = run(outdir, tmp_path, "--workers", "2")
    assert result.exit_code == 0, result.output
    ran = {r["node"]: r for r in records(env)}
    assert ran["a_2"]["end"] <= ran["a_1"]["start"]
    dry = run_cli("run", outdir, "--dry-run", "--json")
    assert [json.loads(x)["name"].split("+")[0] for x in dry.stdout.splitlines()] == ["a_2", "a_1"]
