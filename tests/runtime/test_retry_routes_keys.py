"""The retry schedule, route selection, submission keys and ``list`` rows, without a server.

The live counterparts (a frozen server, a black hole, a SIGKILLed submit) are in
``tests/integration/test_bounds_and_idempotency.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from compiler.errors import ConfigError
from compiler.runtime import idds as runtime
from compiler.runtime import listing, retry, routes, submission_key
from compiler.runtime.errors import Failure, OutdirError, RuntimeServiceError
from compiler.runtime.report import undecodable_status, unknown_report

# ----- retry schedule --------------------------------------------------------------------


class FakeTime:
    """A clock that moves when slept on or when a fake attempt "takes" its time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_each_attempt_gets_what_is_left_of_the_budget() -> None:
    fake = FakeTime()
    policy = retry.RetryPolicy(attempts=5, first_delay=1.0, max_delay=1.0, budget=12.5, call_timeout=5.0)
    schedule = retry.Schedule(policy, fake.clock, fake.sleep)
    timeouts = []
    while True:
        timeouts.append(schedule.next_timeout())
        fake.now += timeouts[-1]  # every attempt hangs until its timeout
        delay = schedule.next_delay()
        if delay is None:
            break
        schedule.wait(delay)
    assert timeouts == [5.0, 5.0, 0.5]  # 5 + 1 + 5 + 1 s: only 0.5 s left for the third
    assert fake.now == pytest.approx(12.5)  # the last call included: exactly the budget


def test_no_attempt_starts_without_time_for_it() -> None:
    fake = FakeTime()
    policy = retry.RetryPolicy(attempts=4, first_delay=1.0, max_delay=1.0, budget=6.0, call_timeout=5.0)
    schedule = retry.Schedule(policy, fake.clock, fake.sleep)
    schedule.next_timeout()
    fake.now = 4.6  # 1.4 s left: after the 1 s back-off only 0.4 s, less than MIN_ATTEMPT
    assert schedule.next_delay() is None


class HangingTransport:
    """A transport whose every call hangs (a frozen server) until released."""

    description = "hanging://idds"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def call(self, command: str, kwargs: Mapping[str, Any], timeout: float | None = None) -> runtime.Reply:
        self.calls += 1
        self.release.wait(30)
        return runtime.Reply(True, {"Status": "OK"})


def test_a_hanging_call_ends_within_the_budget() -> None:
    transport = HangingTransport()
    policy = retry.RetryPolicy(attempts=3, first_delay=0.1, max_delay=0.1, budget=2.0, call_timeout=0.6)
    client = runtime.IddsClient(transport, policy)
    start = time.monotonic()
    try:
        with pytest.raises(
            RuntimeServiceError, match=r"failed after 3 attempts in [12]\.\d s \(no good answer\)"
        ):
            client.ping()
    finally:
        elapsed = time.monotonic() - start
        transport.release.set()
    assert transport.calls == 3
    assert elapsed <= policy.budget + 0.5  # the bound (not a speed figure): budget + scheduling slack


def test_a_timed_out_submit_is_not_retried_and_says_what_to_do() -> None:
    transport = HangingTransport()
    policy = retry.RetryPolicy(attempts=3, first_delay=0.1, budget=5.0, call_timeout=0.3)
    client = runtime.IddsClient(transport, policy)
    try:
        with pytest.raises(RuntimeServiceError, match="submitting again looks it up first") as info:
            client.submit(object())
    finally:
        transport.release.set()
    assert (info.value.kind, info.value.attempts, transport.calls) == (Failure.TRANSIENT, 1, 1)


def test_call_within_returns_raises_or_times_out() -> None:
    assert retry.call_within(lambda: 7, 1.0) == 7
    with pytest.raises(ZeroDivisionError):
        retry.call_within(lambda: 1 / 0, 1.0)
    gate = threading.Event()
    with pytest.raises(retry.AttemptTimedOut, match=r"no answer within 0\.1 s"):
        retry.call_within(lambda: gate.wait(10), 0.1)
    gate.set()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"iddsCallTimeout": "soon"}, "'iddsCallTimeout': 'soon' is not a number"),
        ({"iddsRetryBudget": 0}, "'iddsRetryBudget': 0 must be positive"),
        ({"iddsRetryAttempts": -1}, "'iddsRetryAttempts': -1 must be positive"),
    ],
)
def test_bad_retry_settings_name_the_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        retry.RetryPolicy.from_config(settings)


# ----- routes ----------------------------------------------------------------------------

RELAY = "https://panda.example.org:25443/server/panda"
IDDS = "https://idds.example.org:443/idds"
OTHER = "https://other-idds.example.org/idds"


@pytest.mark.parametrize(
    ("url", "environ", "server", "expected", "warned"),
    [
        (
            "http://u/idds",
            {"PANDA_URL": RELAY, "IDDS_HOST": IDDS},
            OTHER,
            ("direct", "http://u/idds", None),
            "",
        ),
        (None, {"PANDA_URL_SSL": RELAY}, IDDS, ("relay", RELAY, IDDS), ""),
        (None, {"PANDA_URL": RELAY, "IDDS_HOST": OTHER}, IDDS, ("relay", RELAY, IDDS), "IDDS_HOST="),
        (None, {"PANDA_URL": RELAY, "IDDS_HOST": IDDS}, IDDS, ("relay", RELAY, IDDS), ""),
        (None, {"IDDS_HOST": IDDS}, None, ("direct", IDDS, None), ""),
        (None, {"IDDS_HOST": IDDS}, OTHER, ("direct", IDDS, None), "config iddsServer"),
        (None, {}, IDDS, ("direct", IDDS, None), ""),
    ],
)
def test_route_selection(
    url: str | None, environ: dict[str, str], server: str | None, expected: tuple, warned: str
) -> None:
    route = routes.select_route(url, environ, server)
    assert (route.kind, route.url, route.idds_host) == expected
    if warned:
        (warning,) = route.warnings
        assert warning.startswith(warned)
        assert all(name in warning for name in ("IDDS_HOST",))  # names both sides
    else:
        assert route.warnings == ()


