"""``compiler.runtime.report`` on replayed iDDS replies, without a server.

The replies in ``tests/data/runtime/`` (see its README: which were captured from the test
server, with which injected database rows, and which are hand-written) are fed to
`build_report` in both forms a client may hold them: raw JSON (what the reference's
relay calls see) and decoded by iDDS's JSON loader (what `compiler.runtime.idds` gives).
The reference plugin's own ``PanDAService.report`` run on the same replies is the oracle
for states, per-label counts and exit codes, where it is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.runtime import report as rr
from compiler.runtime.report import JOB_STATES, build_report, reference_label, task_label

DATA = Path(__file__).resolve().parents[1] / "data" / "runtime"
WORKFLOW = "u_someone_DRP_20250601T000000Z"
REQUEST_ID = 4242
SIZES = {"pipetaskInit": 1, "isr": 99, "characterizeImage": 99, "calibrate": 99,
         "consolidateVisitSummary": 1, "finalJob": 1}  # fmt: skip


def rows_of(scenario: str, decoded: bool = False) -> list[dict[str, Any]]:
    """The saved ``get_requests(with_detail=True)`` reply of a scenario."""
    text = (DATA / f"request-{scenario}.json").read_text()
    if decoded:
        utils = pytest.importorskip("idds.common.utils")
        return utils.json_loads(text)
    return json.loads(text)


def exit_code_lookup(scenario: str) -> Any:
    """workload id -> the saved ``get_contents_output_ext`` reply of that task."""
    replies = json.loads((DATA / f"contents-output-ext-{scenario}.json").read_text())
    return lambda workload_id: replies[str(workload_id)]


def states(**counts: int) -> dict[str, int]:
    """A full per-state dict (every ``WmsStates`` name) with the given non-zero counts."""
    return {state: counts.get(state, 0) for state in JOB_STATES}


EXPECTED: dict[str, tuple[str, dict[str, dict[str, int]], dict[str, list[int]], dict[str, list[int]]]] = {
    # scenario: (state, per label, exit codes without lookup, exit codes from the replies)
    "new": ("RUNNING", {}, {}, {}),
    "transforming": (
        "RUNNING",
        {
            "pipetaskInit": states(SUCCEEDED=1),
            "isr": states(SUCCEEDED=73, RUNNING=22, FAILED=3, PRUNED=1),
            "characterizeImage": states(RUNNING=13, UNREADY=53),
        },
        {"isr": [1, 1]},
        {"isr": [1, 137]},
    ),
    "finished": ("SUCCEEDED", {label: states(SUCCEEDED=n) for label, n in SIZES.items()}, {}, {}),
    "subfinished": (
        "SUCCEEDED",
        {label: states(SUCCEEDED=n) for label, n in SIZES.items()}
        | {"calibrate": states(SUCCEEDED=96, FAILED=3)},
        {"calibrate": [1, 1, 1]},
        {"calibrate": [139, 139, 1]},
    ),
    "failed": (
        "FAILED",
        {"pipetaskInit": states(SUCCEEDED=1), "isr": states(FAILED=3, PRUNED=30)},
        {"isr": [1, 1, 1]},
        {"isr": [1, 1, 2]},
    ),
    # As the reference: a Cancelled/Suspended *task* has no file-count mapping, all UNREADY.
    "cancelled": ("DELETED", {"pipetaskInit": states(SUCCEEDED=1), "isr": states(UNREADY=33)}, {}, {}),
    "suspended": ("HELD", {"pipetaskInit": states(SUCCEEDED=1), "isr": states(UNREADY=33)}, {}, {}),
}


@pytest.mark.parametrize("decoded", [False, True], ids=["raw-json", "idds-decoded"])
@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_replayed_reply(scenario: str, decoded: bool) -> None:
    state, per_label, codes, codes_from_replies = EXPECTED[scenario]
    result = build_report(REQUEST_ID, rows_of(scenario, decoded))
    assert (result.request_id, result.name, result.operator) == (REQUEST_ID, WORKFLOW, "panda-compile-tester")
    assert (result.state, result.per_label, result.exit_codes) == (state, per_label, codes)
    assert result.message == ""
    assert result.total_jobs == sum(sum(c.values()) for c in per_label.values())
    assert list(result.per_label) == list(per_label)  # task order: labels in workflow order
    if codes_from_replies:
        with_codes = build_report(REQUEST_ID, rows_of(scenario, decoded), exit_code_lookup(scenario))
        assert with_codes.exit_codes == codes_from_replies
        assert with_codes.per_label == per_label


def test_unknown_request_status_is_unknown_with_a_message() -> None:
    """Hand-written: a status no iDDS 2.6 has (``Quarantined``); task counts still reported."""
    result = build_report(REQUEST_ID, rows_of("unknown-status"))
    assert result.state == "UNKNOWN" and result.idds_status == "Quarantined"
    assert "'Quarantined'" in result.message and "UNKNOWN" in result.message
    assert result.per_label == EXPECTED["transforming"][1]


def test_totals_summary_and_json() -> None:
    result = build_report(REQUEST_ID, rows_of("transforming"))
    assert result.state_counts() == states(SUCCEEDED=74, RUNNING=35, FAILED=3, PRUNED=1, UNREADY=53)
    assert result.label_totals() == {"pipetaskInit": 1, "isr": 99, "characterizeImage": 66}
    assert result.run_summary == "pipetaskInit:1;isr:99;characterizeImage:66"
    assert [(t.label, t.status, t.workload_id) for t in result.tasks][:3] == [
        ("pipetaskInit", "Finished", 1001),
        ("isr", "Finished", 1002),
        ("isr", "SubFinished", 1003),
    ]
    assert json.loads(json.dumps(result.to_dict()))["per_label"]["isr"]["RUNNING"] == 22


@pytest.mark.parametrize(
    ("status", "state"),
    [("Finished", "SUCCEEDED"), ("SubFinished", "SUCCEEDED"), ("Failed", "FAILED"), ("Expired", "FAILED"),
     ("Cancelled", "DELETED"), ("Suspended", "HELD"), ("New", "RUNNING"), ("Transforming", "RUNNING"),
     ("ToCancel", "RUNNING"), ("Throttling", "RUNNING"), ("Quarantined", "UNKNOWN"), (None, "UNKNOWN")],
)  # fmt: skip
def test_run_state_table(status: str | None, state: str) -> None:
    assert rr.run_state(status)[0] == state


def test_job_states_are_wms_states() -> None:
    wms = pytest.importorskip("lsst.ctrl.bps")
    assert tuple(s.name for s in wms.WmsStates) == JOB_STATES
    assert set(rr.REQUEST_STATES.values()) <= set(JOB_STATES)


def test_request_statuses_are_iddss() -> None:
    constants = pytest.importorskip("idds.common.constants")
    assert {s.name for s in constants.RequestStatus} == rr.IDDS_REQUEST_STATUSES


@pytest.mark.parametrize(
    ("task", "ours", "reference"),
    [
        (f"{WORKFLOW}_02_isr_01", "isr", "isr"),
        (f"{WORKFLOW}_12_characterizeImage_03", "characterizeImage", "characterizeImage"),
        (f"{WORKFLOW}_04_calibrate_2_01", "calibrate_2", "01"),  # label ending in _<digits>
        (f"{WORKFLOW}_05_step_1_isr_01", "step_1_isr", "isr"),  # label holding _<digits>_
        (f"{WORKFLOW}_07_finalJob_01", "finalJob", "finalJob"),
        ("build_task_1234", "build_task", "build_task"),  # not ours: the reference's rule
        ("other_wf_03_isr_02", "isr", "isr"),
    ],
)
def test_task_label(task: str, ours: str, reference: str) -> None:
    assert task_label(task, WORKFLOW) == ours
    assert reference_label(task) == reference


def test_counts_tolerate_nulls_and_never_go_negative() -> None:
    row = {"output_total_files": 5, "output_processed_files": 4, "output_processing_files": None,
           "output_new_files": 3, "input_new_files": None, "output_failed_files": 1}  # fmt: skip
    total, counts = rr.task_job_counts(row, "Transforming")
    assert total == 5 and counts["RUNNING"] == 3 and counts["UNREADY"] == 0
    assert rr.task_job_counts({}, "Weird") == (0, states())


def test_duplicated_transform_rows_count_once() -> None:
    rows = rows_of("transforming")
    result = build_report(REQUEST_ID, rows + rows[1:3])
    assert result.per_label == EXPECTED["transforming"][1]


def test_exit_codes_from_reply_shapes() -> None:
    jobs = [{"trans_exit_code": c} for c in (0, "0", None, "", 8, "137", "oops")]
    assert rr.exit_codes_from_reply({"7": jobs}) == [8, 137]
    assert rr.exit_codes_from_reply({"7": jobs[:5], "8": jobs[5:]}) == [8, 137]  # merged
    assert rr.exit_codes_from_reply({}) == []


# ----- the reference plugin as oracle ----------------------------------------------------


def reference_report(reference: Any, scenario: str, with_codes: bool) -> Any:
    """``PanDAService.report`` of the reference on the saved replies (its relay answers faked)."""
    import lsst.ctrl.bps.panda.panda_service as service_module
    from lsst.ctrl.bps import BpsConfig

    path = DATA / f"contents-output-ext-{scenario}.json"
    ext = json.loads(path.read_text()) if path.exists() else {}

    class FakeRelay:
        def get_requests(self, **kwargs: Any) -> Any:
            return 0, (True, rows_of(scenario))

        def get_contents_output_ext(self, workload_id: int, **kwargs: Any) -> Any:
            return 0, (True, ext[str(workload_id)])

    original = service_module.get_idds_client
    service_module.get_idds_client = lambda config: FakeRelay()
    try:
        service = service_module.PanDAService(BpsConfig({}))
        (run,), _ = service.report(wms_workflow_id=REQUEST_ID, return_exit_codes=with_codes)
    finally:
        service_module.get_idds_client = original
    return run


@pytest.mark.parametrize("with_codes", [False, True])
@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_same_as_reference(reference, scenario: str, with_codes: bool) -> None:
    run = reference_report(reference, scenario, with_codes)
    lookup = exit_code_lookup(scenario) if with_codes and EXPECTED[scenario][3] else None
    ours = build_report(REQUEST_ID, rows_of(scenario), lookup)
    assert ours.state == run.state.name
    assert ours.total_jobs == run.total_number_jobs
    assert ours.per_label == {
        label: {state.name: n for state, n in counts.items()} for label, counts in run.job_summary.items()
    }
    assert ours.state_counts() == {state.name: n for state, n in run.job_state_counts.items()}
    assert ours.exit_codes == run.exit_code_summary
    assert ours.run_summary == run.run_summary


def test_difference_unknown_status(reference) -> None:
    """Documented difference: the reference calls any unknown request status RUNNING."""
    assert reference_report(reference, "unknown-status", False).state.name == "RUNNING"
    assert build_report(REQUEST_ID, rows_of("unknown-status")).state == "UNKNOWN"


# ----- the report command's text, and its errors without a service ------------------------


def test_render_report_table() -> None:
    from compiler.cli_runtime import render_report

    lookup = exit_code_lookup("transforming")
    lines = render_report(build_report(REQUEST_ID, rows_of("transforming"), lookup)).splitlines()
    assert lines[0] == (
        f"Request {REQUEST_ID}  {WORKFLOW}  operator panda-compile-tester  state RUNNING"
        " (iDDS Transforming)  succeeded 44%"
    )
    assert [line.split() for line in lines[1:3]] == [
        ["LABEL", "UNREADY", "RUNNING", "SUCCEEDED", "FAILED", "PRUNED", "TOTAL"],
        ["TOTAL", "53", "35", "74", "3", "1", "166"],
    ]
    assert set(lines[3]) == {"-"}
    assert lines[-3].split() == ["characterizeImage", "53", "13", "0", "0", "0", "66"]
    assert lines[-2:] == ["Exit codes:", "  isr: 1 x1, 137 x1"]
    unknown = render_report(build_report(REQUEST_ID, rows_of("unknown-status"))).splitlines()
    assert "which panda-compile does not know" in unknown[1]


def test_commands_without_a_service_fail_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    from click.testing import CliRunner

    from compiler.cli_runtime import RUNTIME_COMMANDS

    for name in ("PANDA_URL", "PANDA_URL_SSL", "IDDS_HOST"):
        monkeypatch.delenv(name, raising=False)
    group = click.Group("panda-compile", commands=RUNTIME_COMMANDS)
    for args in (["ping"], ["report", "7"], ["cancel", "7"], ["restart", "7"], ["list"]):
        result = CliRunner().invoke(group, args)
        assert result.exit_code == 1, args
        assert result.output.startswith("Error: ") and "no iDDS service configured" in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(group, ["report", "x"]).exit_code == 2  # click's usage error
