"""How long `panda-compile run --dry-run` takes on a big compiled workflow.

`run --dry-run` reads an OUTDIR (after the full `check`), orders its jobs and decodes
every job's command as the edge-node decoder would; the budget is "seconds" at 30k jobs.
This compiles a generated workflow (cached pickle, as bench_compile.py makes it) into a
temporary OUTDIR, then times, in this process: `check`, reading the plan (check
included), the run order, decoding every command, and writing the JSON lines; and the
whole CLI command in a child process (what an operator waits for).

Usage::

    python benchmarks/bench_run_dry.py [N] [--seed 0] [--cache-dir /tmp/panda-compile-bench]

Nothing asserts on the figures; the machine is shared, expect +-20 %.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_compile import DEFAULT_CACHE, DEFAULT_CONFIG, ensure_pickle  # noqa: E402


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_jobs", nargs="?", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE)
    args = parser.parse_args()

    from compiler import compile_workflow, write_outdir
    from compiler.tools.check import check_outdir
    from compiler.tools.commands import job_commands
    from compiler.tools.plan import load_plan, run_order, select_jobs
    from compiler.tools.run import write_dry_run

    pickle_path, _ = ensure_pickle(args.n_jobs, args.seed, args.cache_dir)
    with tempfile.TemporaryDirectory(prefix="bench-run-dry-") as tmp:
        outdir = Path(tmp) / "out"
        write_outdir(compile_workflow(pickle_path, DEFAULT_CONFIG, submit_path=outdir), outdir)
        t_check, problems = _timed(lambda: check_outdir(outdir))
        assert not problems, problems[:3]
        t_plan, plan = _timed(lambda: load_plan(outdir))
        t_order, order = _timed(lambda: run_order(plan, select_jobs(plan)))
        t_decode, commands = _timed(lambda: job_commands(plan, order, os.environ))
        sink = io.StringIO()
        t_write, _ = _timed(lambda: write_dry_run(plan, order, commands, sink, True))
        command = [sys.executable, "-m", "compiler", "run", str(outdir), "--dry-run", "--json"]
        t_cli, result = _timed(lambda: subprocess.run(command, capture_output=True, check=True))
    size = len(sink.getvalue()) / 1e6
    print(f"jobs: {len(plan.job_name):,} in {len(plan.tasks)} tasks; {size:.1f} MB of JSON lines")
    print(f"check            {t_check:7.2f} s")
    print(f"plan (w/ check)  {t_plan:7.2f} s")
    print(f"run order        {t_order:7.2f} s")
    print(f"decode commands  {t_decode:7.2f} s")
    print(f"JSON lines       {t_write:7.2f} s")
    print(f"CLI, end to end  {t_cli:7.2f} s  ({len(result.stdout.splitlines()):,} lines)")


if __name__ == "__main__":
    main()
