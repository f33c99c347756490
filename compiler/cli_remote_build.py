"""``panda-compile submit --remote-build SUBMIT.yaml|BUILDDIR``: a remote build from the command line.

BPS's own submit driver asks a plugin for a remote build only when ``wmsServiceClass``
is literally the reference's class, so panda-compile has this entry point: the submit
YAML is initialised as ``bps submit`` does (a new submit folder), the build folder is
written to ``<submitPath>/panda-build`` and submitted. Given a build folder instead, it
is submitted again (an earlier request of it is adopted; ``--force`` makes a new one).
The work is done by `compiler.runtime.remote_build`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .errors import CompileError


def _describe(doc: dict[str, Any], folder: Path | None) -> list[str]:
    work, archive = doc["work"], doc["archive"]
    where = f" from {folder}" if folder is not None else ""
    return [
        f"would submit the remote build of {doc['name']}{where}: task {work['task_name']}"
        f" at site {work.get('task_site')!s}, queue {work.get('task_queue')!s}, {work.get('task_rss')} MB",
        f"would upload {archive['file']} ({archive['size']} bytes: {', '.join(archive['members'])})"
        " to the PanDA cache",
    ]


def submit_remote_build_command(
    outdir: Path | None,
    remote_build: Path | None,
    *,
    force: bool,
    dry_run: bool,
    config: Any,
    url: str | None,
) -> None:
    """The ``submit`` command's remote-build branch (see the module doc)."""
    from .runtime.remote_build import (
        bps_submit_config,
        build_folder_of,
        load_build,
        plan_build,
        prepare_build,
        submit_build_folder,
    )

    if remote_build is None:
        raise CompileError("submit needs OUTDIR (or --remote-build SUBMIT.yaml)")
    if outdir is not None:
        raise CompileError("give either OUTDIR or --remote-build, not both")
    if remote_build.is_dir():
        folder, bps_config = remote_build, config
        if dry_run:
            for line in _describe(load_build(folder), folder):
                click.echo(line)
            return
    else:
        bps_config, section = bps_submit_config(remote_build)
        plan = plan_build(bps_config, section, remote_build)
        if dry_run:
            for line in _describe(plan.document(), None):
                click.echo(line)
            return
        folder = prepare_build(plan, build_folder_of(bps_config))
    record = submit_build_folder(folder, bps_config, url=url, force=force)
    if record.adopted:
        click.echo(
            f"Adopted iDDS request {record.request_id} ({record.request_name}, {record.server}):"
            f" the build in {folder} was submitted before; nothing submitted"
        )
        return
    click.echo(
        f"Submitted the remote build of {record.workflow} as iDDS request {record.request_id}"
        f" ({record.server}); build folder {folder}"
    )
