"""The `panda-compile` command, run through click's CliRunner."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.passes.pipeline import DEFAULT_PIPELINE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "drp-small"
PICKLE = EXAMPLE / "bps_generic_workflow.pickle"
CONFIG = EXAMPLE / "submit.yaml"


def run(*args: object) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_compile_example_prints_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(PICKLE, "--config", CONFIG, "-o", out, "--timings")
    assert result.exit_code == 0, result.output
    assert "200 jobs in 9 PanDA tasks" in result.output
    assert "isr                            66      2  2x33" in result.output
    assert "pseudo-inputs" in result.output  # --timings
    doc = json.loads((out / "workflow.json").read_text())
    assert len(doc["tasks"]) == 9 and doc["final_task"].endswith("_09_finalJob_01")


def test_submit_directory_is_accepted(tmp_path: Path) -> None:
    submit = tmp_path / "submit"
    submit.mkdir()
    shutil.copy(PICKLE, submit / "bps_generic_workflow.pickle")
    shutil.copy(CONFIG, submit / "u_someone_DRP_config.yaml")
    result = run(submit, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert (tmp_path / "out" / "workflow.json").exists()


def test_existing_outdir_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(PICKLE, "--config", CONFIG, "-o", out, "-q").exit_code == 0
    (out / "old.txt").write_text("old")
    result = run(PICKLE, "--config", CONFIG, "-o", out)
    assert result.exit_code == 1
    assert "exists; use --force" in result.output
    assert (out / "old.txt").exists()
    assert run(PICKLE, "--config", CONFIG, "-o", out, "--force", "-q").exit_code == 0
    assert not (out / "old.txt").exists()


def test_bad_input_one_line_nonzero_no_outdir(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(b"not a pickle at all")
    out = tmp_path / "out"
    result = run(bad, "--config", CONFIG, "-o", out)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_compile_error_names_pass_and_job(tmp_path: Path) -> None:
    config = tmp_path / "no_runner.yaml"
    config.write_text(
        "computeSite: X\nfileDistributionEndPoint: file:///d/\nfinalJob: {}\nrunnerCommand: ''\n"
    )
    out = tmp_path / "out"
    result = run(PICKLE, "--config", config, "-o", out)
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "Error: command-lines: config key 'runnerCommand' is missing: it is the PanDA job's executable"
    )
    assert not out.exists()


def test_missing_placeholder_value(tmp_path: Path) -> None:
    pytest.importorskip("lsst.ctrl.bps")
    gw = pickle.loads(PICKLE.read_bytes())
    job = gw.get_job(next(n for n in gw if gw.get_job(n).label == "isr"))
    job.cmdvals = {k: v for k, v in job.cmdvals.items() if k != "qgraphNodeId"}
    path = tmp_path / "gw.pickle"
    path.write_bytes(pickle.dumps(gw))
    result = run(path, "--config", CONFIG, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"validate: job '{job.name}' (label 'isr'): command line uses {{qgraphNodeId}}" in result.output


def test_dump_after_and_stop_after(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            str(PICKLE),
            "--config",
            str(CONFIG),
            "-o",
            str(out),
            "--dump-after",
            "chunk",
            "--stop-after",
            "chunk",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "--- IR after chunk ---" in result.output
        and "task u_someone_DRP_20250601T000000Z_02_isr_01" in result.output
    )
    assert not out.exists()  # stopped before writing
    bad = run(PICKLE, "-o", out, "--dump-after", "nope")
    assert bad.exit_code == 2 and "no pass named 'nope'" in bad.output


def test_passes_lists_pipeline_in_order() -> None:
    result = run("passes")
    names = [line.split()[0] for line in result.output.strip().splitlines()]
    assert names == [p.name for p in DEFAULT_PIPELINE]
