"""Write a compiled workflow into OUTDIR, every document validated, all at once.

Layout (the contract downstream tools rely on; formats in `schemas/README.md`):

* `workflow.json`: header, name, total job count, tasks in iDDS order (final task last)
  with their DomaPanDAWork keyword arguments (`work`), jobs file and task file (with
  their SHA-256), final task, release set, files to pre-stage, name maps, summary file;
* `jobs/<task>.jsonl`: the task's dependency map, one entry per line, in order-id order,
  with no header line (iDDS reads every line as an entry; the header is in workflow.json);
* `tasks/<task>.json`: the task's JEDI taskParamMap from `task_params.json.j2`;
* `summary.md` from `summary.md.j2`;
* the order-id map (`enableJobNameMap`/`enableEventService`) and `qnode_map.json`
  (`enableQnodeMap`) when those are on, as the reference writes them.

Everything goes to a temporary sibling first (`atomic_outdir`); a document that fails
its schema stops the write and nothing is published. Job files are streamed: each line is
built from pre-escaped strings (every pseudo-input and task name is JSON-escaped once,
though it appears in several lines), never as a list of a million dicts. How each kind
of document is validated, and what it costs, is in `validate.py` and `_JobsWriter`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import IO, Any

import jinja2

from ..errors import CompileError
from ..ir import Task, Workflow
from ..passes.payload_common import QNODE_MAP_FILE
from ..safepath import checked_name, child
from .archive import ARCHIVE_KEY, archive_entry, write_archive
from .atomic import atomic_outdir
from .parallel import write_tasks
from .provenance import dag_digest, header, schema_id
from .staged import record_staged
from .summary import SUMMARY_FILE, SUMMARY_TEMPLATE, provenance_line, render_summary, summary_context
from .task_files import task_params_file, write_task_file
from .taskparams import TEMPLATE_NAME, _default_environment, _get_template, template_environment
from .validate import (
    JOBS_ENTRY_SCHEMA,
    WORKFLOW_SCHEMA,
    document_problems,
    entry_ok,
    entry_problems,
    map_problems,
    map_schema_id,
)

# Strings JSON writes as they are between quotes (printable ASCII but '"' and '\\').
_PLAIN_JSON = re.compile(r"[ !#-\[\]-~]*")
FLUSH_CHARS = 1 << 20  # job lines are written out once this much text is pending
SAMPLE_LINES = 2  # per jobs file: the first lines (and the last) go through the validator
TEMPLATES_CONFIG_KEY = "pandaCompileTemplates"  # BPS config key naming a site's templates folder


def jobs_file(task: Task) -> str:
    """Where a task's dependency map lives, relative to OUTDIR."""
    return f"jobs/{task.name}.jsonl"


@dataclass(frozen=True, slots=True)
class TaskFiles:
    """What the writer learnt about a task's files, for workflow.json's manifest."""

    jobs_sha256: str
    task_params_sha256: str


def _task_entry(task: Task, files: TaskFiles | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": task.name,
        "label": task.label,
        "job_count": 1 if task.is_final else len(task.jobs),
        "dependency_tasks": list(task.dependency_tasks),
        "jobs_file": jobs_file(task),
    }
    if files is not None:
        entry["jobs_sha256"] = files.jobs_sha256
        entry["task_params_file"] = task_params_file(task)
        entry["task_params_sha256"] = files.task_params_sha256
    if task.work is not None:
        entry["work"] = task.work.as_kwargs()
    return entry


