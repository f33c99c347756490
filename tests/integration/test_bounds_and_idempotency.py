# ruff: noqa: F811  (pytest fixtures imported from test_operations are redefined as arguments)
"""Issue 9 against the real iDDS server: one request per OUTDIR, every call bounded, clean stdout.

The CLI runs as a real subprocess (``panda-compile ...``) where it matters: a SIGKILL,
and stdout, which ``CliRunner`` shares with pytest's logging.  A *frozen* server is the
real server under SIGSTOP; a *black hole* is a listener that accepts connections and
never answers.  Bounds are checked against the documented guarantee (a call with its
retries ends within ``iddsRetryBudget``), with slack for process start-up only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_relay import FakeRelay
from idds_server import IddsServer

from compiler.runtime import idds as runtime
from compiler.runtime import operations as ops
from compiler.runtime import retry
from compiler.runtime.errors import Failure, RuntimeServiceError
from compiler.runtime.submission_key import INTENT_FILE, split_request_name, submission_key
from tests.integration.test_operations import (  # noqa: F401  (fixtures)
    FAST,
    Example,
    cli,
    direct_client,
    example,
    inject_progress,
    relay,
    run,
)

pytestmark = pytest.mark.integration

PANDA_COMPILE = str(Path(sys.executable).with_name("panda-compile"))
CALL_TIMEOUT, BUDGET = 1.0, 3.0
STARTUP_SLACK = 6.0
"""Seconds a subprocess may take to start and import (idds, panda-client) on a busy 2-core box."""


@pytest.fixture
def outdir(example: Example, tmp_path: Path) -> Path:
    """A fresh copy of the example OUTDIR, named after the test (its submission key is its own)."""
    return Path(shutil.copytree(example.outdir, tmp_path / f"outdir-{tmp_path.name}"))


@pytest.fixture
def bounded_config(example: Example, tmp_path: Path) -> Path:
    """The example's submit YAML with ``iddsCallTimeout: 1``, ``iddsRetryBudget: 3``."""
    config = {**example.config, "iddsCallTimeout": CALL_TIMEOUT, "iddsRetryBudget": BUDGET}
    config["iddsRetryAttempts"] = 4
    path = tmp_path / "bounded.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """``http://127.0.0.1:<port>``: connections are accepted (backlog) and never answered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.contextmanager
def frozen(server: IddsServer) -> Iterator[None]:
    """The server process stopped (SIGSTOP), then continued."""
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.process.pid, signal.SIGCONT)


