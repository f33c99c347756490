"""Fuzz test of the threat model (issue 8, part 7): mutated pickles, configs and OUTDIRs.

Every compile either succeeds, and then `panda-compile check` accepts its OUTDIR, or fails
with exit != 0 and one or two lines on stderr, never a traceback; in bounded time and memory
(tests/hardening.py's `run_bounded`); writing nothing outside its OUTDIR (every file of the
scratch folder outside OUTDIR, inputs included, is the same before and after, and the
compile runs with that folder as its cwd so a relative write or an evaluated
`touch PWNED` would show).  `check` and `diff` on a doctored OUTDIR report problems (or OK)
the same way, never hang on FIFOs or devices and write nothing at all.

Bounded for CI: derandomized, a few dozen examples per test, each a few subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler.load import model
from tests.hardening import run_bounded
from tests.load import craft

ROOT = Path(__file__).resolve().parents[1]
PICKLE = ROOT / "examples" / "drp-small" / "bps_generic_workflow.pickle"
CONFIG = ROOT / "examples" / "drp-small" / "submit.yaml"
TIMEOUT = 15.0  # per subprocess (each takes < 1 s); a hang fails the example through TimeoutExpired

FUZZ = settings(
    max_examples=int(os.environ.get("PANDA_COMPILE_FUZZ_EXAMPLES", "20")),  # more for a long local run
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: a hang would cost minutes
    report_multiple_bugs=False,
)


# ----- helpers ---------------------------------------------------------------------------------


@contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder per example (hypothesis reuses function-scoped fixtures)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        yield Path(folder)


def _state(folder: Path, exclude: Path | None = None) -> dict[str, tuple[Any, ...]]:
    """Every entry below `folder` but `exclude`: its type, size and mtime (symlinks not followed)."""
    found: dict[str, tuple[Any, ...]] = {}
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(top) / name
            if exclude is not None and (path == exclude or exclude in path.parents):
                continue
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            size = info.st_size if stat.S_ISREG(kind) else 0
            mtime = info.st_mtime_ns if stat.S_ISREG(kind) else 0
            found[str(path.relative_to(folder))] = (kind, size, mtime)
    return found


def _stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith(("Usage:", "Try "))
    ]


def _well_behaved(result: subprocess.CompletedProcess[str], what: str) -> None:
    """No traceback anywhere, at most two stderr lines, a sane exit code."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, (what, text[-3000:])
    assert result.returncode >= 0, (what, "killed by signal", result.returncode, text[-3000:])
    assert len(_stderr_lines(result)) <= 2, (what, result.stderr[-3000:])


def _compile_and_judge(folder: Path, pickle_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """Compile into folder/o/out from cwd `folder` and assert the contract; the result."""
    outdir = folder / "o" / "out"
    before = _state(folder, exclude=outdir)
    result = run_bounded(pickle_path, "--config", config, "-q", "-o", outdir, cwd=folder, timeout=TIMEOUT)
    _well_behaved(result, "compile")
    after = _state(folder, exclude=outdir)
    if result.returncode == 0:  # OUTDIR's missing parent is made on success (and only then)
        after.pop(str(outdir.parent.relative_to(folder)), None)
    assert after == before, (
        "wrote outside OUTDIR",
        sorted(set(after.items()) ^ set(before.items())),
        result.stderr,
    )
    if result.returncode == 0:
        checked = run_bounded("check", outdir, cwd=folder, timeout=TIMEOUT)
        assert checked.returncode == 0, ("compile succeeded but check fails", checked.stdout, checked.stderr)
    else:
        assert 1 <= len(_stderr_lines(result)) <= 2, result.stderr
        assert not outdir.exists(), ("a failed compile left OUTDIR", result.stderr)
    return result


# ----- (a) pickles ------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    ".",
    "..",
    "/",
    "a/b",
    "../../../../tmp/fuzz-victim",
    "/etc/passwd",
    "~",
    "\x00",
    "a\x00b",
    "a\nb",
    "{",
    "}",
    "{}",
    "{x}",
    "{qgraphFile}",
    "{curr_pipetask}",
    "{x:>900000000}",
    "{0}",
    "{" * 20_000,
    "}" * 20_000,
    "x" * 20_000,
    "<FILE:runQgraphFile>",
    "<ENV:HOME>",
    "${HOME}",
    "bpsEval(__import__('os').system, 'touch PWNED')",
    'bpsEval(os.system, "touch PWNED")',
    "é\u202e\ufeff",
    "*",
    "-o",
]