def test_relay_conflict_warning_names_both() -> None:
    route = routes.select_route(None, {"PANDA_URL_SSL": RELAY, "IDDS_HOST": OTHER}, None)
    (warning,) = route.warnings
    assert f"IDDS_HOST={OTHER}" in warning and f"PANDA_URL_SSL={RELAY}" in warning
    assert (
        route.describe() == f"route: PanDA relay {RELAY} -> the relay's default iDDS (PANDA_URL_SSL is set)"
    )


def test_no_route_says_what_to_set() -> None:
    with pytest.raises(RuntimeServiceError, match=r"no iDDS service configured.*iddsServer") as info:
        routes.select_route(None, {}, None)
    assert info.value.kind is Failure.CONFIG


# ----- submission keys -------------------------------------------------------------------


def make_outdir(root: Path, name: str, content: str = '{"name": "wf"}') -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "workflow.json").write_text(content)
    return folder


def test_key_is_folder_name_and_content(tmp_path: Path) -> None:
    a = submission_key.submission_key(make_outdir(tmp_path, "run 1/x".replace("/", "_")))
    assert a.startswith("run-1_x-") and len(a.rsplit("-", 1)[1]) == 12
    same = submission_key.submission_key(make_outdir(tmp_path / "..", tmp_path.name + "-copy"))
    assert same.split("-")[-1] == a.split("-")[-1]  # same content, same digest
    other = make_outdir(tmp_path, "run-2", '{"name": "wf", "x": 1}')
    assert submission_key.submission_key(other).split("-")[-1] != a.split("-")[-1]
    with pytest.raises(OutdirError, match=r"workflow\.json"):
        submission_key.submission_key(tmp_path / "missing")


@pytest.mark.parametrize("forced", [0, 1, 7])
def test_request_name_round_trip(forced: int) -> None:
    key = "run-1.a_b-0123456789ab"
    name = submission_key.request_name("u_me_DRP.v2_20260101T000000Z", key, forced)
    assert submission_key.split_request_name(name) == ("u_me_DRP.v2_20260101T000000Z", key, forced)
    assert all(c.isalnum() or c in "._-" for c in name)


def test_request_name_fits_idds() -> None:
    name = submission_key.request_name("w" * 400, "k-0123456789ab", 3)
    assert len(name) == submission_key.MAX_NAME
    assert submission_key.split_request_name(name)[1:] == ("k-0123456789ab", 3)
    assert submission_key.split_request_name("plain_workflow") == ("plain_workflow", "", 0)


def test_intent_record_round_trip(tmp_path: Path) -> None:
    intent = submission_key.Intent.now("wf.pc-k-0123456789ab", "k-0123456789ab", "http://x", (3, 4))
    submission_key.write_intent(tmp_path, intent)
    assert submission_key.read_intent(tmp_path) == intent
    submission_key.clear_intent(tmp_path)
    assert submission_key.read_intent(tmp_path) is None
    submission_key.clear_intent(tmp_path)  # twice is fine
    (tmp_path / submission_key.INTENT_FILE).write_text("{")
    with pytest.raises(OutdirError, match="unreadable intent record"):
        submission_key.read_intent(tmp_path)


# ----- list rows, undecodable statuses ----------------------------------------------------


def test_listed_requests_and_table() -> None:
    rows = [
        {
            "request_id": 12,
            "name": "wf.pc-run1-0123456789ab.f2",
            "status": "Transforming",
            "created_at": "t2",
        },
        {
            "request_id": 3,
            "name": "someone_elses",
            "status": {"attributes": {"_name_": "New"}},
            "created_at": None,
        },
        {
            "request_id": 12,
            "name": "wf.pc-run1-0123456789ab.f2",
            "status": "Transforming",
        },  # a second transform
        {"request_id": None, "name": "x"},
    ]
    listed = listing.listed_requests(rows)
    assert [r.to_dict() for r in listed] == [
        {"request_id": 3, "name": "someone_elses", "status": "New", "created": "", "key": ""},
        {
            "request_id": 12,
            "name": "wf",
            "status": "Transforming",
            "created": "t2",
            "key": "run1-0123456789ab.f2",
        },
    ]
    lines = listing.render_table(listed).splitlines()
    assert lines[0].split() == list(listing.COLUMNS)
    assert lines[1].split() == ["3", "someone_elses", "New", "-", "-"]
    assert lines[2].split() == ["12", "wf", "Transforming", "t2", "run1-0123456789ab.f2"]
    json.dumps([r.to_dict() for r in listed])


def test_undecodable_status_is_unknown_with_the_raw_value() -> None:
    error = (
        'refused: {"msg": "No object exception.: {} Details: request(request_id: 1) cannot be found:'
        ' 99 is not a valid RequestStatus"}'
    )
    raw = undecodable_status(error)
    assert raw == "99 (not a valid RequestStatus)"
    report = unknown_report(1, raw, "http://x")
    assert (report.state, report.idds_status) == ("UNKNOWN", raw)
    assert "ask the iDDS operators" in report.message
    assert undecodable_status("No match requests") is None
