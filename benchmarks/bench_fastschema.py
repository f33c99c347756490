"""Our compiled schema checks (`compiler/emit/fastschema.py`) against `fastjsonschema`.

Why: issue 13 asks whether the library (which compiles a schema to Python source) could
replace our own compiler, if it is at least as fast on our documents. This times both on
the documents of a compiled folder: its task files, its workflow.json and its jobs
lines, and says per schema whether fastjsonschema can compile it at all and whether it
refuses what our check refuses (a few broken variants of a real document).

    python benchmarks/bench_fastschema.py OUTDIR [--tasks 300] [--lines 20000]

Needs `fastjsonschema` (not a dependency: `pip install fastjsonschema`). fastjsonschema
knows drafts 04, 06 and 07; our schemas are 2020-12 (`$defs`, `dependentRequired`), so
it is given the same schemas with `$schema` set to draft-07, and every `$ref` resolved
through our registry's documents (`handlers`). Keywords it does not know it ignores,
which is why the refusal column matters as much as the time.
"""

from __future__ import annotations

import argparse
import copy
import glob
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compiler.emit.validate import (
    JOBS_ENTRY_SCHEMA,
    TASK_PARAMS_SCHEMA,
    WORKFLOW_SCHEMA,
    compiled,
    entry_ok,
    schema_documents,
)


def _fast_validator(schema_file: str) -> Callable[[Any], bool]:
    """A yes/no check built by fastjsonschema (draft-07 rules) for one bundled schema."""
    import fastjsonschema

    docs = {doc["$id"]: doc for doc in schema_documents().values()}

    def draft7(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "$schema": "http://json-schema.org/draft-07/schema#"}

    handlers = {"https": lambda uri: draft7(docs[uri.split("#")[0]])}
    check = fastjsonschema.compile(draft7(schema_documents()[schema_file]), handlers=handlers)

    def accepts(doc: Any) -> bool:
        try:
            check(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return accepts


def _per_call(check: Callable[[Any], bool], docs: list[Any], rounds: int = 3) -> tuple[float, bool]:
    """(best microseconds per document over `rounds`, whether all were accepted)."""
    best, ok = float("inf"), True
    for _ in range(rounds):
        start = time.perf_counter()
        results = [check(doc) for doc in docs]
        best = min(best, (time.perf_counter() - start) / len(docs) * 1e6)
        ok = all(results)
    return best, ok


def _broken(doc: dict[str, Any], kind: str) -> list[Any]:
    """A few invalid variants of a valid document (each must be refused)."""
    out = []
    for key in list(doc)[:4]:  # a required key missing
        variant = copy.deepcopy(doc)
        del variant[key]
        out.append(variant)
    variant = copy.deepcopy(doc)
    variant["unexpected_key"] = 1  # additionalProperties: false at the top
    out.append(variant)
    if kind == "task":
        variant = copy.deepcopy(doc)
        variant["task_params"]["coreCount"] = "one"
        out.append(variant)
    if kind == "entry":
        out.append({**doc, "order_id": -1})
        out.append({**doc, "dependencies": [{"task": "", "inputname": "x"}]})
    return out


def _load_inputs(outdir: str, tasks: int, lines: int) -> dict[str, list[Any]]:
    task_docs = []
    for path in sorted(glob.glob(os.path.join(outdir, "tasks", "*.json")))[:tasks]:
        with open(path, encoding="utf-8") as fh:
            task_docs.append(json.load(fh))
    with open(os.path.join(outdir, "workflow.json"), encoding="utf-8") as fh:
        workflow = json.load(fh)
    entries: list[Any] = []
    for path in sorted(glob.glob(os.path.join(outdir, "jobs", "*.jsonl"))):
        with open(path, encoding="utf-8") as fh:
            entries.extend(json.loads(line) for line in itertools.islice(fh, lines - len(entries)))
        if len(entries) >= lines:
            break
    return {"task": task_docs, "workflow": [workflow], "entry": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", help="a compiled folder (panda-compile compile -o OUTDIR)")
    parser.add_argument("--tasks", type=int, default=300, help="task files to time")
    parser.add_argument("--lines", type=int, default=20000, help="jobs lines to time")
    args = parser.parse_args()
    inputs = _load_inputs(args.outdir, args.tasks, args.lines)
    cases = [
        ("task", TASK_PARAMS_SCHEMA, compiled(TASK_PARAMS_SCHEMA)),
        ("workflow", WORKFLOW_SCHEMA, compiled(WORKFLOW_SCHEMA)),
        ("entry", JOBS_ENTRY_SCHEMA, entry_ok),  # the hand-written acceptor the writer and check use
        ("entry", JOBS_ENTRY_SCHEMA, compiled(JOBS_ENTRY_SCHEMA)),  # the compiled one, for comparison
    ]
    head = f"{'documents':>10} {'n':>6} | {'ours us':>9} {'fastjsonschema us':>18}"
    print(f"{head} | ours/fjs | refused (ours, fjs)")
    for kind, schema_file, ours in cases:
        docs = inputs[kind]
        if not docs:
            continue
        ours_us, ours_ok = _per_call(ours, docs)
        try:
            fast = _fast_validator(schema_file)
        except Exception as exc:  # the library may not compile a 2020-12 schema
            print(f"{kind:>10} {len(docs):>6} | {ours_us:9.1f} {'cannot compile':>18} | ({exc})")
            continue
        fast_us, fast_ok = _per_call(fast, docs)
        broken = _broken(docs[0], kind)
        refused = (sum(not ours(b) for b in broken), sum(not fast(b) for b in broken))
        accepted = "" if ours_ok and fast_ok else f" accepted: ours {ours_ok}, fjs {fast_ok}"
        print(
            f"{kind:>10} {len(docs):>6} | {ours_us:9.1f} {fast_us:18.1f} | {ours_us / fast_us:8.2f} "
            f"| {refused[0]}/{len(broken)}, {refused[1]}/{len(broken)}{accepted}"
        )


if __name__ == "__main__":
    main()