def cli_env(server: IddsServer, relay_url: str | None = None) -> dict[str, str]:
    """A client environment: direct via ``--url`` (no relay) or bps-like via ``relay_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANDA_URL", "IDDS_HOST"))}
    env.update({k: v for k, v in server.env.items() if k != "IDDS_HOST"})
    if relay_url:
        env.update(PANDA_URL=relay_url, PANDA_URL_SSL=relay_url, PANDACACHE_URL=relay_url)
        env["PANDA_BEHIND_REAL_LB"] = "1"
    return env


@contextlib.contextmanager
def unavailable(server: IddsServer, state: str) -> Iterator[None]:
    """The server ``stopped`` (started again afterwards) or ``frozen`` (SIGSTOP) for the block."""
    if state == "stopped":
        server.stop()
        try:
            yield
        finally:
            server.start()
    else:
        with frozen(server):
            yield


def panda_compile(*args: Any, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI."""
    command = [PANDA_COMPILE, *(str(a) for a in args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def assert_one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit != 0, nothing on stdout, no traceback, exactly one ``Error:`` line holding ``expected``."""
    assert done.returncode != 0 and done.stdout == "", done
    assert "Traceback" not in done.stderr, done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    for text in expected:
        assert text in error, error
    return error


def requests_of(client: runtime.IddsClient, outdir: Path) -> list[int]:
    """Ids of the server's requests carrying OUTDIR's submission key."""
    key = submission_key(outdir)
    rows = ops.list_details(client=client)
    return [r.request_id for r in rows if r.key.split(".f")[0] == key]


# ----- 1. duplicate requests ---------------------------------------------------------------


def test_sigkill_after_the_server_stored_the_request(live_idds: IddsServer, example: Example, outdir) -> None:
    """The answer to submit is lost (client killed): submitting again adopts, one request stays."""
    client = direct_client(live_idds)
    with FakeRelay(live_idds.url, live_idds.headers) as fake:
        fake.hold_replies_to("submit")
        env = cli_env(live_idds, fake.url)
        command = [PANDA_COMPILE, "submit", str(outdir), "--config", str(example.config_file)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while "submit" not in fake.executed and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert "submit" in fake.executed, proc.communicate()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            fake.release()
        assert not (outdir / ops.SUBMISSION_FILE).exists()
        assert (outdir / INTENT_FILE).exists()  # written before the call
        (stored,) = requests_of(client, outdir)

        again = panda_compile("submit", outdir, "--config", example.config_file, env=env)
    assert again.returncode == 0, again.stderr
    assert f"Adopted iDDS request {stored} " in again.stdout
    assert ops.read_submission(outdir).request_id == stored and ops.read_submission(outdir).adopted
    assert not (outdir / INTENT_FILE).exists()
    assert requests_of(client, outdir) == [stored]  # still one request
    assert fake.executed.count("submit") == 1


def test_frozen_server_resuming_after_the_client_gave_up(live_idds: IddsServer, example, outdir) -> None:
    """Submit times out on a frozen server, which then stores the request: the next submit adopts it."""
    client = direct_client(live_idds)
    policy = retry.RetryPolicy(attempts=3, first_delay=0.2, budget=4.0, call_timeout=1.5)
    slow = runtime.IddsClient(client.transport, policy)
    real_call = slow.transport.call

    def freeze_before_submit(command: str, kwargs: Any, timeout: float | None = None) -> Any:
        if command == "submit":
            os.killpg(live_idds.process.pid, signal.SIGSTOP)
        return real_call(command, kwargs, timeout)

    slow.transport.call = freeze_before_submit  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeServiceError, match="may have been applied") as info:
            ops.submit_outdir(outdir, example.config, client=slow)
    finally:
        slow.transport.call = real_call  # type: ignore[method-assign]
        os.killpg(live_idds.process.pid, signal.SIGCONT)
    assert info.value.kind is Failure.TRANSIENT and (outdir / INTENT_FILE).exists()
    deadline = time.monotonic() + 20
    while not requests_of(client, outdir) and time.monotonic() < deadline:
        time.sleep(0.2)  # the resumed server reads the abandoned request and stores it
    (stored,) = requests_of(client, outdir)

    record = ops.submit_outdir(outdir, example.config, client=client)
    assert (record.request_id, record.adopted) == (stored, True)
    assert requests_of(client, outdir) == [stored]


def test_no_record_but_request_on_server_is_adopted_and_force_makes_a_new_one(
    cli, relay, live_idds: IddsServer, example: Example, outdir
) -> None:
    client = direct_client(live_idds)
    first = ops.submit_outdir(outdir, example.config, client=client)
    (outdir / ops.SUBMISSION_FILE).unlink()  # the record is lost
    adopted = run(cli, "submit", outdir, "--config", example.config_file)
    assert adopted.exit_code == 0 and f"Adopted iDDS request {first.request_id} " in adopted.stdout
    assert ops.read_submission(outdir).request_id == first.request_id

    refused = run(cli, "submit", outdir, "--config", example.config_file)
    assert (
        refused.exit_code == 1 and f"already submitted as iDDS request {first.request_id}" in refused.stderr
    )
    forced = run(cli, "submit", outdir, "--force", "--config", example.config_file)
    assert forced.exit_code == 0 and f"forced: earlier request {first.request_id}" in forced.stdout
    new = ops.read_submission(outdir)
    assert new.request_id != first.request_id and split_request_name(new.request_name)[2] == 2
    assert sorted(requests_of(client, outdir)) == sorted([first.request_id, new.request_id])


def test_list_shows_id_name_status_created_and_key(cli, relay, live_idds, example, outdir) -> None:
    record = ops.submit_outdir(outdir, example.config, client=direct_client(live_idds))
    rows = json.loads(run(cli, "list", record.request_id, "--json").stdout)
    assert rows == [
        {
            "request_id": record.request_id,
            "name": record.workflow,
            "status": "New",
            "created": rows[0]["created"],
            "key": record.submission_key,
        }
    ]
    assert rows[0]["created"] and record.submission_key.startswith(outdir.name)


# ----- 2. bounds on every route -------------------------------------------------------------


@pytest.mark.parametrize("route", ["direct", "relay"])
@pytest.mark.parametrize("command", [("ping",), ("report", 1), ("cancel", 1)])
def test_black_hole_is_bounded(live_idds: IddsServer, bounded_config: Path, route: str, command) -> None:
    with black_hole() as hole:
        if route == "direct":
            env, extra = cli_env(live_idds), ["--url", f"{hole}/idds"]
        else:
            env, extra = cli_env(live_idds, f"{hole}/server/panda"), []
        start = time.monotonic()
        done = panda_compile(*command, "--config", bounded_config, *extra, env=env)
        elapsed = time.monotonic() - start
    error = assert_one_error_line(done, hole, "attempts in")
    # Which timer fires first (the attempt's, or the HTTP read timeout of the same length)
    # depends on the machine's load; either way the answer never came.
    assert "no answer within" in error or "timed out" in error, error
    assert elapsed < BUDGET + STARTUP_SLACK, elapsed


@pytest.mark.parametrize("route", ["direct", "relay"])
def test_frozen_server_is_bounded(live_idds: IddsServer, bounded_config: Path, route: str) -> None:
    with contextlib.ExitStack() as stack:
        if route == "direct":
            env, extra = cli_env(live_idds), ["--url", live_idds.url]
        else:
            fake = stack.enter_context(FakeRelay(live_idds.url, live_idds.headers))
            env, extra = cli_env(live_idds, fake.url), []
        stack.enter_context(frozen(live_idds))
        start = time.monotonic()
        done = panda_compile("report", 1, "--config", bounded_config, *extra, env=env)
        elapsed = time.monotonic() - start
    error = assert_one_error_line(done, "failed after")
    assert "no answer within" in error or "timed out" in error, error  # see test_black_hole_is_bounded
    assert elapsed < BUDGET + STARTUP_SLACK, elapsed


def test_stopped_server_refused_connection_is_bounded(live_idds: IddsServer, bounded_config: Path) -> None:
    env, url = cli_env(live_idds), live_idds.url
    live_idds.stop()
    try:
        done = panda_compile("cancel", 1, "--config", bounded_config, "--url", url, env=env)
    finally:
        live_idds.start()
    assert_one_error_line(done, url, "cannot connect")


# ----- 3. clean stdout -------------------------------------------------------------------------


def test_report_json_after_a_retry_is_one_json_document(live_idds: IddsServer, example, outdir) -> None:
    request_id = ops.submit_outdir(outdir, example.config, client=direct_client(live_idds)).request_id
    with FakeRelay(live_idds.url, live_idds.headers) as fake:
        fake.fail_next(1, status=503)
        env = cli_env(live_idds, fake.url) | {"IDDS_LOG_LEVEL": "DEBUG"}
        done = panda_compile("report", request_id, "--json", "--config", example.config_file, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["request_id"] == request_id
    assert "retrying" in done.stderr  # the retry did happen


def test_submit_stdout_is_only_our_line(live_idds: IddsServer, example, outdir, tmp_path) -> None:
    """Direct submit: idds-client's INFO lines ("Workflow size ...") stay off stdout."""
    with FakeRelay(live_idds.url, live_idds.headers) as fake:
        done = panda_compile(
            "submit", outdir, "--config", example.config_file, env=cli_env(live_idds, fake.url)
        )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"Submitted {ops.read_submission(outdir).workflow} as iDDS request ")


# ----- 4. route selection ------------------------------------------------------------------------


def test_idds_server_key_alone_works(cli, live_idds: IddsServer, example, monkeypatch, tmp_path) -> None:
    """No PANDA_URL, no IDDS_HOST: the config's iddsServer is used directly (ping -v says so)."""
    monkeypatch.delenv("IDDS_HOST")
    real = runtime.direct_transport
    # the test server's identity headers, which Apache's mod_ssl would set in production
    monkeypatch.setattr(
        runtime, "direct_transport", lambda url, headers, policy: real(url, live_idds.headers, policy)
    )
    config = tmp_path / "server.yaml"
    config.write_text(yaml.safe_dump({**example.config, "iddsServer": live_idds.url}))
    pinged = run(cli, "ping", "-v", "--config", config)
    assert pinged.exit_code == 0, pinged.output
    assert pinged.stdout.splitlines() == [f"route: direct to iDDS {live_idds.url} (config iddsServer)", "OK"]
    listed = run(cli, "list", "--config", config)
    assert listed.exit_code == 0 and listed.stdout.split()[:5] == ["ID", "NAME", "STATUS", "CREATED", "KEY"]


def test_idds_host_next_to_panda_url_is_a_warning(cli, relay, live_idds: IddsServer, monkeypatch) -> None:
    monkeypatch.setenv("IDDS_HOST", live_idds.url)
    done = run(cli, "ping", "-v")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        f"route: PanDA relay {relay.url} -> the relay's default iDDS (PANDA_URL_SSL is set)",
        "OK",
    ]
    (warning,) = done.stderr.splitlines()
    assert f"IDDS_HOST={live_idds.url} is ignored" in warning and f"PANDA_URL_SSL={relay.url}" in warning


