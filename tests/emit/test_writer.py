"""OUTDIR as the writer leaves it: layout, headers, validation on write, templates, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import compile_workflow, load_generic_workflow, write_outdir
from compiler.emit.provenance import SCHEMA_BASE, dag_digest
from compiler.emit.taskparams import TEMPLATE_NAME, bundled_templates_dir
from compiler.emit.validate import (
    JOBS_ENTRY_SCHEMA,
    ORDER_ID_MAP_SCHEMA,
    QNODE_MAP_SCHEMA,
    TASK_PARAMS_SCHEMA,
    WORKFLOW_SCHEMA,
    validator,
)
from compiler.errors import CompileError

from .conftest import CONFIG, PICKLE, ROOT, config_with, run_cli

PICKLE_DIGEST = "sha256:" + hashlib.sha256(PICKLE.read_bytes()).hexdigest()
CONTRACT_KEYS = ("name", "tasks", "final_task", "release_after", "files_to_pre_stage")
TASK_CONTRACT_KEYS = ("name", "label", "job_count", "dependency_tasks", "jobs_file", "work")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_layout_headers_and_manifest(example_outdir: Path) -> None:
    doc = json.loads((example_outdir / "workflow.json").read_text())
    assert list(doc)[:3] == ["$schema", "generator", "input_digest"]
    assert doc["$schema"] == SCHEMA_BASE + WORKFLOW_SCHEMA and doc["generator"]["name"] == "panda-compile"
    assert doc["input_digest"] == PICKLE_DIGEST  # the CLI digests the pickle file
    assert all(key in doc for key in CONTRACT_KEYS)
    assert doc["job_count"] == 201 and doc["summary_file"] == "summary.md" and doc["maps"] == []
    for task in doc["tasks"]:
        assert all(key in task for key in TASK_CONTRACT_KEYS)
        jobs, params = example_outdir / task["jobs_file"], example_outdir / task["task_params_file"]
        assert (task["jobs_sha256"], task["task_params_sha256"]) == (_sha(jobs), _sha(params))
        lines = jobs.read_text().splitlines()
        assert len(lines) == task["job_count"]
        assert "$schema" not in json.loads(lines[0])  # no header line: iDDS reads every line
        task_doc = json.loads(params.read_text())
        assert list(task_doc) == ["$schema", "generator", "input_digest", "task", "task_params"]
        assert task_doc["$schema"] == SCHEMA_BASE + TASK_PARAMS_SCHEMA and task_doc["task"] == task["name"]
    names = sorted(p.name for p in example_outdir.iterdir())
    assert names == ["jobs", "summary.md", "tasks", "workflow.json"]
    assert len(list((example_outdir / "tasks").iterdir())) == len(doc["tasks"]) == 9
    first = (example_outdir / "summary.md").read_text().splitlines()[0]
    assert (
        first == f"<!-- panda-compile {doc['generator']['version']}; input {PICKLE_DIGEST}; do not edit -->"
    )


def test_every_document_is_schema_valid_line_by_line(maps_outdir: Path) -> None:
    """The slow, complete way: jsonschema on every document and every line."""
    doc = json.loads((maps_outdir / "workflow.json").read_text())
    validator(WORKFLOW_SCHEMA).validate(doc)
    for task in doc["tasks"]:
        validator(TASK_PARAMS_SCHEMA).validate(
            json.loads((maps_outdir / task["task_params_file"]).read_text())
        )
        for line in (maps_outdir / task["jobs_file"]).read_text().splitlines():
            validator(JOBS_ENTRY_SCHEMA).validate(json.loads(line))
    kinds = {m["kind"]: m for m in doc["maps"]}
    assert sorted(kinds) == ["order-id-map", "qnode-map"]
    for kind, schema in (("order-id-map", ORDER_ID_MAP_SCHEMA), ("qnode-map", QNODE_MAP_SCHEMA)):
        entry = kinds[kind]
        content = json.loads((maps_outdir / entry["file"]).read_text())
        validator(schema).validate(content)
        assert entry["schema"] == SCHEMA_BASE + schema and entry["sha256"] == _sha(
            maps_outdir / entry["file"]
        )
        assert entry["entries"] == 200
    summary = (maps_outdir / "summary.md").read_text()
    assert "| order-id-map | panda_order_id_map.json | 200 |" in summary
    assert "| isr | 66 | 2 | 2x33 | SLAC_Rubin | SLAC_Rubin | 2048 MB" in summary


def test_summary_shows_tasks_chunks_sites_and_memory(example_outdir: Path) -> None:
    summary = (example_outdir / "summary.md").read_text()
    assert "200 jobs in 9 PanDA tasks" in summary
    assert "| characterizeImage | 66 | 2 | 2x33 | SLAC_Rubin |" in summary
    assert "4096 MB, retry step 8192.0 MB, max 16384 MB" in summary
    assert "| 9 | u_someone_DRP_20250601T000000Z_09_finalJob_01 | finalJob | 1 |" in summary
    assert "starts once every one of these 1 task(s) has ended" in summary


def _compile_in_subprocess(out: Path, config: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "compiler", str(PICKLE), "-c", str(config), "-o", str(out), "-q", "--force"]
    subprocess.run(cmd, check=True, env=env, capture_output=True)


def test_compiling_twice_gives_byte_identical_folders(tmp_path: Path) -> None:
    """Same OUTDIR path (map paths are staged from it), different processes and hash seeds."""
    config = config_with(tmp_path, enableQnodeMap=True, enableEventService="isr:5")
    out = tmp_path / "out"
    _compile_in_subprocess(out, config, "1")
    first = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    _compile_in_subprocess(out, config, "2")
    second = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert first == second and len(first) == 2 * 9 + 4


def test_api_digest_is_the_pickles_from_a_file(tmp_path: Path) -> None:
    write_outdir(compile_workflow(str(PICKLE), str(CONFIG)), tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "workflow.json").read_text())
    assert doc["input_digest"] == "sha256:" + hashlib.sha256(PICKLE.read_bytes()).hexdigest()


def test_api_digest_is_the_dags_without_a_file(tmp_path: Path) -> None:
    compiled = compile_workflow(load_generic_workflow(PICKLE), str(CONFIG))
    write_outdir(compiled, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "workflow.json").read_text())
    assert doc["input_digest"] == dag_digest(compiled.workflow)
    assert doc["input_digest"].startswith("dag-sha256:")
    again = compile_workflow(str(PICKLE), str(CONFIG)).workflow
    assert dag_digest(again) == doc["input_digest"]
    source = again.source
    k = next(i for i, parents in enumerate(source.parents) if parents)
    parents = (*source.parents[:k], source.parents[k][1:], *source.parents[k + 1 :])  # drop one edge
    changed = again.replace(source=type(source)(source.jobs, parents))
    assert dag_digest(changed) != doc["input_digest"]


def test_dag_digest_is_the_same_for_the_real_ctrl_bps_object() -> None:
    pytest.importorskip("lsst.ctrl.bps")
    import pickle

    with open(PICKLE, "rb") as fh:
        real = pickle.load(fh)  # the example is our own file: a full unpickle is fine here
    ours = compile_workflow(str(PICKLE), str(CONFIG)).workflow
    assert dag_digest(compile_workflow(real, str(CONFIG)).workflow) == dag_digest(ours)


def test_existing_outdir_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli(PICKLE, "--config", CONFIG, "-o", out, "-q").exit_code == 0
    (out / "keep").write_text("x")
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out)
    assert result.exit_code == 1 and "exists; use --force" in result.output
    assert (out / "keep").exists()
    assert run_cli(PICKLE, "--config", CONFIG, "-o", out, "--force", "-q").exit_code == 0
    assert not (out / "keep").exists() and (out / "workflow.json").exists()


# ----- templates ------------------------------------------------------------------------


def _bundled(name: str) -> str:
    folder = bundled_templates_dir()
    assert folder is not None
    return (folder / name).read_text(encoding="utf-8")


def _no_outdir(out: Path) -> None:
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.tmp-*"))


def test_override_that_breaks_the_schema_publishes_nothing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    text = _bundled(TEMPLATE_NAME).replace('"nFiles": {{ pfn_list | length | json }}', '"nFiles": "many"')
    assert '"nFiles": "many"' in text
    (site / TEMPLATE_NAME).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "--templates", site)
    assert result.exit_code == 1
    assert f"{site / TEMPLATE_NAME}: rendered task parameters break the schema: " in result.output
    assert (
        "tasks/u_someone_DRP_20250601T000000Z_01_pipetaskInit_01.json:task_params.nFiles: 'many'"
        in result.output
    )
    _no_outdir(out)


def test_site_templates_replace_the_bundled_ones(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "summary.md.j2").write_text("# {{ workflow.name }} at our site\n", encoding="utf-8")
    text = _bundled(TEMPLATE_NAME).replace('  "vo": {{', '  "siteExtra": "yes",\n  "vo": {{', 1)
    (site / TEMPLATE_NAME).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli(PICKLE, "--config", CONFIG, "-o", out, "--templates", site, "-q").exit_code == 0
    assert (out / "summary.md").read_text().splitlines()[1] == "# u_someone_DRP_20250601T000000Z at our site"
    task_file = next((out / "tasks").glob("*_02_isr_01.json"))
    params = json.loads(task_file.read_text())["task_params"]
    assert list(params)[:2] == ["siteExtra", "vo"]
    from compiler.tools.check import check_outdir

    assert check_outdir(out) == []


def test_templates_folder_from_the_config_key(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "summary.md.j2").write_text("from config\n", encoding="utf-8")
    config = config_with(tmp_path, pandaCompileTemplates=str(site))
    out = tmp_path / "out"
    assert run_cli(PICKLE, "--config", config, "-o", out, "-q").exit_code == 0
    assert (out / "summary.md").read_text().endswith("\nfrom config\n")
    missing = config_with(tmp_path, "missing.yaml", pandaCompileTemplates=str(tmp_path / "nope"))
    result = run_cli(PICKLE, "--config", missing, "-o", tmp_path / "out2")
    assert result.exit_code == 1 and f"templates folder {tmp_path / 'nope'} does not exist" in result.output
    _no_outdir(tmp_path / "out2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# title\n{{ workflow.nope }}\n", ":2: undefined value rendering summary.md: "),
        ("# title\n\n{% for x in %}\n", ":3: template syntax error: "),
    ],
)
def test_summary_template_errors_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "summary.md.j2").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "--templates", site)
    assert result.exit_code == 1
    assert f"Error: {site / 'summary.md.j2'}{expected}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    _no_outdir(out)


# ----- the writer's own checks ------------------------------------------------------------


def test_writer_refuses_values_that_would_break_the_line_schema(tmp_path: Path) -> None:
    wf = compile_workflow(str(PICKLE), str(CONFIG)).workflow
    bad_ids = (*wf.order_ids[:-1], 1.5)
    with pytest.raises(CompileError, match="order id is not a non-negative integer"):
        write_outdir(wf.replace(order_ids=bad_ids), tmp_path / "out")
    bad_names = ("", *wf.pseudo_inputs[1:])
    with pytest.raises(CompileError, match="entry name is empty"):
        write_outdir(wf.replace(pseudo_inputs=bad_names), tmp_path / "out")
    _no_outdir(tmp_path / "out")


def test_failed_write_keeps_the_previous_outdir(tmp_path: Path, example_outdir: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(example_outdir, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    site = tmp_path / "site"
    site.mkdir()
    (site / "summary.md.j2").write_text("{{ nope }}\n", encoding="utf-8")
    result = run_cli(PICKLE, "--config", CONFIG, "-o", out, "--force", "--templates", site)
    assert result.exit_code == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".out.tmp-*"))
