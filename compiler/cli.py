"""The `panda-compile` command.

`panda-compile WORKFLOW -o OUTDIR` is the main job (the `compile` subcommand is implied
when the first argument is not a subcommand). Every `CompileError` becomes one line on
stderr and exit status 1; an interrupt exits 130. In both cases no OUTDIR is left behind.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

from . import __version__
from .errors import CompileError
from .gcpause import keep_until_exit


class _DefaultGroup(click.Group):
    """A group whose first argument, if not a subcommand, is the input of `compile`."""

    default_command = "compile"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


class _Progress:
    """Phase-by-phase progress on stderr, shown only once a compile has run for a while."""

    def __init__(self, enabled: bool, delay: float = 1.5, steps: int = 10) -> None:
        self.enabled, self.delay, self.steps = enabled, delay, steps
        self.start = time.monotonic()
        self.done, self.phase = 0, "load"
        self.shown = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)

    def advance(self, finished: str, upcoming: str) -> None:
        self.done += 1
        self.phase = upcoming
        del finished

    def _loop(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            self.shown = True
            filled = int(30 * min(self.done, self.steps) / self.steps)
            bar = "#" * filled + "-" * (30 - filled)
            elapsed = time.monotonic() - self.start
            click.echo(f"\r[{bar}] {self.phase:<14} {elapsed:6.1f}s", nl=False, err=True)
            self._stop.wait(0.25)


def _fail(exc: CompileError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="panda-compile")
def main() -> None:
    """Compile LSST BPS GenericWorkflows into PanDA/iDDS submissions."""


@main.command("compile")
@click.argument("workflow")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("-c", "--config", "config", default=None, help="BPS submit YAML (default: bundled defaults).")
@click.option("--force", is_flag=True, help="Replace OUTDIR if it exists.")
@click.option("--timings", is_flag=True, help="Print the time spent in each pass.")
@click.option("--dump-after", metavar="PASS", multiple=True, help="Print the IR after this pass.")
@click.option("--stop-after", metavar="PASS", default=None, help="Stop after this pass; write nothing.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.option(
    "--templates",
    "templates",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of templates replacing the bundled ones of the same name (config: pandaCompileTemplates).",
)
@click.option(
    "--allow-bps-eval",
    is_flag=True,
    help="Let config values run bpsEval(...) (else refused; config: pandaCompileAllowBpsEval in --config).",
)
def compile_command(workflow: str, outdir: str, config: str | None, **flags: Any) -> None:
    """Compile WORKFLOW (a GenericWorkflow pickle, URI or BPS submit folder) into OUTDIR."""
    from .api import compile_workflow, write_outdir
    from .dump import dump_ir
    from .passes.pipeline import PASSES
    from .summary import summarize

    unknown = [n for n in (*flags["dump_after"], flags["stop_after"]) if n and n not in PASSES]
    if unknown:
        raise click.BadParameter(f"no pass named {unknown[0]!r} (see `panda-compile passes`)")
    progress_on = flags["progress"] if flags["progress"] is not None else sys.stderr.isatty()
    names = list(PASSES)

    with _Progress(bool(progress_on) and not flags["quiet"]) as progress:

        def after_pass(name: str, wf: Any) -> None:
            index = names.index(name)
            progress.advance(name, names[index + 1] if index + 1 < len(names) else "write")
            if name in flags["dump_after"]:
                click.echo(f"--- IR after {name} ---\n{dump_ir(wf)}", err=True)

        try:
            compiled = compile_workflow(
                workflow,
                config,
                submit_path=outdir,
                after_pass=after_pass,
                stop_after=flags["stop_after"],
                allow_bps_eval=True if flags["allow_bps_eval"] else None,
            )
            for text in compiled.workflow.options.config_warnings:
                click.echo(f"warning: config: {text}", err=True)
            if flags["stop_after"]:
                return
            write_outdir(compiled, outdir, force=flags["force"], templates_dir=flags["templates"])
        except CompileError as exc:
            raise _fail(exc) from None
        except KeyboardInterrupt:
            click.echo("interrupted; nothing written", err=True)
            sys.exit(130)
    if not flags["quiet"]:
        click.echo(summarize(compiled.workflow, compiled.timings if flags["timings"] else None))
        click.echo(f"  written to {outdir}")
    # The process ends here: spare it freeing every job object one by one, and the
    # interpreter's final garbage collection over them (seconds at 10^6 jobs).
    keep_until_exit(compiled)


@main.command("check")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False))
def check_command(outdir: str) -> None:
    """Validate a compiled OUTDIR: schemas and cross-document consistency (exit 1 on problems)."""
    from .tools.check import check_outdir

    problems = check_outdir(outdir)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {outdir}", err=True)
        sys.exit(1)
    click.echo(f"{outdir}: OK")


@main.command("diff")
@click.argument("old", type=click.Path(exists=True, file_okay=False))
@click.argument("new", type=click.Path(exists=True, file_okay=False))
@click.option("--examples", default=3, show_default=True, help="Job names shown per group of changed jobs.")
def diff_command(old: str, new: str, examples: int) -> None:
    """What changed between two compiled folders (exit 0: none, 1: some, 2: unreadable)."""
    from .tools.diff import diff_outdirs

    try:
        differences = diff_outdirs(old, new, examples=examples)
    except CompileError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    for difference in differences:
        click.echo(str(difference))
    sys.exit(1 if differences else 0)


@main.command("run")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False))
@click.option("--workers", "-j", default=1, show_default=True, type=click.IntRange(1), help="Jobs at once.")
@click.option("--log", "log", default=None, type=click.Path(dir_okay=False), help="JSON-lines log.")
@click.option("--scratch", default=None, type=click.Path(file_okay=False), help="Folder for job folders.")
@click.option("--keep-going", is_flag=True, help="After a failure, still run what does not depend on it.")
@click.option("--job-timeout", default=None, type=click.FloatRange(0, min_open=True), help="Seconds per job.")
@click.option("--labels", default="", help="Comma-separated labels to run (with what they need).")
@click.option("--tasks", default="", help="Comma-separated tasks to run (with what they need).")
@click.option("--max-jobs", default=None, type=click.IntRange(1), help="At most N jobs per task.")
@click.option("--as-pilot", is_flag=True, help="Run the whole executable, not the decoded payload.")
@click.option("--dry-run", is_flag=True, help="Print the commands in run order; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: one JSON object per job.")
@click.option("--progress/--no-progress", default=None, help="Progress line (default: stderr is a tty).")
def run_command(outdir: str, **flags: Any) -> None:
    """Run OUTDIR's jobs here, in dependency order, as PanDA would (exit 0: all succeeded)."""
    import os

    from .tools.run import Selection, planned, write_dry_run

    if flags["as_json"] and not flags["dry_run"]:
        raise click.BadParameter("--json goes with --dry-run (a run's log is JSON lines: --log)")
    split = [[n for n in flags[k].split(",") if n] for k in ("labels", "tasks")]
    selection = Selection(split[0], split[1], flags["max_jobs"], flags["as_pilot"])
    try:
        plan, order, commands = planned(outdir, selection, os.environ)
    except CompileError as exc:
        raise _fail(exc) from None
    if flags["dry_run"]:
        write_dry_run(plan, order, commands, sys.stdout, flags["as_json"])
        return
    from .tools.scheduler import run_and_report

    try:
        status = run_and_report(plan, order, commands, flags)
    except CompileError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:  # while staging, before any job started
        click.echo("interrupted before any job started", err=True)
        sys.exit(130)
    sys.exit(status)