# ----- 6. cancel/restart of requests with nothing to do; 7. undecodable statuses -------------------


@pytest.mark.parametrize(
    ("scenario", "command", "expected"),
    [
        ("cancelled", "cancel", "is already cancelled (iDDS Cancelled): nothing to do"),
        ("finished", "cancel", "is already finished (iDDS Finished): nothing to do"),
        ("finished", "restart", "is already finished (iDDS Finished): nothing to do"),
    ],
)
def test_nothing_to_do_says_already(
    cli, relay, live_idds, example, outdir, scenario, command, expected
) -> None:
    client = direct_client(live_idds)
    request_id = ops.submit_outdir(outdir, example.config, client=client).request_id
    inject_progress(live_idds, request_id, outdir, scenario)
    before = relay.calls.count("abort") + relay.calls.count("retry")
    done = run(cli, command, request_id)
    assert done.exit_code == 0 and done.stdout.strip() == f"request {request_id} {expected}"
    assert relay.calls.count("abort") + relay.calls.count("retry") == before  # nothing registered


def test_status_the_server_cannot_decode_is_unknown(cli, relay, live_idds, example, outdir) -> None:
    import sqlite3

    request_id = ops.submit_outdir(outdir, example.config, client=direct_client(live_idds)).request_id

    def set_status(value: int) -> None:
        with contextlib.closing(sqlite3.connect(live_idds.db_path, timeout=10)) as con, con:
            con.execute("UPDATE requests SET status = ? WHERE request_id = ?", (value, request_id))

    set_status(99)
    try:
        shown = run(cli, "report", request_id, "--json")
        status = ops.request_status(request_id, client=direct_client(live_idds))
        listed = run(cli, "list")
    finally:
        set_status(0)  # it makes every listing fail: later tests list requests
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert (data["state"], data["idds_status"]) == ("UNKNOWN", "99 (not a valid RequestStatus)")
    assert "ask the iDDS operators" in data["message"] and status == "UNKNOWN"
    assert listed.exit_code == 1 and "a request whose status it cannot decode" in listed.stderr


