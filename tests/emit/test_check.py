"""`panda-compile check`: silent on what the compiler writes, precise on hand-broken copies."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import compile_workflow
from compiler import write_outdir as api_write_outdir
from compiler.emit.writer import write_outdir
from compiler.ir import PayloadOptions
from compiler.passes.pipeline import run_pipeline
from compiler.tools.check import check_outdir
from tests.irbuild import RUNNER
from tests.irbuild import workflow as ir_workflow
from tests.test_properties import random_dag

from .conftest import config_with, run_cli

P = "u_someone_DRP_20250601T000000Z"
INIT, ISR1, ISR2, CHAR1 = (
    f"{P}_01_pipetaskInit_01",
    f"{P}_02_isr_01",
    f"{P}_03_isr_02",
    f"{P}_04_characterizeImage_01",
)


def _problems(folder: Path) -> list[str]:
    return [str(p) for p in check_outdir(folder)]


def _edit_json(path: Path, change: Callable[[Any], None], indent: int | None = 2) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=indent) + "\n")


def _edit_line(path: Path, number: int, change: Callable[[dict[str, Any]], None]) -> None:
    lines = path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[number - 1])
    change(entry)
    lines[number - 1] = json.dumps(entry) + "\n"
    path.write_text("".join(lines))


def test_compiled_folders_pass(example_outdir: Path, maps_outdir: Path) -> None:
    assert check_outdir(example_outdir) == []
    assert check_outdir(maps_outdir) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dag(), st.integers(1, 5), st.booleans(), st.booleans())
def test_check_passes_on_random_compiled_dags(g: Any, max_jobs: int, final: bool, maps: bool) -> None:
    """Noops, groups, waves, jobs depending on jobs of their own task, event service, maps."""
    labels = sorted({j.label for j in g.jobs})
    payload = PayloadOptions(
        runner_command=RUNNER,
        job_name_map=maps,
        qnode_map=maps,
        event_service=((labels[0], 3),) if maps else (),
    )
    wf = run_pipeline(ir_workflow(g, final=final, max_jobs=max_jobs, payload=payload)).workflow
    with tempfile.TemporaryDirectory() as tmp:
        out = write_outdir(wf, Path(tmp) / "out")
        assert _problems(out) == []


def test_deleted_task_file(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    (folder / "tasks" / f"{ISR1}.json").unlink()
    assert _problems(folder) == [f"workflow.json:tasks[1].task_params_file: tasks/{ISR1}.json does not exist"]


def test_deleted_jobs_file(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    (folder / "jobs" / f"{INIT}.jsonl").unlink()
    assert _problems(folder) == [f"workflow.json:tasks[0].jobs_file: jobs/{INIT}.jsonl does not exist"]


def test_dangling_dependency_task(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_line(folder / "jobs" / f"{CHAR1}.jsonl", 5, lambda e: e["dependencies"][0].update(task="nope"))
    problems = _problems(folder)
    assert problems[0] == f"jobs/{CHAR1}.jsonl:5:dependencies[0].task: no task named 'nope'"
    assert problems[1].startswith(f"workflow.json:tasks[3].jobs_sha256: jobs/{CHAR1}.jsonl has SHA-256 ")
    assert len(problems) == 2


def test_dangling_pseudo_input(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_line(folder / "jobs" / f"{ISR2}.jsonl", 2, lambda e: e["dependencies"][0].update(inputname="ghost"))
    problems = _problems(folder)
    assert problems[0] == f"jobs/{ISR2}.jsonl:2:dependencies[0].inputname: task '{INIT}' has no job 'ghost'"


def test_dependency_task_not_listed_or_unknown(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_json(folder / "workflow.json", lambda d: d["tasks"][3]["dependency_tasks"].__setitem__(0, "ghost"))
    problems = _problems(folder)
    assert problems[0] == "workflow.json:tasks[3].dependency_tasks[0]: no task named 'ghost'"
    assert (
        problems[1]
        == f"jobs/{CHAR1}.jsonl:1:dependencies[0].task: '{ISR1}' is not in tasks[3].dependency_tasks"
    )
    assert len(problems) == 1 + 33  # one per line of the task


def test_schema_violation_in_workflow_json(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_json(folder / "workflow.json", lambda d: d["tasks"][1].update(job_count="33"))
    assert _problems(folder) == ["workflow.json:tasks[1].job_count: '33' is not of type 'integer'"]


def test_schema_violation_in_a_jobs_line(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_line(folder / "jobs" / f"{ISR1}.jsonl", 3, lambda e: e.update(order_id=-1))
    problems = _problems(folder)
    assert problems[0] == f"jobs/{ISR1}.jsonl:3:order_id: -1 is less than the minimum of 0"


def test_schema_violation_in_a_task_file(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_json(folder / "tasks" / f"{ISR1}.json", lambda d: d["task_params"].pop("vo"))
    problems = _problems(folder)
    assert problems[0].startswith("workflow.json:tasks[1].task_params_sha256: ")
    assert problems[1] == f"tasks/{ISR1}.json:task_params: 'vo' is a required property"


def test_wrong_job_count(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    path = folder / "jobs" / f"{ISR2}.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    problems = _problems(folder)
    assert problems[0] == f"workflow.json:tasks[2].job_count: 33 but jobs/{ISR2}.jsonl has 32 entries"
    assert problems[2].startswith(
        f"tasks/{ISR2}.json:task_params.pfnList: 33 names but jobs/{ISR2}.jsonl has 32"
    )


def test_wrong_total_job_count(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)
    _edit_json(folder / "workflow.json", lambda d: d.update(job_count=200))
    assert _problems(folder) == ["workflow.json:job_count: 200 but the tasks' job_count add up to 201"]


def test_task_file_disagreeing_with_its_jobs(example_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(example_outdir)

    def swap(doc: dict[str, Any]) -> None:
        pfn = doc["task_params"]["pfnList"]
        pfn[0], pfn[1] = pfn[1], pfn[0]
        doc["input_digest"] = "sha256:" + "0" * 64

    _edit_json(folder / "tasks" / f"{ISR1}.json", swap)
    first, second = [json.loads(line)["name"] for line in (folder / "jobs" / f"{ISR1}.jsonl").open()][:2]
    problems = _problems(folder)[1:]  # after the SHA-256 mismatch
    assert problems == [
        f'tasks/{ISR1}.json:input_digest: "sha256:{"0" * 64}" differs from workflow.json\'s',
        f"tasks/{ISR1}.json:task_params.pfnList[0]: '{second}' but jobs/{ISR1}.jsonl line 1 is '{first}'",
    ]


def test_unlisted_file_and_missing_summary_line(
    example_outdir: Path, copy_of: Callable[[Path], Path]
) -> None:
    folder = copy_of(example_outdir)
    (folder / "jobs" / "extra.jsonl").write_text("")
    summary = folder / "summary.md"
    summary.write_text(summary.read_text().split("\n", 1)[1])
    assert _problems(folder) == [
        "jobs/extra.jsonl: not listed in workflow.json",
        "summary.md:1: provenance line missing or different from workflow.json's header",
    ]


def test_broken_order_id_map(maps_outdir: Path, copy_of: Callable[[Path], Path]) -> None:
    folder = copy_of(maps_outdir)
    _edit_json(folder / "panda_order_id_map.json", lambda d: d["isr"].pop("3"), indent=None)
    problems = _problems(folder)
    assert (
        problems[0]
        == "workflow.json:maps[0].sha256: panda_order_id_map.json differs (edited after compiling?)"
    )
    assert problems[1] == "workflow.json:maps[0].entries: 200 but panda_order_id_map.json has 199"
    assert problems[2] == "panda_order_id_map.json: 199 entries but the jobs files have 200 jobs"
    _edit_json(folder / "panda_order_id_map.json", lambda d: d["isr"].update({"01": "x"}), indent=None)
    assert "panda_order_id_map.json:isr: '01' does not match" in "\n".join(_problems(folder))


def test_unreadable_or_foreign_workflow_json(tmp_path: Path) -> None:
    (tmp_path / "workflow.json").write_text("{not json")
    assert _problems(tmp_path)[0].startswith("workflow.json: not valid JSON: ")
    (tmp_path / "workflow.json").write_text(json.dumps({"$schema": "https://example.org/workflow-9.0.json"}))
    assert _problems(tmp_path) == [
        "workflow.json:$schema: not a panda-compile workflow-1.0.json document ('https://example.org/workflow-9.0.json')"
    ]


def test_cli_exit_status_and_one_problem_per_line(
    example_outdir: Path, copy_of: Callable[[Path], Path]
) -> None:
    ok = run_cli("check", example_outdir)
    assert ok.exit_code == 0 and ok.output.strip().endswith(": OK")
    folder = copy_of(example_outdir)
    (folder / "tasks" / f"{ISR1}.json").unlink()
    (folder / "jobs" / f"{INIT}.jsonl").unlink()
    bad = run_cli("check", folder)
    assert bad.exit_code == 1
    assert bad.stdout.splitlines() == [
        f"workflow.json:tasks[0].jobs_file: jobs/{INIT}.jsonl does not exist",
        f"workflow.json:tasks[1].task_params_file: tasks/{ISR1}.json does not exist",
    ]


GENERATED = {
    "drp-fanin-transform-style": ("make_workflow", 900, {"global_fanin": True, "style": "transform"}, {}),
    "drp-event-service-maps": (
        "make_workflow",
        600,
        {},
        {"enableEventService": "isr:4,calibrate", "maxJobsPerTask": 70},
    ),
    "random-intra-label": (
        "make_random_workflow",
        700,
        {"n_labels": 6, "max_parents": 3, "intra_label_edges": True},
        {"maxJobsPerTask": 50},
    ),
    "random-qnode-map": ("make_random_workflow", 400, {"n_labels": 4}, {"enableQnodeMap": True}),
}


@pytest.mark.parametrize("case", list(GENERATED))
def test_check_passes_on_generated_workflows(workflows: Any, tmp_path: Path, case: str) -> None:
    """Realistic workflows (ctrl_bps objects, as BPS hands them over) in several configs."""
    maker, jobs, options, keys = GENERATED[case]
    gw = getattr(workflows, maker)(jobs, seed=5, options=workflows.WorkflowOptions(**options))
    config = config_with(tmp_path, **keys)
    compiled = compile_workflow(gw, str(config), submit_path=tmp_path / "out")
    api_write_outdir(compiled, tmp_path / "out")
    assert _problems(tmp_path / "out") == []
