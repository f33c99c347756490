"""The forked task writer: same bytes, same first error, no output and no child left on failure.

The example is small, so these tests lower `MIN_PARALLEL_JOBS` to 0 to make the writer
fork; `os.fork` is wrapped to learn the child's pid and prove it was reaped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from compiler.emit import parallel, task_files, writer
from compiler.errors import CompileError

from .conftest import CONFIG, PICKLE, run_cli


@pytest.fixture()
def forking(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the writer fork for any size; the list collects the children's pids."""
    pids: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(parallel, "MIN_PARALLEL_JOBS", 0)
    monkeypatch.setattr(parallel, "_usable_cores", lambda: 2)
    monkeypatch.delenv(parallel.WORKERS_ENV, raising=False)
    monkeypatch.setattr(parallel.os, "fork", fork)
    return pids


def _assert_reaped(pids: list[int]) -> None:
    assert pids, "the writer did not fork"
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_forked_writer_gives_the_serial_bytes(
    tmp_path: Path, example_outdir: Path, forking: list[int]
) -> None:
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    _assert_reaped(forking)
    assert _files(out) == _files(example_outdir)


def test_split_is_balanced_and_in_task_order() -> None:
    class FakeTask:
        def __init__(self, n: int) -> None:
            self.jobs = range(n)

    tasks: Any = [FakeTask(n) for n in (10, 9000, 9000, 1, 9000, 9000, 300)]
    mine, theirs = parallel.split_tasks(tasks)
    assert sorted(mine + theirs) == list(range(len(tasks)))
    assert mine == sorted(mine) and theirs == sorted(theirs)
    loads = [sum(len(tasks[i].jobs) for i in side) for side in (mine, theirs)]
    assert loads[0] == pytest.approx(loads[1], rel=0.1)


def _failing_task_file(monkeypatch: pytest.MonkeyPatch, failing: set[str]) -> None:
    real = task_files.write_task_file

    def write_task_file(wf: Any, task: Any, *args: Any) -> str:
        if task.name in failing:
            raise CompileError(f"deliberate failure in task {task.name}")
        return real(wf, task, *args)

    monkeypatch.setattr(writer, "write_task_file", write_task_file)


def _task_names() -> list[str]:
    return sorted(p.stem for p in (PICKLE.parent / "expected" / "tasks").iterdir())


@pytest.mark.parametrize("position", [0, 3, -1])
def test_a_failing_task_on_either_side_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forking: list[int], position: int
) -> None:
    name = _task_names()[position]
    _failing_task_file(monkeypatch, {name})
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "-q")
    assert result.exit_code != 0
    assert f"deliberate failure in task {name}" in result.output
    assert not out.exists() and not any(tmp_path.iterdir())
    _assert_reaped(forking)


def test_the_earliest_failing_task_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forking: list[int]
) -> None:
    names = _task_names()
    _failing_task_file(monkeypatch, set(names[2:]))  # both sides fail; the serial writer meets names[2] first
    result = run_cli(PICKLE, "--config", CONFIG, "-o", tmp_path / "out", "-q")
    assert result.exit_code != 0
    assert f"deliberate failure in task {names[2]}" in result.output
    assert result.output.count("deliberate failure") == 1
    _assert_reaped(forking)


def test_an_interrupted_parent_kills_and_reaps_its_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forking: list[int]
) -> None:
    parent = os.getpid()
    real = task_files.write_task_file

    def write_task_file(wf: Any, task: Any, *args: Any) -> str:
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real(wf, task, *args)

    monkeypatch.setattr(writer, "write_task_file", write_task_file)
    result = run_cli(PICKLE, "--config", CONFIG, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 130
    assert not (tmp_path / "out").exists() and not any(tmp_path.iterdir())
    _assert_reaped(forking)


def test_one_worker_setting_writes_serially(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forking: list[int]
) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    result = run_cli(PICKLE, "--config", CONFIG, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert forking == []