# ----- 5. BPS with the server down or frozen -------------------------------------------------------


@pytest.mark.parametrize("state", ["stopped", "frozen"])
def test_bps_drivers_without_a_server_print_no_traceback(
    relay, live_idds, example, outdir, capsys, monkeypatch, state, bps_report_to_stdout
) -> None:
    pytest.importorskip("lsst.ctrl.bps")
    from lsst.ctrl.bps.drivers import cancel_driver, ping_driver, report_driver, restart_driver

    request_id = ops.submit_outdir(outdir, example.config, client=direct_client(live_idds)).request_id
    fast = retry.RetryPolicy(attempts=3, first_delay=0.2, budget=BUDGET, call_timeout=CALL_TIMEOUT)
    monkeypatch.setattr(
        retry.RetryPolicy, "from_config", classmethod(lambda cls, config: fast)
    )  # BPS passes {}
    service = "compiler.PanDAService"
    with unavailable(live_idds, state):
        capsys.readouterr()
        report_driver(service, str(request_id))
        cancel_driver(service, str(request_id), None, True, None)
        restart_driver(service, str(request_id))
        assert ping_driver(service) != 0
        printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "Traceback" not in text
    assert f"Cannot report workflow id '{request_id}'" in text
    assert f"Couldn't cancel job with id '{request_id}' (cannot cancel request {request_id}: iDDS" in text
    assert f"Restart failed: cannot restart request {request_id}" in text


@pytest.mark.parametrize("state", ["stopped", "frozen"])
def test_plugin_submit_without_a_server_is_one_line(
    relay, live_idds, example, outdir, monkeypatch, state
) -> None:
    """``bps submit``'s plugin calls raise a one-line error click prints as ``Error: ...``."""
    import click

    from compiler.plugin import PandaCompileWorkflow, PanDAService, WmsError

    fast = retry.RetryPolicy(attempts=3, first_delay=0.2, budget=BUDGET, call_timeout=CALL_TIMEOUT)
    monkeypatch.setattr(retry.RetryPolicy, "from_config", classmethod(lambda cls, config: fast))
    service = PanDAService(example.config)
    workflow = PandaCompileWorkflow("wf", example.config)
    workflow.submit_path = str(outdir)
    with unavailable(live_idds, state):
        with pytest.raises(WmsError, match="iDDS ping at PanDA relay") as checks:
            service.run_submission_checks()
        with pytest.raises(
            WmsError, match=f"panda-compile submit of {outdir} failed: iDDS ping"
        ) as submitted:
            service.submit(workflow)
    for error in (checks.value, submitted.value):
        assert isinstance(error, RuntimeError) and isinstance(error, click.ClickException)
        assert "\n" not in str(error) and error.__cause__ is None
    assert not (outdir / ops.SUBMISSION_FILE).exists()
