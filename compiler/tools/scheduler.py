"""Running the selected jobs of an OUTDIR on this machine, in dependency order.

The rules are PanDA's and iDDS's as a job sees them:

* a job starts once every job it depends on (``{task, inputname}``) has succeeded;
* a failed job blocks exactly its descendants; after a failure no new job starts
  (running ones finish) unless ``--keep-going``, which runs everything not blocked;
* the final job starts once every other selected job has ended or been blocked,
  failures included (iDDS releases it when its sink tasks are terminated).

At most ``workers`` jobs run at once, each in its own folder under the scratch folder,
as ``/bin/sh -c <decoded payload>`` (what the decoder's ``os.system`` does) or, with
``--as-pilot``, ``bash -c <executable>``; each in its own process group, so a timeout or
Ctrl-C kills everything the job started. The loop polls: jobs are processes, not
threads, and a poll every few milliseconds costs nothing next to a job's run time.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import CompileError
from .commands import decoder_calls
from .decode import DecoderCall
from .plan import Plan
from .runlog import BLOCKED, FAILED, SUCCEEDED, JobRecord, RunLog, label_table
from .stage import StageError, deliver_inputs, stage_to_end_point

POLL_SECONDS = 0.01
KILL_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL of a job's process group


class RunError(CompileError):
    """A run that cannot start (scratch folder, log file, staging); nothing ran."""


@dataclass(frozen=True)
class RunOptions:
    """How jobs run (see the module doc)."""

    workers: int = 1
    keep_going: bool = False
    job_timeout: float | None = None
    as_pilot: bool = False
    progress: bool = False


@dataclass
class _Running:
    job: int
    proc: subprocess.Popen[bytes]
    start: float
    folder: Path
    output: IO[bytes]
    killed: str | None = None  # why it was signalled
    term_at: float | None = None


@dataclass
class Scheduler:
    """The state of one run: what waits, what runs, what is final."""

    plan: Plan
    order: Sequence[int]
    commands: Mapping[int, str]
    options: RunOptions
    log: RunLog
    scratch: Path
    calls: Sequence[DecoderCall]
    started_at: float = field(default_factory=time.time)
    _running: list[_Running] = field(default_factory=list)
    _ready: list[tuple[int, int]] = field(default_factory=list)
    _final: set[int] = field(default_factory=set)  # jobs whose state is decided
    _stopped: str | None = None  # why no new job starts
    _shown: bool = False
    _shown_at: float = 0.0

    def __post_init__(self) -> None:
        chosen = set(self.order)
        self._position = {job: k for k, job in enumerate(self.order)}
        self._children = self.plan.children()
        self._waiting = {j: sum(1 for p in self.plan.parents[j] if p in chosen) for j in self.order}
        final = self.plan.final_job
        self._ready = [(self._position[j], j) for j in self.order if not self._waiting[j] and j != final]
        heapq.heapify(self._ready)

    # ----- the loop ------------------------------------------------------------------------

    def run(self) -> bool:
        """Run everything; False if interrupted (Ctrl-C, SIGTERM): the rest is then blocked."""
        try:
            self._drain()
            final = self.plan.final_job
            if final is not None and final in self._waiting and final not in self._final:
                self._start(final)
                self._drain()
            return True
        except KeyboardInterrupt:
            self._kill_all("interrupted")
            self._block_rest("interrupted before it started")
            return False
        finally:
            self._clear_progress()

    def _drain(self) -> None:
        """Start what is ready (up to `workers`), reap what ended, until nothing can move."""
        while True:
            while self._ready and len(self._running) < self.options.workers and not self._stopped:
                self._start(heapq.heappop(self._ready)[1])
            if not self._running:
                break
            if not self._reap():
                self._show_progress()
                time.sleep(POLL_SECONDS)
        reason = self._stopped or "never became ready"
        for job in self.order:
            if job not in self._final and job != self.plan.final_job:
                self._record(job, BLOCKED, None, None, None, reason)

    def _start(self, job: int) -> None:
        task_index = self.plan.job_task[job]
        task = self.plan.tasks[task_index]
        folder = self.scratch / task["name"] / f"{job - self.plan.task_jobs[task_index].start:06d}"
        start = time.time()
        try:
            folder.mkdir(parents=True)
            if not self.options.as_pilot:
                deliver_inputs(self.calls[task_index], folder)
            output = open(folder / "job.log", "wb")  # noqa: SIM115 (closed when reaped)
        except (OSError, StageError) as exc:
            self._finish(job, 1, (start, time.time()), folder, f"cannot prepare its folder: {exc}")
            return
        shell = ["bash", "-c"] if self.options.as_pilot else ["/bin/sh", "-c"]
        proc = subprocess.Popen(
            [*shell, self.commands[job]],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._running.append(_Running(job, proc, start, folder, output))

    def _reap(self) -> bool:
        """Collect jobs that ended and signal those past their time; True if any ended."""
        now, ended = time.time(), False
        for run in list(self._running):
            code = run.proc.poll()
            if code is None:
                self._police(run, now)
                continue
            ended = True
            self._running.remove(run)
            run.output.close()
            if run.killed:
                _kill_group(run.proc, signal.SIGKILL)  # anything it left behind
            exit_code = 128 - code if code < 0 else code
            self._finish(run.job, exit_code, (run.start, time.time()), run.folder, run.killed)
        return ended

    def _police(self, run: _Running, now: float) -> None:
        timeout = self.options.job_timeout
        if run.killed is None and timeout is not None and now - run.start > timeout:
            run.killed, run.term_at = f"timed out after {timeout:g} s", now
            _kill_group(run.proc, signal.SIGTERM)
        elif run.term_at is not None and now - run.term_at > KILL_GRACE_SECONDS:
            _kill_group(run.proc, signal.SIGKILL)
            run.term_at = None

    # ----- outcomes ------------------------------------------------------------------------

    def _finish(
        self, job: int, exit_code: int, times: tuple[float, float], folder: Path, reason: str | None
    ) -> None:
        ok = exit_code == 0 and reason is None
        if not ok and exit_code == 0:
            exit_code = 1
        self._record(job, SUCCEEDED if ok else FAILED, exit_code, times, folder, reason)
        if job == self.plan.final_job:
            return
        if ok:
            for child in self._children[job]:
                if child in self._waiting and child not in self._final and child != self.plan.final_job:
                    self._waiting[child] -= 1
                    if self._waiting[child] == 0:
                        heapq.heappush(self._ready, (self._position[child], child))
            return
        self._block_descendants(job)
        if not self.options.keep_going and self._stopped is None:
            name = self.plan.job_name[job]
            self._stopped = f"not started: the run stopped after {name!r} failed (--keep-going runs the rest)"

    def _block_descendants(self, failed: int) -> None:
        reason = f"needs {self.plan.job_name[failed]!r}, which failed"
        stack = list(self._children[failed])
        while stack:
            job = stack.pop()
            if job in self._waiting and job not in self._final and job != self.plan.final_job:
                self._record(job, BLOCKED, None, None, None, reason)
                stack.extend(self._children[job])

    def _record(
        self,
        job: int,
        status: str,
        exit_code: int | None,
        times: tuple[float, float] | None,
        folder: Path | None,
        reason: str | None,
    ) -> None:
        self._final.add(job)
        task = self.plan.tasks[self.plan.job_task[job]]
        start, end = times if times else (None, None)
        where = str(folder) if folder else None
        record = JobRecord(
            task["name"], task["label"], self.plan.job_name[job], status, exit_code, start, end, where, reason
        )
        self.log.add(record)

    def _kill_all(self, why: str) -> None:
        """Stop every running job: SIGTERM to its group, SIGKILL after the grace period."""
        for run in self._running:
            run.killed = why
            _kill_group(run.proc, signal.SIGTERM)
        deadline = time.time() + KILL_GRACE_SECONDS
        while self._running and time.time() < deadline:
            with contextlib.suppress(KeyboardInterrupt):
                if not self._reap():
                    time.sleep(POLL_SECONDS)
        for run in self._running:
            _kill_group(run.proc, signal.SIGKILL)
            run.proc.wait()
        self._reap()

    def _block_rest(self, reason: str) -> None:
        for job in self.order:
            if job not in self._final:
                self._record(job, BLOCKED, None, None, None, reason)

    # ----- progress ------------------------------------------------------------------------

    def _show_progress(self) -> None:
        now = time.time()
        if not self.options.progress or now - self._shown_at < 0.2:
            return
        counts = self.log.counts()
        line = (
            f"\r{len(self._final)}/{len(self.order)} done: {counts[SUCCEEDED]} succeeded, "
            f"{counts[FAILED]} failed, {counts[BLOCKED]} blocked; {len(self._running)} running, "
            f"{now - self.started_at:.0f} s"
        )
        sys.stderr.write(line + "\033[K")
        sys.stderr.flush()
        self._shown, self._shown_at = True, now

    def _clear_progress(self) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# ----- the command ---------------------------------------------------------------------


def _scratch_folder(outdir: Path, scratch: str | None) -> Path:
    """The given scratch folder (created; must be empty), or a new one beside OUTDIR."""
    if scratch is None:
        return Path(tempfile.mkdtemp(prefix=f"{outdir.name}.run-", dir=outdir.parent))
    path = Path(scratch)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise RunError(f"--scratch {scratch}: not empty (job folders of an earlier run?)")
    except OSError as exc:
        raise RunError(f"--scratch {scratch}: {exc.strerror or exc}") from None
    return path


def _stage(plan: Plan, calls: Sequence[DecoderCall]) -> None:
    """``files_to_pre_stage`` to every end point the tasks' decoders fetch from."""
    files = plan.doc["files_to_pre_stage"]
    for end_point in dict.fromkeys(call.end_point for call in calls):
        try:
            stage_to_end_point(files, end_point)
        except StageError as exc:
            raise RunError(str(exc)) from None


