"""How much writing OUTDIR adds to a compile, and what validating it costs.

The issue's budget: writing the output for 100k jobs adds no more than 1x the compile
time. This compiles a generated workflow (cached pickle, as bench_compile.py makes it),
then writes it the way the CLI does (pickle digest, bundled templates) and reports:

* compile (the passes, after load) against write, and their ratio;
* the parts of the write: jobs files, task files, name maps, workflow.json (+ schema),
  summary, input digest (pickle bytes; and the DAG digest the API uses instead);
* validation strategies for the dependency-map lines: what the writer does (type sweep
  plus a few sampled lines per file), a full fast-acceptor pass (what `check` does), and
  jsonschema on every line (measured on a sample, extrapolated);
* `panda-compile check` on the written folder.

Usage::

    python benchmarks/bench_write.py [N] [--maps] [--config SUBMIT.yaml] [--seed 0]
        [--cache-dir /tmp/panda-compile-bench]

Nothing asserts on the figures; the machine is shared, expect +-20 %.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
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

SAMPLE_LINES = 2000


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _config(base: str, maps: bool, folder: Path) -> str:
    if not maps:
        return base
    path = folder / "submit.yaml"
    path.write_text(f'includeConfigs: ["{base}"]\nenableJobNameMap: true\nenableQnodeMap: true\n')
    return str(path)


def write_parts(wf: Any, folder: Path, digest: str) -> dict[str, float]:
    """The writer's steps one by one, into an empty folder (same calls as write_documents)."""
    from compiler.emit import writer
    from compiler.emit.summary import render_summary, summary_context
    from compiler.emit.task_files import write_task_file
    from compiler.emit.validate import WORKFLOW_SCHEMA, document_problems

    parts: dict[str, float] = {}
    env = writer.environment(None)
    (folder / "jobs").mkdir()
    (folder / "tasks").mkdir()
    parts["jobs: value sweep + name escaping"], jobs_writer = _timed(lambda: writer._JobsWriter(wf))
    start = time.perf_counter()
    shas = {
        t.name: jobs_writer.write_task(t, folder / writer.jobs_file(t), writer.jobs_file(t))
        for t in wf.all_tasks()
    }
    parts["jobs: lines + sha256 + sampled validation"] = time.perf_counter() - start
    start = time.perf_counter()
    files = {
        t.name: writer.TaskFiles(shas[t.name], write_task_file(wf, t, folder, env, digest))
        for t in wf.all_tasks()
    }
    parts["task files: render + parse + schema"] = time.perf_counter() - start
    parts["name maps: build + fast check + write"], maps = _timed(lambda: writer.write_maps(wf, folder))
    doc = writer.workflow_document(wf, digest, files, maps)
    parts["workflow.json: schema"], _ = _timed(
        lambda: document_problems(WORKFLOW_SCHEMA, doc, "workflow.json")
    )
    parts["summary.md: render"], _ = _timed(lambda: render_summary(env, summary_context(wf, digest, maps)))
    return parts


def line_validation(outdir: Path) -> dict[str, float]:
    """Costs of validating every dependency-map line, three ways (seconds for all lines)."""
    from compiler.emit.validate import JOBS_ENTRY_SCHEMA, entry_ok, validator

    lines = [line for path in sorted((outdir / "jobs").glob("*.jsonl")) for line in path.open("rb")]
    parse, entries = _timed(lambda: [json.loads(line) for line in lines])
    fast, _ = _timed(lambda: all(entry_ok(e) for e in entries))
    schema = validator(JOBS_ENTRY_SCHEMA)
    sample = entries[:SAMPLE_LINES]
    slow, _ = _timed(lambda: all(schema.is_valid(e) for e in sample))
    return {
        "lines": len(lines),
        "json.loads every line": parse,
        "fast acceptor on every line": fast,
        "jsonschema on every line (extrapolated)": slow * len(entries) / max(len(sample), 1),
    }


def run(n_jobs: int, seed: int, cache_dir: str, maps: bool, config: str = DEFAULT_CONFIG) -> None:
    """Compile, write as the CLI does, time the parts and the validations, print a report."""
    from compiler import compile_workflow
    from compiler.emit.provenance import dag_digest, pickle_digest
    from compiler.emit.writer import write_outdir
    from compiler.tools.check import check_outdir

    pickle_path, meta = ensure_pickle(n_jobs, seed, cache_dir)
    tmp = Path(tempfile.mkdtemp(prefix="bench-write-", dir=cache_dir))
    try:
        compiled = compile_workflow(pickle_path, _config(os.path.abspath(config), maps, tmp))
        compile_time = sum(v for k, v in compiled.timings.items() if k != "load")
        gc.disable()  # as api.write_outdir and the CLI do
        digest_time, digest = _timed(lambda: pickle_digest(pickle_path))
        write_time, _ = _timed(lambda: write_outdir(compiled.workflow, tmp / "out", input_digest=digest))
        dag_time, _ = _timed(lambda: dag_digest(compiled.workflow))
        parts = write_parts(compiled.workflow, _fresh(tmp / "parts"), digest)
        gc.enable()
        check_time, problems = _timed(lambda: check_outdir(tmp / "out"))
        lines = line_validation(tmp / "out")
        size = sum(p.stat().st_size for p in (tmp / "out").rglob("*") if p.is_file()) / 2**20
        _report(
            meta,
            compile_time,
            write_time + digest_time,
            digest_time,
            dag_time,
            parts,
            lines,
            check_time,
            size,
        )
        print(f"check: {len(problems)} problem(s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _report(
    meta: dict[str, Any],
    compile_time: float,
    write_time: float,
    digest_time: float,
    dag_time: float,
    parts: dict[str, float],
    lines: dict[str, float],
    check_time: float,
    size: float,
) -> None:
    print(f"{meta.get('jobs', '?')} jobs; OUTDIR {size:.1f} MiB")
    print(f"  compile (passes, after load)   {compile_time:7.3f} s")
    print(
        f"  write (as the CLI does)        {write_time:7.3f} s   = {write_time / compile_time:.2f} x compile"
    )
    print(f"    input digest (pickle bytes)  {digest_time:7.3f} s   (DAG digest, API path: {dag_time:.3f} s)")
    for name, seconds in parts.items():
        print(f"    {name:<42} {seconds:7.3f} s")
    print(f"  validating all {int(lines['lines'])} dependency-map lines:")
    for name, seconds in lines.items():
        if name != "lines":
            print(f"    {name:<42} {seconds:7.3f} s")
    print(f"  panda-compile check            {check_time:7.3f} s")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE)
    parser.add_argument("--maps", action="store_true", help="enableJobNameMap and enableQnodeMap on")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="submit YAML (default: submit-example.yaml)")
    args = parser.parse_args(argv)
    os.makedirs(args.cache_dir, exist_ok=True)
    run(args.jobs, args.seed, args.cache_dir, args.maps, args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
