"""The runtime commands of ``panda-compile``: submit, report, cancel, restart, ping, list.

Each is a plain ``click.Command`` (`RUNTIME_COMMANDS`) that the main group registers; the
work is done by `compiler.runtime.operations`.  Which service they talk to: ``--url``
(an iDDS REST URL), else the PanDA relay (``PANDA_URL_SSL``/``PANDA_URL``, with the
config's ``iddsServer``), else ``IDDS_HOST``, else ``iddsServer`` directly
(`compiler.runtime.routes`).  ``--config`` is a BPS submit YAML: submit
needs it for ``fileDistributionEndPoint`` when the workflow has files to stage, and it
may set ``iddsRetryAttempts``/``iddsRetryBudget``/``iddsCallTimeout``.

A `CompileError` (every runtime failure is one) becomes one line on stderr and exit 1.
The iDDS client logs to the root logger (and points it at stdout at import); its lines
would repeat our one-line errors and spoil ``--json``, so while a command runs the root
logger is silenced and panda-compile's own warnings (retries, route conflicts) go to
stderr (`compiler.runtime.logs.quiet_clients`): stdout holds only the command's output.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import CompileError

_PANDA_STATES = ("UNREADY", "RUNNING", "SUCCEEDED", "FAILED", "PRUNED")
"""Job-state columns always shown: the ones iDDS file counts can produce."""


def _runtime_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--url``/``--config``, load the config, turn a `CompileError` into one line."""

    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="BPS submit YAML.")
    @click.option("--url", default=None, help="iDDS REST URL (default: PanDA relay or $IDDS_HOST).")
    @functools.wraps(func)
    def wrapper(*args: Any, config_path: str | None, url: str | None, **kwargs: Any) -> Any:
        try:
            from .runtime.logs import quiet_clients

            with quiet_clients():
                config = None
                if config_path:
                    from .config import load_config

                    config = load_config(config_path)
                return func(*args, config=config, url=url, **kwargs)
        except CompileError as exc:
            raise click.ClickException(" ".join(str(exc).split())) from exc

    return wrapper


@click.command("submit")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--force", is_flag=True, help="Submit again although OUTDIR records a submission.")
@click.option("--dry-run", is_flag=True, help="Check OUTDIR, list what would be staged and sent; do neither.")
@click.option(
    "--remote-build",
    metavar="SUBMIT.yaml|BUILDDIR",
    type=click.Path(exists=True, path_type=Path),
    help="Submit a remote build (remoteBuild section) instead of OUTDIR; or resubmit its build folder.",
)
@_runtime_command
def submit(
    outdir: Path | None, force: bool, dry_run: bool, remote_build: Path | None, config: Any, url: str | None
) -> None:
    """Check OUTDIR, stage its files and submit it to iDDS; records OUTDIR/submission.json."""
    from .runtime.operations import submit_outdir, submit_plan

    if remote_build is not None or outdir is None:
        from .cli_remote_build import submit_remote_build_command

        submit_remote_build_command(
            outdir, remote_build, force=force, dry_run=dry_run, config=config, url=url
        )
        return
    if dry_run:
        plan = submit_plan(outdir, config)
        click.echo(
            f"would submit {plan['workflow']} as {plan['request_name']}:"
            f" {plan['tasks']} tasks, {plan['jobs']} jobs"
        )
        if plan["upload"]:
            upload = plan["upload"]
            click.echo(f"would upload {upload['file']} ({upload['size']} bytes) to the PanDA cache")
        for item in plan["stage"]:
            size = f", {item['size']} bytes, sha256 {item['sha256'][:12]}" if "size" in item else ""
            click.echo(f"would stage {item['key']}: {item['source']} ({item['kind']}{size}) -> {item['to']}")
        return
    record = submit_outdir(outdir, config, url=url, force=force)
    if record.adopted:
        click.echo(
            f"Adopted iDDS request {record.request_id} ({record.request_name}, {record.server}):"
            f" {outdir} was submitted before; recorded in {outdir / 'submission.json'}, nothing submitted"
        )
        return
    steps = f", {record.steps} steps" if record.steps else ""
    if force and record.previous_request_ids:
        steps += f", forced: earlier request {record.previous_request_ids[-1]} left as it is"
    click.echo(
        f"Submitted {record.workflow} as iDDS request {record.request_id} ({record.server}{steps},"
        f" {record.staged_files} files staged)"
    )


