"""Write the per-task files on both cores: a forked child takes part of the tasks.

Why: the jobs files and task files of one task depend on nothing another task writes,
and the finished IR is read-only by then, so a `fork` shares it copy-on-write without
serialising anything (measured at 10^5 jobs: writing is ~0.3-0.6 s of a 2-3 s compile,
and the machine has two cores). Only the results (two SHA-256 per task) come back
through a pipe.

What must keep holding, and how:

* Same bytes: each file is written by the same function as in the serial writer; only
  who writes it changes. workflow.json and the summary are written by the parent
  afterwards, from the results in task order.
* Same error: each side writes its tasks in task order and stops at its first failure;
  the parent raises the failure of the earliest task of both sides, which is the one the
  serial writer would have met first. The child's exception is sent back pickled (an
  `OSError` keeps its errno and file name for `atomic_outdir`'s message).
* No partial output: the child writes only inside the temporary folder of
  `atomic_outdir`; the parent publishes it only after the child has exited cleanly.
* No child left behind: the parent always reaps it; if the parent itself fails or is
  interrupted while the child runs, it kills the child (SIGKILL) and reaps it first.
  The child never returns into the caller's code: it leaves through `os._exit`, so no
  `finally`, `atexit` or context-manager exit of the parent runs twice.

Small workflows (under `MIN_PARALLEL_JOBS` jobs), a single task, one usable core or no
`os.fork` write serially; `PANDA_COMPILE_WRITE_WORKERS=1` forces that.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import CompileError
from ..ir import Task

__all__ = ["MIN_PARALLEL_JOBS", "WORKERS_ENV", "write_tasks"]

R = TypeVar("R")

MIN_PARALLEL_JOBS = 20_000  # below this a fork (a few ms plus page copies) gains nothing
WORKERS_ENV = "PANDA_COMPILE_WRITE_WORKERS"
_TASK_COST = 500  # a task file and a jobs file cost about as much as this many job lines


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _wants_fork(tasks: Sequence[Task]) -> bool:
    """Whether forking a second writer is worth it (and possible) here."""
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting == "1" or not hasattr(os, "fork") or len(tasks) < 2 or _usable_cores() < 2:
        return False
    return sum(len(t.jobs) for t in tasks) >= MIN_PARALLEL_JOBS


def split_tasks(tasks: Sequence[Task]) -> tuple[list[int], list[int]]:
    """Task indexes for the parent and the child, of about equal cost, each in task order.

    Largest task first onto the lighter side (the classic greedy split); 2 sides x ~100
    tasks, so its cost does not matter.
    """
    sides: tuple[list[int], list[int]] = ([], [])
    loads = [0, 0]
    order = sorted(range(len(tasks)), key=lambda i: len(tasks[i].jobs), reverse=True)
    for index in order:
        side = 0 if loads[0] <= loads[1] else 1
        sides[side].append(index)
        loads[side] += len(tasks[index].jobs) + _TASK_COST
    return sorted(sides[0]), sorted(sides[1])


def _write_share(
    tasks: Sequence[Task], indexes: list[int], write_one: Callable[[Task], R]
) -> tuple[dict[int, R], tuple[int, BaseException] | None]:
    """Write the given tasks in order; stop at the first failure and return it with its index."""
    results: dict[int, R] = {}
    for index in indexes:
        try:
            results[index] = write_one(tasks[index])
        except Exception as exc:  # handed to the parent, which decides what to raise
            return results, (index, exc)
    return results, None


def _picklable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a `CompileError` with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return CompileError(str(exc) or type(exc).__name__)
    return exc


def _child(tasks: Sequence[Task], indexes: list[int], write_one: Callable[[Task], Any], fd: int) -> None:
    """Body of the forked writer; never returns (leaves through `os._exit`)."""
    status = 1
    try:
        # A Ctrl-C reaches the whole process group: the child just ends, the parent cleans up.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        results, failure = _write_share(tasks, indexes, write_one)
        if failure is not None:
            failure = (failure[0], _picklable(failure[1]))
        data = pickle.dumps((results, failure), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        status = 0
    finally:
        os._exit(status)


def _reap(pid: int, kill: bool) -> int:
    """Wait for the child (killing it first if asked); its exit status, -1 if already gone."""
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return -1
        except InterruptedError:
            continue
        return os.waitstatus_to_exitcode(status)


def _parallel(tasks: Sequence[Task], write_one: Callable[[Task], R]) -> list[R]:
    """Write `tasks` with a forked child taking about half of them; results in task order."""
    mine, theirs = split_tasks(tasks)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(tasks, theirs, write_one, write_fd)
    os.close(write_fd)
    reader = os.fdopen(read_fd, "rb")
    reaped = False
    try:
        results, failure = _write_share(tasks, mine, write_one)
        data = reader.read()
        code = _reap(pid, kill=False)
        reaped = True
    finally:
        reader.close()
        if not reaped:  # the parent failed or was interrupted: the child must not outlive it
            _reap(pid, kill=True)
    if code != 0 or not data:
        raise CompileError(f"the forked task writer failed (exit status {code}); nothing was written")
    child_results, child_failure = pickle.loads(data)
    failures = [f for f in (failure, child_failure) if f is not None]
    if failures:
        raise min(failures, key=lambda f: f[0])[1]
    results.update(child_results)
    return [results[i] for i in range(len(tasks))]


def write_tasks(tasks: Sequence[Task], write_one: Callable[[Task], R]) -> list[R]:
    """`[write_one(t) for t in tasks]`, on two processes when that pays off.

    `write_one` writes a task's files and returns something picklable (it is sent back
    from the child); it must write nothing that another task's call reads.
    """
    if not _wants_fork(tasks):
        return [write_one(task) for task in tasks]
    return _parallel(tasks, write_one)
