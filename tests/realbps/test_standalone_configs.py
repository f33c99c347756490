"""A real `bps prepare` case compiled standalone: raw submit YAML, expanded config, no config.

BPS never hands a plugin the YAML the operator wrote: it layers its own and the plugin's
defaults under it and computes `uniqProcName`, `submitPath`, `timestamp`... A standalone
compile of the same pickle must give what BPS with compiler.PanDAService gave (apart from
provenance), and with no config at all a payload that really runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from compiler.load import load_generic_workflow
from compiler.tools.check import check_outdir
from tests.emit.conftest import run_cli
from tests.realbps.conftest import RealCase

_DECODER = re.compile(r"cmd_line_decoder\.py ([0-9a-f]+) \$\{IN/L\} (\S+)")


def _compile(case: RealCase, out: Path, *config: Any) -> Path:
    result = run_cli(case.pickle, "-o", out, "-q", *config)
    assert result.exit_code == 0, result.output
    assert check_outdir(out) == []
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _without_provenance(folder: Path) -> dict[str, Any]:
    """Every file with the input digest and the digests of files that hold it dropped."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if k != "input_digest" and not k.endswith("_sha256")}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    out: dict[str, Any] = {}
    for name, data in _files(folder).items():
        text = data.decode()
        if name.endswith(".json"):
            out[name] = clean(json.loads(text))
        elif name.endswith(".jsonl"):
            out[name] = [clean(json.loads(line)) for line in text.splitlines()]
        else:
            out[name] = [line for line in text.splitlines() if "sha256:" not in line]
    return out


def _executables(folder: Path) -> dict[str, str]:
    doc = json.loads((folder / "workflow.json").read_text())
    return {task["name"]: task["work"]["executable"] for task in doc["tasks"]}


@pytest.fixture(scope="module")
def compiled(real_case: RealCase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("standalone")
    return {
        "raw": _compile(real_case, base / "raw", "--config", real_case.raw_yaml),
        "expanded": _compile(real_case, base / "expanded", "--config", real_case.expanded_yaml),
        "none": _compile(real_case, base / "none"),
    }


def test_raw_submit_yaml_equals_the_expanded_config(compiled: dict[str, Path], real_case: RealCase) -> None:
    """Layered as BPS does, the operator's YAML gives what BPS's own expansion gives."""
    assert _files(compiled["raw"]) == _files(compiled["expanded"])  # same pickle: same bytes
    name = load_generic_workflow(real_case.pickle).name
    end_point = f"file://{real_case.root}/dist/{name}/"  # {uniqProcName} resolved, not dist//
    doc = json.loads((compiled["raw"] / "workflow.json").read_text())
    assert doc["file_distribution_end_point"] == end_point
    for executable in _executables(compiled["raw"]).values():
        assert _DECODER.search(executable).group(2) == end_point


def test_bps_with_our_plugin_equals_the_standalone_compile(
    compiled: dict[str, Path], real_case: RealCase
) -> None:
    """BPS's prepare with wmsServiceClass: compiler.PanDAService; only provenance differs."""
    assert _without_provenance(real_case.bps_outdir) == _without_provenance(compiled["expanded"])
    assert check_outdir(real_case.bps_outdir) == []
    # the plugin's defaults make a site-less config runnable (the decoder payload is there)
    assert all(_DECODER.search(e) for e in _executables(real_case.bps_outdir).values())


def test_no_config_gives_the_generic_runner(compiled: dict[str, Path], real_case: RealCase) -> None:
    ours, expanded = _executables(compiled["none"]), _executables(compiled["expanded"])
    assert ours.keys() == expanded.keys()
    sites = {job.compute_site for job in real_case_jobs(real_case)}
    for task, executable in ours.items():
        match = _DECODER.search(executable)
        assert match, f"{task}: no decoder payload"
        assert match.group(1) == _DECODER.search(expanded[task]).group(1)  # the same command
        end_point = match.group(2)
        assert re.match(r"^[a-z]+://", end_point) or end_point.startswith("/")
        assert "//" not in re.sub(r"^[a-z]+://", "", end_point)
        assert not re.search(r"(?:^|[;\s])\w+=;", executable), executable
    for path in (compiled["none"] / "tasks").glob("*.json"):
        assert json.loads(path.read_text())["task_params"]["PandaSite"] in sites
    assert sites == {"LOCAL"}
    assert "No site config: generic runner." in (compiled["none"] / "summary.md").read_text()


def real_case_jobs(case: RealCase) -> list[Any]:
    """Every job of the case's GenericWorkflow (final job included), read by our loader."""
    gw = load_generic_workflow(case.pickle)
    jobs = [gw.get_job(name) for name in gw]
    final = gw.get_final()
    return [*jobs, final] if final is not None else jobs