@click.command("report")
@click.argument("request_id", metavar="ID", type=int)
@click.option("--exit-codes", is_flag=True, help="Fetch the exit codes of failed jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_runtime_command
def report(request_id: int, exit_codes: bool, as_json: bool, config: Any, url: str | None) -> None:
    """Show a request's state and its jobs per label and state, like `bps report`."""
    from .runtime.operations import report as run_report

    result = run_report(request_id, config, url=url, exit_codes=exit_codes)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render_report(result, exit_codes))


def render_report(result: Any, with_exit_codes: bool = False) -> str:
    """The text of ``report``: a header line, then a label x state table with totals."""
    counts = result.state_counts()
    shown = [s for s in counts if s in _PANDA_STATES or counts[s]]
    succeeded = f"{100 * counts['SUCCEEDED'] // result.total_jobs}%" if result.total_jobs else "-"
    lines = [
        f"Request {result.request_id}  {result.name}  operator {result.operator}  state {result.state}"
        f" (iDDS {result.idds_status or '?'})  succeeded {succeeded}"
    ]
    if result.message:
        lines.append(result.message)
    rows = [["LABEL", *shown, "TOTAL"], ["TOTAL", *(counts[s] for s in shown), result.total_jobs]]
    for label, by_state in result.per_label.items():
        rows.append([label, *(by_state[s] for s in shown), sum(by_state.values())])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    text = ["  ".join(_cells(row, widths)) for row in rows]
    text.insert(2, "-" * len(text[0]))
    lines.extend(text)
    if not result.per_label:
        lines.append("(no PanDA task created yet)")
    if with_exit_codes or result.exit_codes:
        lines.extend(_exit_code_lines(result.exit_codes))
    return "\n".join(lines)


def _cells(row: list[Any], widths: list[int]) -> list[str]:
    """A table row: the label left-aligned, numbers right-aligned."""
    return [
        str(v).ljust(w) if i == 0 else str(v).rjust(w)
        for i, (v, w) in enumerate(zip(row, widths, strict=True))
    ]


def _exit_code_lines(exit_codes: dict[str, list[int]]) -> list[str]:
    """``label: code xN, ...`` per label with failed jobs."""
    lines = ["Exit codes:"] if exit_codes else ["Exit codes: none"]
    for label, codes in exit_codes.items():
        tally: dict[int, int] = {}
        for code in codes:
            tally[code] = tally.get(code, 0) + 1
        shown = ", ".join(f"{code} x{n}" for code, n in sorted(tally.items())) or "(none reported)"
        lines.append(f"  {label}: {shown}")
    return lines


@click.command("cancel")
@click.argument("request_id", metavar="ID", type=int)
@_runtime_command
def cancel(request_id: int, config: Any, url: str | None) -> None:
    """Ask iDDS to abort a request."""
    from .runtime.operations import cancel as cancel_request

    ok, message = cancel_request(request_id, config, url=url)
    if not ok:
        raise CompileError(message)
    click.echo(message if " already " in message else f"Cancel of request {request_id}: {message}")


@click.command("restart")
@click.argument("request_id", metavar="ID", type=int)
@_runtime_command
def restart(request_id: int, config: Any, url: str | None) -> None:
    """Ask iDDS to retry a request's failed jobs."""
    from .runtime.operations import restart as restart_request

    new_id, message = restart_request(request_id, config, url=url)
    if new_id is None:
        raise CompileError(message)
    click.echo(message if " already " in message else f"Restart of request {new_id}: {message}")


@click.command("ping")
@click.option("-v", "--verbose", is_flag=True, help="Also say which route was taken, and why.")
@_runtime_command
def ping(verbose: bool, config: Any, url: str | None) -> None:
    """Check that iDDS answers and accepts the credentials."""
    from .config import as_config
    from .runtime.idds import client_from_config
    from .runtime.operations import ping as ping_service

    client = client_from_config(as_config(config), url=url)
    if verbose and client.route is not None:
        click.echo(client.route.describe())
    status, message = ping_service(client=client)
    if status != 0:
        raise CompileError(message or "ping failed")
    click.echo("OK")


@click.command("list")
@click.argument("request_id", metavar="[ID]", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the requests as a JSON list.")
@_runtime_command
def list_(request_id: int | None, as_json: bool, config: Any, url: str | None) -> None:
    """List requests (the given one, else all iDDS shows): id, name, status, created, OUTDIR key."""
    from .runtime.listing import render_table
    from .runtime.operations import list_details

    requests = list_details(request_id, config, url=url)
    if request_id is not None and not requests:
        raise CompileError(f"no iDDS request {request_id}")
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in requests], indent=2))
    else:
        click.echo(render_table(requests))


RUNTIME_COMMANDS: list[click.Command] = [submit, report, cancel, restart, ping, list_]