text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12))
wrong = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=4),
)
value = st.one_of(text, text, wrong)
name = st.one_of(st.sampled_from(["a1", "job_1", "isr"]), text, st.integers(min_value=-3, max_value=3))
mapping = st.one_of(
    st.dictionaries(st.one_of(text, st.integers(0, 3)), value, max_size=3),
    st.just({"qgraphFile": "q.qgraph"}),
    wrong,
)
arguments = st.one_of(
    st.just("run {qgraphFile}"),
    st.builds(lambda parts: " ".join(parts), st.lists(text, max_size=4)),
    wrong,
)


@st.composite
def workflows(draw: st.DrawFn) -> model.GenericWorkflow:
    """A one-to-three job workflow whose names, labels and values are drawn."""
    gw = model.GenericWorkflow(draw(st.one_of(st.just("fuzz"), text, wrong)))
    names: list[Any] = []
    for index in range(draw(st.integers(1, 3))):
        job_name = draw(name)
        if job_name in names:
            job_name = f"{job_name}_{index}"
        fields: dict[str, Any] = {"arguments": draw(arguments), "cmdvals": draw(mapping)}
        if draw(st.booleans()):
            fields["environment"] = draw(mapping)
        if draw(st.booleans()):
            fields[
                draw(
                    st.sampled_from(
                        [
                            "request_memory",
                            "request_cpus",
                            "queue",
                            "compute_site",
                            "number_of_retries",
                            "tags",
                            "priority",
                        ]
                    )
                )
            ] = draw(value)
        if draw(st.booleans()):
            src = draw(st.one_of(st.just("/bin/pipetask"), text, wrong))
            fields["executable"] = model.GenericWorkflowExec(
                draw(st.one_of(st.just("pipetask"), text)), src, False
            )
        job = craft.make_job(job_name, draw(st.one_of(st.just("isr"), text, st.integers(0, 2))), **fields)
        craft.add_job(gw, job, names[-1:] if names and draw(st.booleans()) else [])
        names.append(job_name)
    if draw(st.booleans()):
        gw.run_attrs[draw(st.one_of(st.just("bps_run"), text))] = draw(value)
    return gw


@FUZZ
@given(gw=workflows())
def test_drawn_workflows(gw: model.GenericWorkflow) -> None:
    with _scratch() as folder:
        try:
            data = craft.dumps(gw)
        except Exception:  # the drawn object cannot be pickled at all: nothing to feed
            return
        pickle_path = folder / "wf.pickle"
        pickle_path.write_bytes(data)
        _compile_and_judge(folder, pickle_path, CONFIG)


EXAMPLE = PICKLE.read_bytes()


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(EXAMPLE) - 1), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, len(EXAMPLE) - 1)),
    st.tuples(st.just("insert"), st.integers(0, len(EXAMPLE) - 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, len(EXAMPLE) - 1), st.integers(1, 8)),
    st.tuples(st.just("overwrite"), st.integers(0, len(EXAMPLE) - 1), st.binary(min_size=1, max_size=8)),
)


def _mutate(ops: list[tuple[Any, ...]]) -> bytes:
    """The example pickle with byte-level mutations (positions wrap to the current length)."""
    data = bytearray(EXAMPLE)
    for how, where, *arg in ops:
        where %= max(len(data), 1)
        if how == "flip" and data:
            data[where] ^= 1 << arg[0]
        elif how == "truncate":
            del data[where:]
        elif how == "insert":
            data[where:where] = arg[0]
        elif how == "delete":
            del data[where : where + arg[0]]
        elif how == "overwrite":
            data[where : where + len(arg[0])] = arg[0]
    return bytes(data)


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_example_pickle(ops: list[tuple[Any, ...]]) -> None:
    with _scratch() as folder:
        pickle_path = folder / "wf.pickle"
        pickle_path.write_bytes(_mutate(ops))
        _compile_and_judge(folder, pickle_path, CONFIG)


# ----- (b) submit configs ----------------------------------------------------------------------

KEYS = [
    "maxJobsPerTask",
    "maxPayloadsPerPandaJob",
    "computeSite",
    "computeCloud",
    "placeholderParams",
    "prodSourceLabel",
    "priority",
    "numberOfRetries",
    "uniqProcName",
    "submitPath",
    "payloadFolder",
    "fileDistributionEndPoint",
    "fileDistributionEndPointDefault",
    "runnerCommand",
    "payloadCommand",
    "jobContainer",
    "setupLSSTEnv",
    "finalJob",
    "enableJobNameMap",
    "enableQnodeMap",
    "orderIdMapFilename",
    "enableEventService",
    "maxWmsJobWalltime",
    "processingType",
    "taskType",
    "requestMemory",
    "queue",
    "pandaCompileMaxTasks",
    "pandaCompileWarnTasks",
    "pandaCompileTemplates",
    "includeConfigs",
    "pipetask",
    "isr",
    "operator",
]
CONFIG_VALUES = [
    "{uniqProcName:>900000000}",
    "{x:>900000000}",
    "{uniqProcName}{uniqProcName}{uniqProcName}",
    "{payloadCommand}",
    "{runnerCommand}",
    "{missing}",
    "{",
    "}",
    "{" * 20_000,
    "bpsEval(__import__('os').system, 'touch PWNED')",
    "bpsEval(os.system, 'touch PWNED')",
    "../../../../tmp/fuzz-victim",
    "/etc/passwd",
    "/dev/zero",
    "fifo",
    "PWNED",
    "",
    "${HOME}",
    "<ENV:HOME>",
    "x" * 50_000,
]
config_value = st.one_of(
    st.sampled_from(CONFIG_VALUES),
    st.text(max_size=10),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.lists(st.sampled_from([*CONFIG_VALUES[:8], 1, None]), max_size=3),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from([*CONFIG_VALUES[:8], 1, True]), max_size=2),
)

