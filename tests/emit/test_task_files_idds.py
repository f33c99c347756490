"""The written `tasks/<task>.json` equal, key by key, what iDDS builds for the same task.

Two oracles, both `DomaPanDAWork.create_processing` (the method that builds the JEDI
taskParamMap in iDDS's Transformer agent), run with the same stand-in run-time values
that fill our placeholders:

* on the work objects the reference plugin's `prepare` makes from the same workflow and
  config (so our file is what the reference's submission would have sent to PanDA);
* on work objects built from our own workflow.json and jobs files, as the runtime builds
  them (so the file matches what our own submission sends).

Scenarios: the example as is, and with event service on two labels (chunked) plus the
job-name and qnode maps.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from compiler.emit.taskparams import fill_placeholders
from tests.test_task_params import RUNTIME, _differences, _idds_task_params

from .conftest import CONFIG, PICKLE, config_with

pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")


def _ours(outdir: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((outdir / "workflow.json").read_text())
    return {
        task["name"]: json.loads((outdir / task["task_params_file"]).read_text())["task_params"]
        for task in doc["tasks"]
    }


def _compare(ours: dict[str, dict[str, Any]], works: dict[str, Any]) -> None:
    assert list(ours) == list(works)
    for name, work_object in works.items():
        for values in (RUNTIME, {**RUNTIME, "IDDS_USERNAME": None}):
            filled = fill_placeholders(ours[name], values)
            problems = _differences(filled, _idds_task_params(work_object, values))
            assert not problems, f"task {name}:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("idds")
    es = config_with(tmp, "es.yaml", enableEventService="isr:5,calibrate", enableQnodeMap=True)
    return {"plain": CONFIG, "event-service-and-maps": es}


@pytest.mark.parametrize("scenario", ["plain", "event-service-and-maps"])
def test_task_files_equal_idds_on_reference_works(
    reference: Any, scenarios: dict[str, Path], tmp_path: Path, scenario: str
) -> None:
    pytest.importorskip("idds.doma.workflowv2.domapandawork")
    from .conftest import run_cli

    out = tmp_path / "ours"
    assert run_cli(PICKLE, "--config", scenarios[scenario], "-o", out, "-q").exit_code == 0
    with open(PICKLE, "rb") as fh:
        generic_workflow = pickle.load(fh)  # our own example file, real ctrl_bps classes
    wms = reference.run_reference_prepare(generic_workflow, str(scenarios[scenario]), str(tmp_path / "ref"))
    works = {w.task_name: w for w in reference.ordered_works(wms.idds_client_workflow)}
    _compare(_ours(out), works)


@pytest.mark.parametrize("fixture", ["example_outdir", "maps_outdir"])
def test_task_files_equal_idds_on_works_built_from_outdir(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    doma = pytest.importorskip("idds.doma.workflowv2.domapandawork").DomaPanDAWork
    outdir: Path = request.getfixturevalue(fixture)
    doc = json.loads((outdir / "workflow.json").read_text())
    works = {}
    for task in doc["tasks"]:
        entries = [json.loads(line) for line in (outdir / task["jobs_file"]).read_text().splitlines()]
        kwargs = copy.deepcopy(task["work"])
        works[task["name"]] = doma(task_name=task["name"], dependency_map=entries, **kwargs)
    _compare(_ours(outdir), works)
