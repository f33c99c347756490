"""Custom jobs (`bps submitcmd`): ours equals the reference on a workflow ctrl_bps builds.

The workflow comes from ctrl_bps's own `create_custom_workflow` on a config with a script
and an input file. The reference uploads its archive during `prepare`; here its upload is
replaced by a function that records the archive and answers a cache URL, and our
executables get that URL where they carry the placeholder (submit fills it in).

The reference archives the executable's *name* relative to the current directory (a
deliberate difference: we archive its `src_uri`), so it runs from the submit folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from compiler import compile_workflow, write_outdir
from compiler.tools.check import check_outdir
from tests.conftest import SUBMIT_EXAMPLE

CACHE = "https://cache.test/server/panda/cache/"


def custom_config(tmp: Path, arguments: str = "{inputFile} --x 1") -> Path:
    """A submit YAML for `bps submitcmd`: a script, an input file, the example site config."""
    script = tmp / "hello.sh"
    script.write_text('#!/bin/bash\necho hello "$@"\n')
    script.chmod(0o755)
    (tmp / "input.txt").write_text("data\n")
    submit = tmp / "submit"
    submit.mkdir()
    path = tmp / "custom.yaml"
    lines = [
        f"includeConfigs: [{json.dumps(str(SUBMIT_EXAMPLE))}]",
        "uniqProcName: custom_run_1",
        f"submitPath: {json.dumps(str(submit))}",
        "payloadName: custom",
        "customJob:",
        f"  executable: {json.dumps(str(script))}",
        f"  arguments: {json.dumps(arguments)}",
        "  requestMemory: 3000",
        "  inputs:",
        f"    inputFile: {json.dumps(str(tmp / 'input.txt'))}",
        '  processingType: ""',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def custom_workflow(config_path: Path) -> tuple[Any, Any]:
    """ctrl_bps's custom GenericWorkflow and its config (it copies the files into submitPath)."""
    from lsst.ctrl.bps import BpsConfig
    from lsst.ctrl.bps.construct import create_custom_workflow

    return create_custom_workflow(BpsConfig(str(config_path)))