_LAUGHS = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)
)
RAW_SNIPPETS = [
    _LAUGHS,
    "a: &a {x: 1}\nb: *a\nc: {<<: *a, y: 2}\n",
    "a: *undefined\n",
    "a: &a [*a]\n",
    "includeConfigs: [/dev/zero]\n",
    "includeConfigs: [/proc/self/environ]\n",
    "includeConfigs: [fifo]\n",
    "includeConfigs: [.]\n",
    "includeConfigs: [sub.yaml]\n",
    "includeConfigs: [config.yaml]\n",
    "includeConfigs: [missing.yaml]\n",
    "includeConfigs: ['../../../../../../etc/passwd']\n",
    "includeConfigs: 5\n",
    "x: !include /dev/zero\n",
    "x: !!python/object/apply:os.system ['touch PWNED']\n",
    "x: !!binary aGVsbG8=\n",
    "? [a, b]\n: c\n",
    "\t\x00:\n",
    "[not, a, mapping]\n",
    "enableJobNameMap: true\norderIdMapFilename: /tmp/fuzz-victim.json\n",
    "enableJobNameMap: true\norderIdMapFilename: '../../map.json'\n",
    "finalJob: 7\n",
    "maxJobsPerTask: 1\npandaCompileMaxTasks: 3\n",
    "---\na: 1\n---\nb: 2\n",
]


@st.composite
def configs(draw: st.DrawFn) -> str:
    """YAML text: the example config included, then drawn keys and raw hostile snippets."""
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8)))
        lines.append(f"{json.dumps(key)}: {json.dumps(draw(config_value))}\n")
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(RAW_SNIPPETS)))
    include = f"includeConfigs: [{json.dumps(str(CONFIG))}]\n"
    if not any(line.startswith(("includeConfigs", '"includeConfigs"')) for line in lines):
        lines.insert(0, include)
    else:  # an odd include replaces or joins the example's: both are worth running
        lines.insert(0, include if draw(st.booleans()) else "")
    return "".join(lines)


@FUZZ
@given(text_=configs())
def test_drawn_configs(text_: str) -> None:
    with _scratch() as folder:
        os.mkfifo(folder / "fifo")
        (folder / "sub.yaml").write_text("includeConfigs: [sub.yaml]\nx: 1\n")  # a self-include loop
        config = folder / "config.yaml"
        config.write_text(text_)
        _compile_and_judge(folder, PICKLE, config)


