"""Write a generated GenericWorkflow pickle, the way ``bps`` saves ``bps_generic_workflow.pickle``.

Why: the compiler and the reference both start from a pickle on disk in real use, so
benchmarks and manual comparisons need the same kind of file at chosen sizes.

Usage::

    python benchmarks/make_workflow.py 100000 /tmp/gw_100k.pickle [--seed 3] [--random]
        [--style brief|transform] [--global-fanin] [--no-final] [--uuid-tags] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Needs the sys.path entry above when run as a script.
from workflows import (
    DEFAULT_NAME,
    WorkflowOptions,
    job_count,
    make_random_workflow,
    make_workflow,
)


def write_workflow_pickle(gw: object, path: str) -> int:
    """Pickle ``gw`` to ``path`` with the highest protocol (as ctrl_bps does); returns bytes."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        pickle.dump(gw, fh, pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # never leave a half-written cache file behind
    return os.path.getsize(path)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_jobs", type=int, help="approximate number of jobs (1000 ... 1000000)")
    parser.add_argument("out", help="output pickle path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=DEFAULT_NAME, help="workflow name (uniqProcName)")
    parser.add_argument("--random", action="store_true", help="random DAG instead of the DRP shape")
    parser.add_argument("--style", choices=("brief", "transform"), default="brief")
    parser.add_argument("--global-fanin", action="store_true", help="add a fan-in over all visits")
    parser.add_argument("--no-final", action="store_true", help="omit the finalJob")
    parser.add_argument("--uuid-tags", action="store_true", help="uuid.UUID objects in job tags")
    parser.add_argument("--detectors", type=int, default=100, help="detectors per visit (DRP shape)")
    parser.add_argument("--meta-json", help="also write jobs/labels/size/timings as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate, pickle, and print one summary line."""
    args = _parse(argv)
    options = WorkflowOptions(
        detectors=args.detectors,
        global_fanin=args.global_fanin,
        style=args.style,
        uuid_tags=args.uuid_tags,
    )
    build = make_random_workflow if args.random else make_workflow
    t0 = time.perf_counter()
    gw = build(args.n_jobs, seed=args.seed, name=args.name, final=not args.no_final, options=options)
    t1 = time.perf_counter()
    size = write_workflow_pickle(gw, args.out)
    t2 = time.perf_counter()
    meta = {
        "jobs": job_count(gw),
        "labels": list(gw.labels),
        "generate_s": t1 - t0,
        "pickle_s": t2 - t1,
        "bytes": size,
    }
    if args.meta_json:
        with open(args.meta_json, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
    print(
        f"{args.out}: {meta['jobs']} jobs, labels {meta['labels']}, generate {t1 - t0:.2f} s, "
        f"pickle {t2 - t1:.2f} s, {size / 2**20:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