def workflow_document(
    wf: Workflow,
    input_digest: str | None = None,
    files: dict[str, TaskFiles] | None = None,
    maps: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `workflow.json` document (header and manifest keys once files are written)."""
    files = files or {}
    tasks = [_task_entry(task, files.get(task.name)) for task in wf.all_tasks()]
    head = header(WORKFLOW_SCHEMA, input_digest or dag_digest(wf))
    return {
        **head,
        "name": wf.name,
        "job_count": sum(t["job_count"] for t in tasks),
        "tasks": tasks,
        "final_task": wf.final_task.name if wf.final_task else None,
        "release_after": list(wf.release_after),
        "files_to_pre_stage": dict(wf.files_to_pre_stage),
        "staged_files": record_staged(dict(wf.files_to_pre_stage), _written_maps(wf)),
        "file_distribution_end_point": wf.options.file_distribution_end_point,
        "jobs_schema": schema_id(JOBS_ENTRY_SCHEMA),
        "maps": maps or [],
        "summary_file": SUMMARY_FILE,
        **({ARCHIVE_KEY: archive_entry(wf.archive)} if wf.archive is not None else {}),
    }


def _written_maps(wf: Workflow) -> dict[str, str]:
    """Staged-file keys of the map files this compile writes: key -> file name."""
    payload = wf.options.payload
    written = {}
    if payload.job_name_map:
        written["orderIdMapFilename"] = payload.order_id_map_file
    if payload.qnode_map:
        written["qnodemap"] = QNODE_MAP_FILE
    return written


def order_id_map(wf: Workflow) -> dict[str, dict[str, str]]:
    """`{label: {order id: pseudo-input}}`: how the edge node finds a job from its short name."""
    assert wf.labels is not None and wf.pseudo_inputs is not None and wf.order_ids is not None
    out: dict[str, dict[str, str]] = {}
    for block in wf.labels:
        per_label = out.setdefault(block.label, {})
        for j in block.jobs:
            per_label[str(wf.order_ids[j])] = wf.pseudo_inputs[j]
    return out


def qnode_map(wf: Workflow) -> dict[str, str]:
    """`{PH:<job>: pseudo-input}` for enableQnodeMap."""
    assert wf.labels is not None and wf.pseudo_inputs is not None and wf.graph is not None
    jobs, pseudo = wf.graph.jobs, wf.pseudo_inputs
    return {"PH:" + jobs[j].name: pseudo[j] for block in wf.labels for j in block.jobs}


def _write_map(folder: Path, kind: str, name: str, content: Any, indent: int | None) -> dict[str, Any]:
    """Validate and write one map file; its manifest entry for workflow.json."""
    problems = map_problems(kind, content, name)
    if problems:
        raise CompileError(f"{kind} breaks its schema: {problems[0]}")
    data = json.dumps(content, indent=indent).encode("utf-8")
    with open(child(folder, name), "wb") as out:
        out.write(data)
    entries = sum(len(v) for v in content.values()) if kind == "order-id-map" else len(content)
    sha = hashlib.sha256(data).hexdigest()
    return {"kind": kind, "file": name, "schema": map_schema_id(kind), "entries": entries, "sha256": sha}


def write_maps(wf: Workflow, folder: Path) -> list[dict[str, Any]]:
    """The name-map files, when their modes are on (same content and format as the reference)."""
    payload = wf.options.payload
    maps = []
    if payload.job_name_map:
        name = payload.order_id_map_file  # a plain name (check_file_names)
        maps.append(_write_map(folder, "order-id-map", name, order_id_map(wf), None))
    if payload.qnode_map:
        maps.append(_write_map(folder, "qnode-map", QNODE_MAP_FILE, qnode_map(wf), 2))
    return maps


class _JobsWriter:
    """Streams dependency-map lines for every task from the IR's index arrays.

    Validation without parsing 10^6 lines: every line of a plain task comes from one
    f-string whose holes are JSON-escaped names and order ids. So the values that fill the
    holes are type-checked once (`_check_values`: all names non-empty strings, all order
    ids non-negative ints, about 0.01 s per 10^5 jobs), and a few written lines per file
    (the first SAMPLE_LINES and the last) are parsed and validated, which proves the
    f-string's shape. Event-service and final tasks are written from entry dicts, each
    of which passes `entry_ok` before it is written. `panda-compile check` validates
    every line.
    """

    def __init__(self, wf: Workflow) -> None:
        assert wf.pseudo_inputs is not None and wf.tasks is not None and wf.graph is not None
        self.wf = wf
        self._check_values(wf)
        names = wf.entry_names_or_pseudo()
        if all(map(_PLAIN_JSON.fullmatch, names)):
            # The usual case: no name needs escaping, so quoting is all JSON asks, and the
            # raw names are used as they are (no second copy of 10^5-10^6 strings).
            self.names: Sequence[str] = names
            self.quote = '"'
        else:
            # json.dumps(str) is this C function behind two Python calls: 0.045 s against
            # 0.065 s per 10^5 names, same text.
            self.names = list(map(encode_basestring_ascii, names))
            self.quote = ""
        self.task_names = [encode_basestring_ascii(t.name) for t in wf.tasks]

    @staticmethod
    def _check_values(wf: Workflow) -> None:
        assert wf.tasks is not None and wf.order_ids is not None
        names = wf.entry_names_or_pseudo()
        if not all(type(n) is str and n for n in names):
            raise CompileError("a dependency-map entry name is empty or not a string")
        if not all(type(o) is int and o >= 0 for o in wf.order_ids):
            raise CompileError("an order id is not a non-negative integer")
        if not all(type(t.name) is str and t.name for t in wf.tasks):
            raise CompileError("a task name is empty or not a string")

    def write_task(self, task: Task, path: Path, relative: str) -> str:
        """Write one jobs file; returns its SHA-256 (hex)."""
        digest = hashlib.sha256()
        with open(path, "wb") as out:  # lines go out in ~1 MiB chunks: no big buffer needed
            if task.is_final or (task.work is not None and task.work.es):  # rare: the plain way
                self._write_entries(task, out, digest, relative)
            else:
                self._write_lines(task, out, digest, relative)
        return digest.hexdigest()

    def _write_entries(self, task: Task, out: IO[bytes], digest: Any, relative: str) -> None:
        for number, entry in enumerate(self.wf.dependency_entries(task), start=1):
            if not entry_ok(entry):
                _raise_on(entry_problems(entry, f"{relative}:{number}"))
            data = (json.dumps(entry) + "\n").encode("utf-8")
            digest.update(data)
            out.write(data)

    def _write_lines(self, task: Task, out: IO[bytes], digest: Any, relative: str) -> None:
        wf = self.wf
        assert wf.graph is not None and wf.task_of is not None and wf.order_ids is not None
        names, task_names, task_of, q = self.names, self.task_names, wf.task_of, self.quote
        parents, order_ids = wf.graph.parents, wf.order_ids
        lines: list[str] = []
        line = ""
        pending = 0  # characters in `lines`
        for count, j in enumerate(task.jobs, start=1):
            deps = ", ".join(
                f'{{"task": {task_names[task_of[p]]}, "inputname": {q}{names[p]}{q}}}' for p in parents[j]
            )
            line = f'{{"name": {q}{names[j]}{q}, "order_id": {order_ids[j]}, "dependencies": [{deps}]}}\n'
            lines.append(line)
            pending += len(line)
            if count == SAMPLE_LINES:
                self._validate_sample(lines[:SAMPLE_LINES], relative, 1)
            # By size, not by line count: a fan-in job's line can hold thousands of
            # dependencies (3,322 lines of ~25 kB at 10^6 jobs were ~250 MB held at once).
            if pending >= FLUSH_CHARS and count >= SAMPLE_LINES:
                self._flush(lines, out, digest)
                pending = 0
        self._flush(lines, out, digest)
        if line:
            self._validate_sample([line], relative, len(task.jobs))

    @staticmethod
    def _flush(lines: list[str], out: IO[bytes], digest: Any) -> None:
        data = "".join(lines).encode("utf-8")
        digest.update(data)
        out.write(data)
        lines.clear()

    @staticmethod
    def _validate_sample(lines: list[str], relative: str, first_number: int) -> None:
        for offset, line in enumerate(lines):
            where = f"{relative}:{first_number + offset}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CompileError(f"{where}: the writer produced invalid JSON ({exc.msg})") from None
            if not entry_ok(entry):
                _raise_on(entry_problems(entry, where))


def _raise_on(problems: list[Any]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CompileError(f"output breaks its schema: {problems[0]}{more}")


def environment(templates_dir: str | os.PathLike[str] | None) -> jinja2.Environment:
    """The template environment: bundled templates, or a site's folder in front of them.

    Both templates are loaded here, so a syntax error in a site's template stops the
    compile before any file is written.
    """
    if templates_dir is None:
        env = _default_environment()
    else:
        folder = Path(templates_dir)
        if not folder.is_dir():
            raise CompileError(f"templates folder {folder} does not exist or is not a folder")
        env = template_environment(folder)
    for name in (TEMPLATE_NAME, SUMMARY_TEMPLATE):
        _get_template(env, name)
    return env


def check_file_names(wf: Workflow) -> None:
    """Every name that becomes a file name in OUTDIR is a plain name (`safepath.name_problem`).

    Run before anything is written, so a workflow named ``../../x`` or a label with a NUL
    fails naming the culprit instead of creating files elsewhere.
    """
    checked_name("workflow name", wf.name)
    for task in wf.all_tasks():
        if task.label:
            checked_name(f"label of task {task.name[:60]!r}", task.label)
        checked_name("task name", task.name)
    if wf.options.payload.job_name_map:  # written to OUTDIR and staged from the submit folder
        checked_name("orderIdMapFilename", wf.options.payload.order_id_map_file)


def write_documents(
    wf: Workflow,
    folder: Path,
    input_digest: str | None = None,
    templates_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Write and validate every document of `wf` into an (empty) folder; `check_file_names` first."""
    digest = input_digest or dag_digest(wf)
    env = environment(templates_dir)
    (folder / "jobs").mkdir()
    (folder / "tasks").mkdir()
    jobs_writer = _JobsWriter(wf)

    def write_task(task: Task) -> TaskFiles:
        relative = jobs_file(task)
        jobs_sha = jobs_writer.write_task(task, Path(child(folder, relative)), relative)
        return TaskFiles(jobs_sha, write_task_file(wf, task, folder, env, digest))

    tasks = wf.all_tasks()
    files = {task.name: found for task, found in zip(tasks, write_tasks(tasks, write_task), strict=True)}
    maps = write_maps(wf, folder)
    if wf.archive is not None:  # custom jobs: uploaded to the PanDA cache at submit
        write_archive(wf.archive, folder)
    document = workflow_document(wf, digest, files, maps)
    _raise_on(document_problems(WORKFLOW_SCHEMA, document, "workflow.json"))
    summary = render_summary(env, summary_context(wf, digest, maps))
    (folder / SUMMARY_FILE).write_text(provenance_line(document["generator"], digest) + summary, "utf-8")
    with open(folder / "workflow.json", "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")


def write_outdir(
    wf: Workflow,
    outdir: str | os.PathLike[str],
    force: bool = False,
    *,
    input_digest: str | None = None,
    templates_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write `wf` into OUTDIR atomically; returns the folder.

    `input_digest` is the pickle's (`provenance.pickle_digest`) when the workflow came
    from a file; without it the DAG digest is used. `templates_dir` holds a site's
    templates, which replace the bundled ones of the same name.
    """
    check_file_names(wf)  # before OUTDIR (or a parent folder of it) is even created
    with atomic_outdir(outdir, force=force) as tmp:
        write_documents(wf, tmp, input_digest=input_digest, templates_dir=templates_dir)
    return Path(outdir)


def configured_templates(config: Any) -> str | None:
    """The templates folder the BPS config names (`pandaCompileTemplates`), if any."""
    if config is None or not hasattr(config, "search"):
        return None
    found, value = config.search(TEMPLATES_CONFIG_KEY)
    return str(value) if found and value not in (None, "") else None
