"""`panda-compile diff`: the changes a reviewer needs, nothing for identical folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from compiler.tools.diff import diff_outdirs

from .conftest import PICKLE, config_with, run_cli
from .test_golden import GOLDEN, PINNED_VERSION

P = "u_someone_DRP_20250601T000000Z"


def _compile(tmp: Path, name: str, **keys: object) -> Path:
    out = tmp / name
    result = run_cli(PICKLE, "--config", config_with(tmp, f"{name}.yaml", **keys), "-o", out, "-q")
    assert result.exit_code == 0, result.output
    return out


def test_identical_folders(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    assert diff_outdirs(example_outdir, copy_of(example_outdir)) == []
    result = run_cli("diff", example_outdir, example_outdir)
    assert result.exit_code == 0 and result.output == ""


def test_only_the_generator_differs_from_the_golden(example_outdir: Path) -> None:
    """Same input, same output; only the version in the headers differs (pinned in the golden)."""
    differences = [str(d) for d in diff_outdirs(GOLDEN, example_outdir)]
    assert len(differences) == 1
    assert differences[0].startswith(
        f'~ generator: {{"name": "panda-compile", "version": "{PINNED_VERSION}"}} -> '
    )


def test_rechunking_adds_removes_tasks_and_moves_jobs(tmp_path: Path, example_outdir: Path) -> None:
    new = _compile(tmp_path, "new", maxJobsPerTask=25)
    lines = [str(d) for d in diff_outdirs(example_outdir, new)]
    assert f"- tasks.{P}_04_characterizeImage_01: removed (label characterizeImage, 33 jobs)" in lines
    assert f"+ tasks.{P}_04_isr_03: added (label isr, 22 jobs)" in lines
    assert f"~ tasks.{P}_02_isr_01.job_count: 33 -> 22" in lines
    assert f"~ tasks.{P}_02_isr_01.task_params.nFiles: 33 -> 22" in lines
    assert any(
        line.startswith(f"> tasks.{P}_02_isr_01 -> tasks.{P}_03_isr_02: 11 jobs moved (e.g. ")
        for line in lines
    )
    assert f'~ final_task: "{P}_09_finalJob_01" -> "{P}_12_finalJob_01"' in lines
    result = run_cli("diff", example_outdir, new)
    assert result.exit_code == 1 and result.output.splitlines() == lines


def test_parameter_changes_key_by_key(tmp_path: Path, example_outdir: Path) -> None:
    new = _compile(tmp_path, "new", taskType="prod")
    lines = [str(d) for d in diff_outdirs(example_outdir, new)]
    assert f'~ tasks.{P}_02_isr_01.work.task_type: "test" -> "prod"' in lines
    assert f'~ tasks.{P}_02_isr_01.task_params.taskType: "test" -> "prod"' in lines
    assert not [line for line in lines if "jobs" in line.split(":")[0]]  # no job moved


def test_job_level_changes(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    new = copy_of(example_outdir)
    path = new / "jobs" / f"{P}_03_isr_02.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    entries[0]["dependencies"] = []
    removed = entries.pop()
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    lines = [str(d) for d in diff_outdirs(example_outdir, new, examples=1)]
    assert lines == [
        f"~ tasks.{P}_03_isr_02.jobs: 1 job with changed dependencies (e.g. {entries[0]['name']})",
        f"- tasks.{P}_03_isr_02.jobs: 1 job removed (e.g. {removed['name']})",
    ]


def test_unreadable_folder_is_exit_2(tmp_path: Path, example_outdir: Path) -> None:
    result = run_cli("diff", example_outdir, tmp_path)
    assert result.exit_code == 2 and "cannot read the compiled workflow" in result.output
