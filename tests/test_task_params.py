"""The rendered taskParamMap equals, key by key, what iDDS's DomaPanDAWork builds.

Why: PanDA never sees panda-compile's output directly; it sees the map iDDS builds from
the work in ``DomaPanDAWork.create_processing``.  The template is only useful if it
renders that same map, so the oracle here is the real method, called on real work
objects: those the reference plugin's ``prepare`` makes from generated workflows (plain,
event service, chunked event service) and works constructed directly to reach the
branches the reference never takes.  Run-time values are compared after substituting the
same dummy values on both sides.  No network: ``create_processing`` only builds a dict.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pytest

from compiler.emit import taskparams
from compiler.emit.taskparams import (
    PLACEHOLDERS,
    TEMPLATE_NAME,
    fill_placeholders,
    placeholder,
    render_task_params,
    render_task_params_text,
    template_environment,
)
from compiler.errors import CompileError

# iDDS logs with the deprecated Logger.warn when it switches event service off.
pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
SUBMIT_EXAMPLE = ROOT / "benchmarks" / "submit-example.yaml"

# The same stand-ins for run-time values on both sides.
RUNTIME = {
    "IDDS_REQUEST_ID": 4321,
    "IDDS_TRANSFORM_ID": 87,
    "IDDS_SIGNATURE": "5b0c9e7e-3f43-4d1a-9a55-0c4b4b1f2e10",
    "IDDS_USERNAME": "Some One",
}

LOG = {
    "destination": "local",
    "value": "log.tgz",
    "dataset": "PandaJob_#{pandaid}/",
    "token": "local",
    "param_type": "log",
    "type": "template",
}


def _work(**changes: Any) -> dict[str, Any]:
    """A realistic DomaPanDAWork kwargs dict (the shape the reference plugin passes)."""
    work: dict[str, Any] = {
        "executable": "logDir=`pwd`; mkdir -p ${logDir}; /bin/bash -c \"echo 'a<b>&c' é\" >&2; exit $?",
        "task_name": "u_someone_DRP_20250601T000000Z_02_isr_01",
        "task_queue": "SLAC_Rubin",
        "task_log": dict(LOG),
        "encode_command_line": True,
        "task_rss": 4096,
        "task_rss_retry_offset": 0,
        "task_rss_retry_step": 8192.0,
        "task_rss_max": 16384,
        "task_cloud": "US",
        "task_site": "SLAC_Rubin",
        "task_priority": 500,
        "core_count": 1,
        "working_group": "rubin_prod",
        "processing_type": None,
        "task_type": "test",
        "prodSourceLabel": "managed",
        "vo": "wlcg",
        "es": False,
        "es_label": "isr",
        "max_events_per_job": 10,
        "maxattempt": 3,
        "maxwalltime": 3600,
        "primary_input_collection": {"scope": "pseudo_dataset", "name": "pseudo_input_collection#2"},
        "output_collections": [{"scope": "pseudo_dataset", "name": "pseudo_output_collection#2"}],
        "log_collections": [],
    }
    work.update(changes)
    return work


def _jobs(count: int, start: int = 0, deps: bool = True, **extra: Any) -> list[dict[str, Any]]:
    """Dependency-map entries with consecutive order ids."""
    parent = "u_someone_DRP_20250601T000000Z_01_pipetaskInit_01"
    return [
        {
            "name": f"isr:orderIdMap_{oid}",
            "order_id": oid,
            "dependencies": [{"task": parent, "inputname": "pipetaskInit:orderIdMap_0"}] if deps else [],
            **extra,
        }
        for oid in range(start, start + count)
    ]


# ---------------------------------------------------------------- the iDDS side


@pytest.fixture(scope="module")
def doma() -> Any:
    """The real DomaPanDAWork class."""
    return pytest.importorskip("idds.doma.workflowv2.domapandawork").DomaPanDAWork


def _idds_task_params(work_object: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """Run DomaPanDAWork.create_processing on a copy, with the agent-set values filled in."""
    clone = copy.deepcopy(work_object)  # create_processing renames the task in place
    clone.set_request_id(values["IDDS_REQUEST_ID"])
    clone.set_work_id(values["IDDS_TRANSFORM_ID"])
    clone.signature = values["IDDS_SIGNATURE"]
    clone.username = values.get("IDDS_USERNAME")
    return clone.create_processing().processing_metadata["task_param"]


def _ours(name: str, work: Mapping[str, Any], dependency_map: Any, values: Mapping[str, Any]) -> Any:
    """Our rendering, filled with the same run-time values."""
    return fill_placeholders(render_task_params(name, work, dependency_map), values)


def _differences(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """Key-by-key differences, including key order and value types (2048.0 is not 2048)."""
    problems = []
    if list(ours) != list(theirs):
        problems.append(f"keys: ours {list(ours)} != iDDS {list(theirs)}")
    for key in theirs.keys() | ours.keys():
        a, b = ours.get(key, "<missing>"), theirs.get(key, "<missing>")
        if a != b or type(a) is not type(b):
            problems.append(f"{key}: ours {a!r} != iDDS {b!r}")
    return problems


def _check_against_idds(name: str, work_object: Any, work: Mapping[str, Any], dependency_map: Any) -> None:
    """Compare with both a user name and none (iDDS then says 'iDDS')."""
    for values in (RUNTIME, {**RUNTIME, "IDDS_USERNAME": None}):
        theirs = _idds_task_params(work_object, values)
        problems = _differences(_ours(name, work, dependency_map, values), theirs)
        assert not problems, f"task {name}:\n" + "\n".join(problems)


# ---------------------------------------------------------------- reference prepare


def _config(tmp: Path, name: str, extra: str) -> str:
    """A submit YAML including the benchmark config, plus ``extra`` lines."""
    path = tmp / f"{name}.yaml"
    path.write_text(f"includeConfigs: [{json.dumps(str(SUBMIT_EXAMPLE))}]\n{extra}", encoding="utf-8")
    return str(path)


SCENARIOS = {
    "plain": "",
    "event-service": 'enableEventService: "isr:5"\n',
    "chunked-event-service": 'maxJobsPerTask: 40\nenableEventService: "isr:7,calibrate"\n',
}


@pytest.fixture(scope="module")
def prepared(reference: Any, workflows: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Scenario -> (work objects, reference summary), from one 300-job DRP workflow."""
    pytest.importorskip("idds.doma.workflowv2.domapandawork")
    tmp = tmp_path_factory.mktemp("task_params")
    result = {}
    for scenario, extra in SCENARIOS.items():
        gw = workflows.make_workflow(300, seed=1)
        wms = reference.run_reference_prepare(gw, _config(tmp, scenario, extra), str(tmp / scenario))
        objects = reference.ordered_works(wms.idds_client_workflow)
        result[scenario] = (objects, reference.reference_summary(wms))
    return result


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_matches_idds_on_reference_works(prepared: dict[str, Any], scenario: str) -> None:
    objects, summary = prepared[scenario]
    assert len(objects) == len(summary["works"]) >= 6
    for work_object, entry in zip(objects, summary["works"], strict=True):
        _check_against_idds(entry["name"], work_object, entry["work"], entry["dependency_map"])


