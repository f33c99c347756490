"""Threat model, reading side: `check`, `diff` and `submit` on a doctored OUTDIR.

`check` and `diff` read only regular files inside the folders they are given, never hang
(FIFOs, devices) and report depth or size trouble as problems; `submit` runs the whole
check before staging anything or contacting a server. Each test is a bullet of issue 8's
"Why" (ships local files, hangs, tracebacks) and failed on main before the fix.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from compiler.load import model
from tests.hardening import refusal, run_bounded
from tests.load import craft

ROOT = Path(__file__).resolve().parents[1]
PICKLE = ROOT / "examples" / "drp-small" / "bps_generic_workflow.pickle"
CONFIG = ROOT / "examples" / "drp-small" / "submit.yaml"
# A server that is certainly not there: if submit got as far as contacting it, the error
# would name the connection, not the OUTDIR problem.
NO_SERVER = {"IDDS_HOST": "https://127.0.0.1:9/idds", "PANDA_URL": "", "PANDA_URL_SSL": ""}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled") / "out"
    result = run_bounded(PICKLE, "--config", CONFIG, "-q", "-o", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture()
def doctored(compiled: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(compiled, copy)
    return copy


def _edit(folder: Path, change: object) -> dict:
    doc = json.loads((folder / "workflow.json").read_text())
    change(doc)  # type: ignore[operator]
    (folder / "workflow.json").write_text(json.dumps(doc, indent=2))
    return doc


def _check(folder: Path) -> tuple[int, str]:
    result = run_bounded("check", folder)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout


def test_staged_file_swapped_for_a_secret_is_refused_by_check_and_submit(
    doctored: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()

    def swap(doc: dict) -> None:
        doc["files_to_pre_stage"] = {"k": str(secret), "d": str(secret_dir)}

    _edit(doctored, swap)
    code, out = _check(doctored)
    assert code == 1 and "files_to_pre_stage.k" in out and "not the file the compile recorded" in out
    dest = tmp_path / "dist"
    config = tmp_path / "c.yaml"
    config.write_text(f"fileDistributionEndPoint: {json.dumps(str(dest))}\n")
    result = run_bounded("submit", doctored, "--config", config, env=NO_SERVER)
    refusal(result, "fails `panda-compile check`")
    assert not dest.exists()  # nothing staged
    assert not (doctored / "submission.json").exists()


def test_submit_dry_run_lists_what_it_would_stage(compiled: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"fileDistributionEndPoint: {json.dumps(str(tmp_path / 'dist'))}\n")
    result = run_bounded("submit", compiled, "--dry-run", "--config", config, env=NO_SERVER)
    assert result.returncode == 0, result.stderr
    doc = json.loads((compiled / "workflow.json").read_text())
    for key, source in doc["files_to_pre_stage"].items():
        assert f"would stage {key}: {source}" in result.stdout
    assert not (tmp_path / "dist").exists()


def test_recorded_staged_file_changed_after_compiling(tmp_path: Path) -> None:
    qgraph = tmp_path / "run.qgraph"
    qgraph.write_bytes(b"graph v1")
    gw = model.GenericWorkflow("staged")
    craft.add_job(gw, craft.make_job("a1", "isr", arguments="run <FILE:runQgraphFile>"))
    craft.add_files(gw, "a1", [model.GenericWorkflowFile("runQgraphFile", str(qgraph), True)], [])
    pickle = tmp_path / "gw.pickle"
    pickle.write_bytes(craft.dumps(gw))
    out = tmp_path / "out"
    result = run_bounded(pickle, "--config", CONFIG, "-q", "-o", out)
    assert result.returncode == 0, result.stderr
    staged = json.loads((out / "workflow.json").read_text())["staged_files"]
    assert staged["runQgraphFile"]["kind"] == "file" and staged["runQgraphFile"]["size"] == len(b"graph v1")
    assert _check(out)[0] == 0
    qgraph.write_bytes(b"graph v2")
    code, text = _check(out)
    assert code == 1 and "changed since compiling" in text


def test_jobs_file_with_newline_and_dotdot_is_never_read(doctored: Path) -> None:
    def point_outside(doc: dict) -> None:
        doc["tasks"][0]["jobs_file"] = "jobs/a\n/../../../etc/passwd"

    _edit(doctored, point_outside)
    code, out = _check(doctored)
    assert code == 1 and "tasks[0].jobs_file" in out and "outside" in out
    assert "root:" not in out


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink-out"])
def test_check_and_diff_never_follow_fifos_devices_or_symlinks(
    compiled: Path, doctored: Path, tmp_path: Path, kind: str
) -> None:
    doc = json.loads((doctored / "workflow.json").read_text())
    victim = doctored / doc["tasks"][0]["jobs_file"]
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "dev-zero":
        victim.symlink_to("/dev/zero")
    else:
        outside = tmp_path / "outside.jsonl"
        outside.write_text((compiled / doc["tasks"][0]["jobs_file"]).read_text())
        victim.symlink_to(outside)
    code, out = _check(doctored)  # run_bounded's timeout fails the test on a hang
    assert code == 1 and doc["tasks"][0]["jobs_file"] in out
    result = run_bounded("diff", compiled, doctored)
    assert "Traceback" not in result.stderr and result.returncode in (1, 2)


def test_deep_json_is_a_problem_not_a_traceback(doctored: Path, compiled: Path) -> None:
    (doctored / "workflow.json").write_text("[" * 100_000 + "]" * 100_000)
    code, out = _check(doctored)
    assert code == 1 and "workflow.json" in out and "deep" in out
    result = run_bounded("diff", compiled, doctored)
    refusal(result, "workflow.json")


def test_deep_json_line_in_a_jobs_file(doctored: Path) -> None:
    doc = json.loads((doctored / "workflow.json").read_text())
    jobs = doctored / doc["tasks"][0]["jobs_file"]
    jobs.write_text(jobs.read_text() + "[" * 100_000 + "]" * 100_000 + "\n")
    code, out = _check(doctored)
    assert code == 1 and "nested too deeply" in out


def test_map_file_name_outside_is_refused(doctored: Path, tmp_path: Path) -> None:
    def add_map(doc: dict) -> None:
        doc["maps"] = [
            {"kind": "qnode-map", "file": "../../etc/passwd", "schema": "x", "entries": 1, "sha256": "0" * 64}
        ]

    _edit(doctored, add_map)
    code, out = _check(doctored)
    assert code == 1 and "maps[0]" in out


@pytest.mark.parametrize("maps", ["x", None, 0, {"a": 1}, ["../secret"]])
def test_diff_on_malformed_maps_is_one_line(compiled: Path, doctored: Path, maps: object) -> None:
    _edit(doctored, lambda doc: doc.__setitem__("maps", maps))
    refusal(run_bounded("diff", compiled, doctored), "workflow.json")


def test_check_on_an_empty_task_list(doctored: Path) -> None:
    _edit(doctored, lambda doc: doc.__setitem__("tasks", []))
    code, out = _check(doctored)
    assert code == 1 and "final_task" in out


def test_final_task_and_its_release_must_agree(doctored: Path) -> None:
    """final_task null with a release list would start the final job at once (fuzz find)."""
    doc = _edit(doctored, lambda d: d.update(final_task=None))
    code, out = _check(doctored)
    assert code == 1 and "final_task: null, but release_after names tasks" in out
    doc["final_task"], doc["release_after"] = doc["tasks"][-1]["name"], []
    (doctored / "workflow.json").write_text(json.dumps(doc))
    code, out = _check(doctored)
    assert code == 1 and "release_after: empty: nothing would release the final task" in out