@main.command("graph")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="FILE .dot, .svg, .png.")
def graph_command(outdir: str, output: str) -> None:
    """Draw OUTDIR's task graph (format from the extension; .svg/.png need Graphviz)."""
    from .tools.graph import write_graph
    from .tools.plan import load_plan

    try:
        write_graph(load_plan(outdir).doc, output)
    except CompileError as exc:
        raise _fail(exc) from None
    click.echo(f"wrote {output}")


@main.command("view")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The HTML page.")
def view_command(outdir: str, output: str) -> None:
    """Write one self-contained HTML page describing OUTDIR (no network references)."""
    import os

    from .tools.plan import load_plan
    from .tools.view import write_view

    try:
        write_view(load_plan(outdir), output, os.environ)
    except CompileError as exc:
        raise _fail(exc) from None
    click.echo(f"wrote {output}")


@main.command("passes")
def passes_command() -> None:
    """List the compiler passes in the order they run."""
    from .passes.pipeline import DEFAULT_PIPELINE

    for p in DEFAULT_PIPELINE:
        click.echo(f"{p.name:<14} {p.description}")


def _register_runtime_commands() -> None:
    """submit / report / cancel / restart / ping / list (compiler/cli_runtime.py)."""
    from .cli_auth import auth
    from .cli_runtime import RUNTIME_COMMANDS

    for command in RUNTIME_COMMANDS:
        main.add_command(command)
    main.add_command(auth)  # auth status|reset|clean|refresh (compiler/cli_auth.py)


_register_runtime_commands()
