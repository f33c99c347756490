"""`run --dry-run --json` gives, job by job, the command the stock edge-node decoder runs.

The oracle is lsst-ctrl-bps-panda's own `cmd_line_decoder.py`. First the task's
executable runs as a pilot runs it: `${IN/L}` replaced by the entry name, the whole
executable through bash in an empty folder. The stock `runnerCommand`/`payloadCommand`
start the decoder as `${CTRL_BPS_PANDA_DIR}/python/.../cmd_line_decoder.py`; there a shim
records the arguments the shell gave it. Then the real decoder runs as a script with
those arguments in that folder (files staged at the end point), `os.system` replaced by a
recorder: the oracle's answer is the exact string the decoder would execute.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.tools.decode import DecodeError, Decoder, find_decoder_call
from tests.emit.conftest import CONFIG, run_cli
from tests.tools.conftest import DIAMOND_EDGES, DIAMOND_JOBS, build_workflow, compile_to

SHIM = """import json, os, sys
with open(os.environ["ORACLE_RECORD"], "w", encoding="utf-8") as fh:
    json.dump(sys.argv, fh)
"""


def oracle_setup(tmp: Path) -> dict[str, str]:
    """CTRL_BPS_PANDA_DIR with a shim recording the decoder's argv, and a `prmon` doing nothing."""
    root = tmp / "ctrl_bps_panda"
    shim = root / "python/lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py"
    shim.parent.mkdir(parents=True)
    shim.write_text(SHIM)
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "prmon").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "prmon").chmod(0o755)
    return {**os.environ, "CTRL_BPS_PANDA_DIR": str(root), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def decoder_argv(executable: str, name: str, workdir: Path, env: dict[str, str]) -> list[str]:
    """The arguments the shell hands the decoder when a pilot runs `executable` for `name`."""
    workdir.mkdir(parents=True)
    record = workdir.parent / (workdir.name + ".argv")
    result = subprocess.run(
        ["bash", "-c", executable.replace("${IN/L}", name)],
        cwd=workdir,
        env={**env, "ORACLE_RECORD": str(record)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(record.read_text(encoding="utf-8"))


def stock_decoder_command(argv: list[str], workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the stock decoder, run as a script with `argv` in `workdir`, gives os.system.

    Run in this process (its imports are paid once): `runpy` executes the real file as
    ``__main__``, with os.system replaced by a recorder.
    """
    import lsst.ctrl.bps.panda.edgenode.cmd_line_decoder as decoder_module

    seen: list[str] = []
    monkeypatch.setattr(os, "system", lambda command: seen.append(command) or 0)
    monkeypatch.setattr(sys, "argv", [decoder_module.__file__, *argv[1:]])
    monkeypatch.chdir(workdir)
    with pytest.raises(SystemExit) as stop, contextlib.redirect_stdout(io.StringIO()):
        runpy.run_path(decoder_module.__file__, run_name="__main__")
    assert stop.value.code == 0
    assert len(seen) == 1
    return seen[0]


def stock_config(tmp: Path, **keys: Any) -> Path:
    """The example's submit YAML (stock runnerCommand and payloadCommand), runnable here."""
    lines = [
        f"includeConfigs: [{json.dumps(str(CONFIG))}]",
        'setupLSSTEnv: ""',
        "computeSite: LOCAL",
        "maxJobsPerTask: 2",
        f"fileDistributionEndPoint: {json.dumps(f'file://{tmp}/dist/')}",
        *(f"{k}: {json.dumps(v)}" for k, v in keys.items()),
    ]
    path = tmp / "submit.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("mode", ["plain", "enableJobNameMap", "enableQnodeMap"])
def test_dry_run_json_matches_stock_decoder(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, reference: Any
) -> None:
    monkeypatch.setenv("ORACLE_VAR", "from the worker's environment")
    gw = build_workflow(
        tmp_path, DIAMOND_JOBS, DIAMOND_EDGES, final=True, extra_args=" --note <ENV:ORACLE_VAR>"
    )
    config = stock_config(tmp_path, **({mode: True} if mode != "plain" else {}))
    outdir = compile_to(tmp_path, gw, config)  # type: ignore[arg-type]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run_cli("run", outdir, "--dry-run", "--json", "--max-jobs", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    doc = json.loads((outdir / "workflow.json").read_text())
    executables = {t["name"]: t["work"]["executable"] for t in doc["tasks"]}
    assert {line["task"] for line in lines} == set(executables)  # a sample of every task
    assert lines[-1]["task"] == doc["final_task"]
    (tmp_path / "dist").mkdir()
    for uri in doc["files_to_pre_stage"].values():
        shutil.copy(uri.rstrip("/"), tmp_path / "dist")
    env = oracle_setup(tmp_path)
    for k, line in enumerate(lines):
        workdir = tmp_path / "w" / str(k)
        argv = decoder_argv(executables[line["task"]], line["name"], workdir, env)
        assert line["command"] == stock_decoder_command(argv, workdir, monkeypatch)
    assert "from the worker's environment" in lines[0]["command"]


def test_find_decoder_call_reads_the_wrapped_arguments() -> None:
    call = find_decoder_call("x=1; python3 d.py 6869 ${IN/L} file:///e/  a:b.txt+c:d/ c & pJob=$!")
    assert (call.hex_command, call.end_point, call.files, call.skip_copy) == (
        "6869",
        "file:///e/",
        "a:b.txt+c:d/",
        "c",
    )
    assert call.file_map() == {"a": "b.txt", "c": "d/"}


@pytest.mark.parametrize(
    ("executable", "message"),
    [
        ("python3 d.py _cmd_line_", "no '<hex> ${IN/L}'"),
        ("d 6869 ${IN/L} file:///e/ c; d 6869 ${IN/L} x y z", "2 times"),
        ("d 6869 ${IN/L} file:///e/ cmdlineplaceholder", "4 arguments, not 5"),
        ("d 6869 ${IN/L} $HOME a:b c", "shell syntax"),
    ],
)
def test_find_decoder_call_refuses_what_it_cannot_read(executable: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message.replace("$", r"\$").replace("{", r"\{")):
        find_decoder_call(executable)


def decoder(command: str, files: str = "a:b", environ: dict[str, str] | None = None) -> Decoder:
    call = find_decoder_call(f"d {command.encode().hex()} ${{IN/L}} file:///e/ {files} x")
    return Decoder(call, environ or {}, lambda name: {"l": {"4": "j+qgraphNodeId:n4"}})


def test_decoder_steps() -> None:
    d = decoder("run <FILE:a> <ENV:V> {qgraphNodeId}", environ={"V": "v"})
    assert d.command("j+qgraphNodeId:n1") == "run b v n1"
    mapped = decoder("run {qgraphNodeId}", files="orderIdMapFilename:m.json")
    assert mapped.command("l:orderIdMap_4") == "run n4"


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (lambda: decoder("run <ENV:NOPE>"), "j", "no 'NOPE'"),
        (lambda: decoder("run <FILE:zz>"), "j", "files argument has no 'zz'"),
        (lambda: decoder("run"), "j+a:b:c", "not 'key:value'"),
        (lambda: decoder("run"), "j;rm", "shell would split"),
        (
            lambda: decoder("run", files="orderIdMapFilename:m.json"),
            "l:orderIdMap_9",
            "not in the order-id map",
        ),
    ],
)
def test_decoder_errors_name_the_piece(make: Any, name: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        make().command(name)


def test_dry_run_error_is_one_line_naming_task_and_job(tmp_path: Path) -> None:
    from tests.tools.conftest import run_config

    gw = build_workflow(tmp_path, ["a_1"], [], final=False, extra_args=" <ENV:PC_SURELY_UNSET_VAR>")
    outdir = compile_to(tmp_path, gw, run_config(tmp_path))
    result = run_cli("run", outdir, "--dry-run")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "task 'wf_run_01_a_01', job 'a_1+qgraphNodeId:a_1+qgraphId:qg-7'" in result.stderr
    assert "PC_SURELY_UNSET_VAR" in result.stderr