# ----- (c) doctored OUTDIRs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example compiled once; each example doctors a copy."""
    outdir = tmp_path_factory.mktemp("fuzz-compiled") / "out"
    result = run_bounded(PICKLE, "--config", CONFIG, "-q", "-o", outdir, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert run_bounded("check", outdir, timeout=TIMEOUT).returncode == 0
    return outdir


PATH_FIELDS = ["jobs_file", "task_params_file"]
TOP_FIELDS = [
    "files_to_pre_stage",
    "maps",
    "summary_file",
    "name",
    "job_count",
    "final_task",
    "release_after",
    "tasks",
    "$schema",
    "generator",
    "jobs_schema",
]
MUST_FAIL_FIELDS = {
    "jobs_file",
    "task_params_file",
    "jobs_sha256",
    "task_params_sha256",
    "files_to_pre_stage",
    "maps",
    "tasks",
    "job_count",
}
TASK_FIELDS = ["name", "label", "job_count", "dependency_tasks", "jobs_sha256", "task_params_sha256", "work"]
OUTDIR_VALUES: list[Any] = [
    "/etc/passwd",
    "secret",
    "../secret",
    "jobs/a\n/../../../etc/passwd",
    "jobs/../../secret",
    "jobs/../workflow.json",
    "/dev/zero",
    "jobs/fifo",
    "",
    None,
    0,
    -1,
    2**70,
    [],
    {},
    ["../secret"],
    [{"file": "../secret"}],
    {"k": "~/.ssh/id_rsa", "d": "/etc"},
    {"runQgraphFile": "/etc/passwd"},
    "x" * 100_000,
]
outdir_value = st.one_of(st.sampled_from(OUTDIR_VALUES), st.text(max_size=10), st.integers())
REPLACEMENTS = [
    "symlink-secret",
    "symlink-zero",
    "symlink-loop",
    "fifo",
    "dir",
    "truncate",
    "empty",
    "deep-json",
    "delete",
    "garbage",
]


@st.composite
def doctorings(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """One or two edits: ("field", seed) edits workflow.json, ("replace", (kind, which file))."""
    edits = []
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()):
            if draw(st.booleans()):
                key = draw(st.sampled_from(PATH_FIELDS + TASK_FIELDS))
                edits.append(("field", (draw(st.integers(0, 8)), key, draw(outdir_value))))
            else:
                edits.append(("field", (None, draw(st.sampled_from(TOP_FIELDS)), draw(outdir_value))))
        else:
            which = draw(st.sampled_from(["workflow.json", "jobs", "tasks", "summary.md", "jobs/", "tasks/"]))
            edits.append(("replace", (draw(st.sampled_from(REPLACEMENTS)), which, draw(st.integers(0, 8)))))
    return edits


def _target(outdir: Path, which: str, index: int) -> Path:
    if which in ("jobs", "tasks"):
        files = sorted((outdir / which).iterdir())
        return files[index % len(files)] if files else outdir / which / "none"
    if which in ("jobs/", "tasks/"):
        return outdir / which.rstrip("/")
    return outdir / which


def _replace(path: Path, kind: str, secret: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        original = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        path.unlink()
        if kind == "truncate":
            path.write_bytes(original[: len(original) // 2])
            return
    if kind == "symlink-secret":
        path.symlink_to(secret)
    elif kind == "symlink-zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink-loop":
        path.symlink_to(path.name)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
        (path / "stray.json").write_text("{}")
    elif kind in ("truncate", "empty"):
        path.write_bytes(b"")
    elif kind == "deep-json":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "garbage":
        path.write_bytes(b"\xff\xfe{\x00" * 1000)
    # "delete": nothing more


def _doctor(outdir: Path, edits: list[tuple[str, Any]], secret: Path) -> bool:
    """Apply `edits`; whether the folder certainly differs from what the compile wrote."""
    changed = False
    for edit, arg in edits:
        if edit == "field":
            path = outdir / "workflow.json"
            if not path.is_file() or path.is_symlink():
                continue
            try:
                doc = json.loads(path.read_text())
            except ValueError:
                continue
            if not isinstance(doc, dict):
                continue
            before = json.dumps(doc, sort_keys=True)
            index, key, new = arg
            tasks = doc.get("tasks")
            if index is None or not isinstance(tasks, list) or not tasks or not isinstance(tasks[0], dict):
                doc[key] = new
            else:
                tasks[index % len(tasks)][key] = new
            after = json.dumps(doc, sort_keys=True)
            path.write_text(json.dumps(doc, indent=2))
            # a path or manifest the compile did not write must be caught; other edits (a new
            # workflow name, priority, ...) may be a valid hand edit: only bounded behaviour;
            # staging nothing is a subset of what the compile recorded
            changed = changed or (
                before != after and key in MUST_FAIL_FIELDS and (key, new) != ("files_to_pre_stage", {})
            )
        else:
            kind, which, index = arg
            _replace(_target(outdir, which, index), kind, secret)
            changed = changed or which != "summary.md"
    return changed


@FUZZ
@given(edits=doctorings())
def test_doctored_outdirs(compiled: Path, edits: list[tuple[str, Any]]) -> None:
    with _scratch() as folder:
        secret = folder / "secret"
        secret.write_text("do not ship me\n")
        outdir = folder / "out"
        shutil.copytree(compiled, outdir, symlinks=True)
        changed = _doctor(outdir, edits, secret)
        before = _state(folder)
        checked = run_bounded("check", outdir, cwd=folder, timeout=TIMEOUT)
        _well_behaved(checked, "check")
        assert checked.returncode in (0, 1), (checked.returncode, checked.stdout[-2000:], checked.stderr)
        if changed:
            assert checked.returncode == 1, ("check accepts a doctored OUTDIR", edits, checked.stdout[-2000:])
        for old, new in ((compiled, outdir), (outdir, compiled)):
            diffed = run_bounded("diff", old, new, cwd=folder, timeout=TIMEOUT)
            _well_behaved(diffed, "diff")
            assert diffed.returncode in (0, 1, 2), (diffed.returncode, diffed.stdout[-2000:], diffed.stderr)
        assert _state(folder) == before, "check or diff wrote something"