def test_reference_scenarios_reach_the_branches(prepared: dict[str, Any]) -> None:
    """The scenarios really exercise event service, pre-staging and chunked order ids."""
    rendered = [
        render_task_params(entry["name"], entry["work"], entry["dependency_map"])
        for _, summary in prepared.values()
        for entry in summary["works"]
    ]
    assert any(p.get("fineGrainedProc") for p in rendered)
    assert any(p.get("inputPreStaging") for p in rendered)
    assert any("inputPreStaging" not in p for p in rendered)
    assert any(name.startswith("calibrate:eventservice_") for p in rendered for name in p["pfnList"])
    es_names = [name for p in rendered for name in p["pfnList"] if "eventservice" in name]
    assert "isr:eventservice_33^7" in es_names  # second isr chunk of 33 jobs starts at order id 33


# ---------------------------------------------------------------- works built directly


DIRECT_CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]] | None]] = {
    "no-queue-no-encoding-no-rss": (
        _work(
            encode_command_line=False, task_queue=None, task_rss=0, task_rss_retry_step=0, task_rss_max=None
        ),
        _jobs(3, deps=False),
    ),
    "empty-dependency-map-pseudo-file": (_work(processing_type="Rubin_Merge", core_count=16), None),
    "string-core-count-and-default-attempts": (
        _work(core_count="4", maxattempt=None, task_rss=3000.5, task_rss_retry_offset=100),
        _jobs(2),
    ),
    "cores-normalise-to-zero": (_work(core_count=0.5, maxattempt="0", task_rss_retry_offset=7), _jobs(1)),
    "event-service-chunks": (_work(es=True, max_events_per_job=4), _jobs(10, start=40)),
    "event-service-last-chunk-without-dependencies": (
        _work(es=True, max_events_per_job=3),
        _jobs(3) + _jobs(2, start=3, deps=False),
    ),
    "event-service-off-without-order-ids": (
        _work(es=True),
        [{k: v for k, v in job.items() if k != "order_id"} for job in _jobs(3)],
    ),
    "event-service-off-duplicate-order-ids": (
        _work(es=True),
        [*_jobs(2), {"name": "isr:again", "order_id": 1, "dependencies": []}],
    ),
    "event-service-gaps-and-groups": (
        _work(es=True, max_events_per_job=2),
        _jobs(3, groups="a") + _jobs(4, start=10, groups="a") + _jobs(3, start=20, deps=False, groups="b"),
    ),
    "event-service-empty": (_work(es=True), []),
}