def _prepare(plan: Plan, flags: Mapping[str, Any]) -> tuple[Path, Path, Sequence[DecoderCall]]:
    """(log path, scratch folder, decoder calls), files staged; nothing left behind on error."""
    outdir = Path(os.path.abspath(plan.outdir))
    log_path = Path(flags["log"]) if flags.get("log") else outdir.parent / f"{outdir.name}.run.jsonl"
    if not log_path.parent.is_dir():
        raise RunError(f"--log {log_path}: its folder does not exist")
    calls = decoder_calls(plan)
    scratch = _scratch_folder(outdir, flags.get("scratch"))
    try:
        _stage(plan, calls)
    except BaseException:
        if flags.get("scratch") is None:
            scratch.rmdir()  # the new, still empty default folder
        raise
    return log_path, scratch, calls


def run_and_report(
    plan: Plan, order: Sequence[int], commands: Mapping[int, str], flags: Mapping[str, Any]
) -> int:
    """The `run` command after planning: stage, run, log, print the table; the exit status."""
    log_path, scratch, calls = _prepare(plan, flags)
    progress = flags.get("progress")
    options = RunOptions(
        workers=flags.get("workers") or 1,
        keep_going=bool(flags.get("keep_going")),
        job_timeout=flags.get("job_timeout"),
        as_pilot=bool(flags.get("as_pilot")),
        progress=sys.stderr.isatty() if progress is None else bool(progress),
    )
    try:
        stream = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise RunError(f"--log {log_path}: {exc.strerror or exc}") from None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with stream:
            log = RunLog(stream)
            finished = Scheduler(plan, order, commands, options, log, scratch, calls).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(label_table(log.records))
    print(f"log: {log_path}\nscratch: {scratch}")
    if not finished:
        print("interrupted: running jobs were killed", file=sys.stderr)
        return 130
    return 0 if log.counts()[SUCCEEDED] == len(order) else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