def run_reference_custom(reference: Any, gw: Any, config: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The reference's prepare with its cache upload recorded; (summary, archive path)."""
    import lsst.ctrl.bps.panda.utils as utils
    from lsst.ctrl.bps.panda import PanDAService

    uploaded: list[str] = []

    def record_upload(filename: str) -> str:
        uploaded.append(filename)
        return CACHE + os.path.basename(filename)

    monkeypatch.setattr(utils, "copy_files_to_pandacache", record_upload)
    submit = config["submitPath"]
    monkeypatch.chdir(submit)  # the reference archives executables by name from here
    workflow = PanDAService(config).prepare(config, gw, submit)
    monkeypatch.chdir(Path(__file__).parent)
    assert len(uploaded) == 1
    return reference.reference_summary(workflow), uploaded[0]


def members(data: bytes) -> dict[str, tuple[bytes, int]]:
    """Name -> (content, executable bit) of every member of a tar.gz."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        out = {}
        for info in tar.getmembers():
            fh = tar.extractfile(info)
            assert fh is not None
            out[info.name] = (fh.read(), info.mode & 0o100)
        return out


def test_custom_job_equals_reference(tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gw, config = custom_workflow(custom_config(tmp_path))
    ref, ref_archive = run_reference_custom(reference, gw, config, monkeypatch)
    ours_dir = tmp_path / "ours"
    compiled = compile_workflow(gw, config, submit_path=ours_dir)
    write_outdir(compiled, ours_dir)
    assert check_outdir(ours_dir) == []
    doc = json.loads((ours_dir / "workflow.json").read_text())
    archive = doc["archive"]
    ref_url = CACHE + os.path.basename(ref_archive)

    (ref_work,) = ref["works"]
    (task,) = doc["tasks"]
    assert task["name"] == ref_work["name"] == "custom_run_1_01_customJob_01"
    ours_work = dict(task["work"])
    assert archive["placeholder"] in ours_work["executable"]
    ours_work["executable"] = ours_work["executable"].replace(archive["placeholder"], ref_url)
    expected = {k: v for k, v in ref_work["work"].items() if k != "task_name"}
    assert ours_work == expected
    assert ours_work["task_rss"] == 3000  # the customJob section's value reached the task
    assert task["dependency_tasks"] == ref_work["dependency_tasks"] == []
    with open(ours_dir / task["jobs_file"]) as fh:
        assert [json.loads(line) for line in fh] == ref_work["dependency_map"]
    assert doc["files_to_pre_stage"] == ref["files_to_pre_stage"]
    assert doc["final_task"] is None and ref["final_tasks"] == []

    # the archive: the same members with the same contents and modes as the reference's
    data = (ours_dir / archive["file"]).read_bytes()
    assert members(data) == members(Path(ref_archive).read_bytes())
    assert archive["members"] == ["hello.sh"]
    assert archive["sha256"] == hashlib.sha256(data).hexdigest() and archive["size"] == len(data)


def test_decoded_command_is_the_reference(
    tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line the edge node runs (hex in the executable) is the reference's."""
    gw, config = custom_workflow(custom_config(tmp_path, arguments="{inputFile} --flag <ENV:USER>"))
    ref, _ = run_reference_custom(reference, gw, config, monkeypatch)
    compiled = compile_workflow(gw, config, submit_path=tmp_path / "ours")
    (task,) = compiled.workflow.tasks
    hex_of = bytes.hex(task.command_line.encode())
    assert hex_of in ref["works"][0]["work"]["executable"]
    assert task.command_line.startswith("./hello.sh <FILE:inputFile> --flag ")


def test_archive_bytes_are_stable(tmp_path: Path, reference: Any) -> None:
    """Two compiles (one after touching the script) write the same archive, byte for byte."""
    gw, config = custom_workflow(custom_config(tmp_path))
    first = tmp_path / "one"
    write_outdir(compile_workflow(gw, config, submit_path=first), first)
    script = Path(gw.get_job("hello.sh").executable.src_uri)
    os.utime(script, (1, 1))  # a different mtime must not change the archive
    second = tmp_path / "two"
    write_outdir(compile_workflow(gw, config, submit_path=second), second)
    one, two = (json.loads((d / "workflow.json").read_text())["archive"] for d in (first, second))
    assert one == two
    assert (first / one["file"]).read_bytes() == (second / two["file"]).read_bytes()
    with tarfile.open(first / one["file"], "r:gz") as tar:
        (info,) = tar.getmembers()
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
    assert (first / one["file"]).read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime
    # a changed script is a different archive, under another name
    script.write_text("#!/bin/bash\necho changed\n")
    third = tmp_path / "three"
    write_outdir(compile_workflow(gw, config, submit_path=third), third)
    assert json.loads((third / "workflow.json").read_text())["archive"]["file"] != one["file"]


def test_check_and_dry_run_of_a_custom_outdir(tmp_path: Path, reference: Any) -> None:
    """`check` refuses a changed archive; `submit --dry-run` lists the upload and stages nothing."""
    from compiler.runtime.operations import submit_plan

    gw, config = custom_workflow(custom_config(tmp_path))
    outdir = tmp_path / "ours"
    write_outdir(compile_workflow(gw, config, submit_path=outdir), outdir)
    archive = json.loads((outdir / "workflow.json").read_text())["archive"]
    plan = submit_plan(outdir, config)
    assert plan["stage"] == [] and plan["upload"]["file"] == archive["file"]
    (outdir / archive["file"]).write_bytes(b"something else")
    (problem,) = check_outdir(outdir)
    assert archive["file"] in str(problem) and "changed since compiling" in str(problem)
    (outdir / archive["file"]).unlink()
    (problem,) = check_outdir(outdir)
    assert "cannot be read" in str(problem)