@pytest.mark.parametrize("case", list(DIRECT_CASES))
def test_matches_idds_on_direct_works(doma: Any, case: str) -> None:
    work, dependency_map = DIRECT_CASES[case]
    kwargs = {key: copy.deepcopy(value) for key, value in work.items() if key != "task_name"}
    work_object = doma(task_name=work["task_name"], dependency_map=copy.deepcopy(dependency_map), **kwargs)
    _check_against_idds(work["task_name"], work_object, work, dependency_map)


# ---------------------------------------------------------------- placeholders and JSON


def test_placeholders_sit_where_idds_puts_runtime_values() -> None:
    params = render_task_params("T", _work(task_name="T"), _jobs(1))
    assert params["taskName"] == f"T_{placeholder('IDDS_REQUEST_ID')}_{placeholder('IDDS_TRANSFORM_ID')}"
    assert params["reqID"] == "@@IDDS_REQUEST_ID@@"
    assert params["userName"] == "@@IDDS_USERNAME@@"
    assert params["jobParameters"][0]["value"].startswith(
        "export IDDS_BUILD_REQUEST_ID=@@IDDS_REQUEST_ID@@;export IDDS_BUIL_SIGNATURE=@@IDDS_SIGNATURE@@; "
    )
    text = json.dumps(params)
    assert all(placeholder(name) in text for name in PLACEHOLDERS)
    filled = fill_placeholders(params, {**RUNTIME, "IDDS_USERNAME": ""})
    assert filled["reqID"] == 4321 and filled["taskName"] == "T_4321_87" and filled["userName"] == "iDDS"
    assert "@@" not in json.dumps(filled)
    with pytest.raises(ValueError, match="IDDS_SIGNATURE"):
        fill_placeholders(params, {"IDDS_REQUEST_ID": 1, "IDDS_TRANSFORM_ID": 2})


def test_jinja_tojson_would_keep_the_same_values() -> None:
    """Why a plain json filter suffices: tojson's extra escapes vanish in json.loads."""
    tricky = "a<b>&c 'q' \"d\" é \n ${x}"
    via_tojson = jinja2.Environment().from_string("{{ v | tojson }}").render(v=tricky)
    via_json = template_environment().from_string("{{ v | json }}").render(v=tricky)
    assert json.loads(via_tojson) == json.loads(via_json) == tricky
    assert "&" in via_json and "&" not in via_tojson


# ---------------------------------------------------------------- errors


def test_missing_field_is_a_compile_error_naming_template_line() -> None:
    work = _work()
    del work["task_cloud"]
    with pytest.raises(CompileError) as info:
        render_task_params(work["task_name"], work, _jobs(1))
    message = str(info.value)
    line = _line_of(Path(taskparams.bundled_templates_dir()) / TEMPLATE_NAME, '"cloud":')
    assert f"{TEMPLATE_NAME}:{line}:" in message and "task_cloud" in message
    assert "\n" not in message


def test_broken_override_template_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / TEMPLATE_NAME).write_text('{\n  "vo": {{ task.work.vo | json }},\n  {% if %}\n}\n')
    with pytest.raises(CompileError) as info:
        render_task_params("T", _work(task_name="T"), env=template_environment(tmp_path))
    assert f"{tmp_path / TEMPLATE_NAME}:3: template syntax error" in str(info.value)


def test_override_undefined_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / TEMPLATE_NAME).write_text(
        '{\n  "vo": {{ task.work.vo | json }},\n  "x": {{ task.nope | json }}\n}\n'
    )
    with pytest.raises(CompileError, match=rf"{tmp_path / TEMPLATE_NAME}:3: undefined value .*nope"):
        render_task_params("T", _work(task_name="T"), env=template_environment(tmp_path))


def test_override_folder_falls_back_to_bundled(tmp_path: Path) -> None:
    (tmp_path / "other.j2").write_text("unused\n")
    env = template_environment(tmp_path)
    assert render_task_params("T", _work(task_name="T"), env=env) == render_task_params(
        "T", _work(task_name="T")
    )


def test_bad_input_values_are_compile_errors() -> None:
    with pytest.raises(CompileError, match="executable must be a string"):
        render_task_params("T", _work(task_name="T", executable=None))
    with pytest.raises(CompileError, match="work has task_name"):
        render_task_params("T", _work())
    with pytest.raises(CompileError, match="max_events_per_job"):
        render_task_params("T", _work(task_name="T", es=True, max_events_per_job=0), _jobs(2))
    with pytest.raises(CompileError, match=rf"{TEMPLATE_NAME}:\d+: TypeError"):
        render_task_params("T", _work(task_name="T", task_rss="2048"))


def _line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` containing ``needle``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


# ---------------------------------------------------------------- determinism and packaging


def test_output_is_byte_deterministic() -> None:
    work = _work(es=True, max_events_per_job=3)
    shuffled = dict(reversed(list(work.items())))
    shuffled["task_log"] = dict(reversed(list(LOG.items())))
    first = render_task_params_text(work["task_name"], work, _jobs(8))
    assert first == render_task_params_text(work["task_name"], work, _jobs(8))
    assert first == render_task_params_text(work["task_name"], shuffled, _jobs(8))
    assert first == render_task_params_text(work["task_name"], work, _jobs(8), env=template_environment())
    assert first.endswith("}\n") and first.isascii()
    script = (
        "import sys, json; from compiler.emit.taskparams import render_task_params_text as r; "
        "a = json.load(sys.stdin); sys.stdout.write(r(a['name'], a['work'], a['jobs']))"
    )
    payload = json.dumps({"name": work["task_name"], "work": work, "jobs": _jobs(8)})
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    other = subprocess.run(
        [sys.executable, "-c", script], input=payload, capture_output=True, text=True, check=True, env=env
    )
    assert other.stdout == first


def test_bundled_template_resolves_in_source_tree() -> None:
    folder = taskparams.bundled_templates_dir()
    assert folder is not None and (folder / TEMPLATE_NAME).is_file()
    assert template_environment().get_template(TEMPLATE_NAME).filename == str(folder / TEMPLATE_NAME)
