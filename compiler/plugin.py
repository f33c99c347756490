"""`PanDAService`: panda-compile as a BPS WMS plugin (`wmsServiceClass: compiler.PanDAService`).

It implements the interface of `lsst.ctrl.bps.BaseWmsService` (and subclasses it when
lsst-ctrl-bps is installed) with the reference plugin's behaviour, but stays thin: every
method is one call into the compiler (`prepare`) or into `compiler.runtime` (the rest),
which work without BPS too. Without lsst-ctrl-bps the class still works with plain
configs; report objects are then simple records with the same fields.

`prepare` writes the submission folder to `<out_prefix>/panda/` (an OUTDIR like the CLI
writes), so BPS's submit directory keeps its own files and ours appears atomically.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import click

from .api import Compiled, compile_workflow, write_outdir
from .errors import CompileError

try:  # the real BPS base classes when BPS is there: BPS checks isinstance in places
    from lsst.ctrl.bps import BaseWmsService as _ServiceBase
    from lsst.ctrl.bps import BaseWmsWorkflow as _WorkflowBase
except ImportError:  # pragma: no cover - exercised in the no-LSST install test

    class _ServiceBase:  # type: ignore[no-redef]
        def __init__(self, config: Any) -> None:
            self.config = config

    class _WorkflowBase:  # type: ignore[no-redef]
        def __init__(self, name: str, config: Any) -> None:
            self.name, self.config = name, config
            self.service_class: str | None = None
            self.run_id: Any = None
            self.submit_path: str | None = None


_LOG = logging.getLogger(__name__)
OUTDIR_NAME = "panda"


class WmsError(click.ClickException, RuntimeError):
    """A submit-side failure BPS's click CLI prints as one ``Error: ...`` line, no traceback.

    A `RuntimeError` for Python callers, as BPS plugins raise; a ``ClickException`` so
    ``bps submit`` (a click command) shows it the way it shows its own usage errors.
    """


DEFAULTS_RESOURCE = "resource://compiler/data/plugin_defaults.yaml"


class PandaCompileWorkflow(_WorkflowBase):
    """What BPS holds between `prepare` and `submit`: the compiled workflow and its folder."""

    def __init__(self, name: str, config: Any, compiled: Compiled | None = None) -> None:
        super().__init__(name, config)
        self.compiled = compiled
        self.run_attrs: dict[str, Any] = {}

    @classmethod
    def from_generic_workflow(
        cls, config: Any, generic_workflow: Any, out_prefix: str, service_class: str
    ) -> PandaCompileWorkflow:
        """Compile `generic_workflow` (nothing is written until `write`)."""
        outdir = os.path.join(out_prefix, OUTDIR_NAME)
        compiled = compile_workflow(generic_workflow, config, submit_path=outdir)
        workflow = cls(generic_workflow.name, config, compiled)
        workflow.service_class = service_class
        workflow.submit_path = outdir
        workflow.run_attrs.update(getattr(generic_workflow, "run_attrs", None) or {})
        return workflow

    def write(self, out_prefix: str) -> None:
        """Write the submission folder (atomically) under `out_prefix`."""
        assert self.compiled is not None, "nothing compiled"
        self.submit_path = os.path.join(out_prefix, OUTDIR_NAME)
        write_outdir(self.compiled, self.submit_path, force=True)


@dataclass
class _Report:
    """A stand-in for `lsst.ctrl.bps.WmsRunReport` when BPS is not installed."""

    wms_id: str | None = None
    run: str | None = None
    operator: str | None = None
    state: str | None = None
    total_number_jobs: int = 0
    job_state_counts: dict[Any, int] = field(default_factory=dict)
    job_summary: dict[str, dict[Any, int]] = field(default_factory=dict)
    exit_code_summary: dict[str, list[int]] = field(default_factory=dict)
    run_summary: str = ""
    project: str = ""
    campaign: str = ""
    payload: str = ""


def _bps() -> Any:
    try:
        import lsst.ctrl.bps as bps
    except ImportError:
        return None
    return bps


class PanDAService(_ServiceBase):
    """PanDA WMS service for BPS, built on panda-compile.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or mapping or path
        BPS configuration (any config `compiler.config.as_config` accepts).
    """

    # ----- defaults --------------------------------------------------------------------

    @property
    def defaults(self) -> Any:
        """Service default settings: the reference's `bps_panda.yaml` values and the generic
        runner (compiler/data/plugin_defaults.yaml; a `lsst.daf.butler.Config` when
        lsst-daf-butler is installed, else our own config object)."""
        try:
            from lsst.daf.butler import Config
        except ImportError:
            from .config import plugin_defaults

            return plugin_defaults()
        return Config(self.defaults_uri)

    @property
    def defaults_uri(self) -> Any:
        """URI of the bundled default settings (`lsst.resources.ResourcePath`)."""
        from lsst.resources import ResourcePath

        return ResourcePath(DEFAULTS_RESOURCE)

    # ----- prepare / submit ------------------------------------------------------------

    def prepare(
        self, config: Any, generic_workflow: Any, out_prefix: str | None = None
    ) -> PandaCompileWorkflow:
        """Compile `generic_workflow` and write its submission folder to `<out_prefix>/panda`."""
        out_prefix = out_prefix or "."
        start = time.perf_counter()
        service_class = f"{type(self).__module__}.{type(self).__name__}"
        workflow = PandaCompileWorkflow.from_generic_workflow(
            config, generic_workflow, out_prefix, service_class
        )
        workflow.write(out_prefix)
        _LOG.info("panda-compile prepare: %.2f s", time.perf_counter() - start)
        return workflow

    def submit(self, workflow: PandaCompileWorkflow, **kwargs: Any) -> None:
        """Stage files and submit the workflow's folder to iDDS; sets `workflow.run_id`."""
        from .runtime.operations import submit_outdir

        if kwargs.get("remote_build"):
            raise NotImplementedError("panda-compile does not do remote builds; submit a compiled workflow")
        try:
            record = submit_outdir(workflow.submit_path, kwargs.get("config") or self.config)
        except CompileError as exc:
            raise WmsError(f"panda-compile submit of {workflow.submit_path} failed: {exc}") from None
        workflow.run_id = record.request_id

    # ----- queries ---------------------------------------------------------------------

    def report(
        self,
        wms_workflow_id: Any = None,
        user: Any = None,
        hist: float = 0,
        pass_thru: Any = None,
        is_global: bool = False,
        return_exit_codes: bool = False,
    ) -> tuple[list[Any], str]:
        """Per-label job states of one workflow, as BPS's `WmsRunReport`s."""
        from .runtime.operations import RequestNotFound, report

        if not wms_workflow_id:
            return [], "Run summary not implemented yet, use 'bps report --id <workflow_id>' instead"
        try:
            run = report(int(wms_workflow_id), self.config, exit_codes=return_exit_codes)
        except RequestNotFound:
            return [], f"No records found for workflow id '{wms_workflow_id}'. Hint: double check the id"
        except (CompileError, ValueError) as exc:  # BPS prints the message; never a traceback
            return [], f"Cannot report workflow id '{wms_workflow_id}': {exc}"
        return [_run_report(run)], run.message or ""

    def get_status(
        self, wms_workflow_id: Any = None, hist: float = 0, is_global: bool = False
    ) -> tuple[Any, str]:
        """The workflow's state (a `WmsStates` when BPS is installed) and a message."""
        from .runtime.operations import request_status

        try:
            state = request_status(int(wms_workflow_id), self.config)
        except Exception as exc:  # BPS expects a state and a message, never an exception
            return _state("UNKNOWN"), f"Error getting workflow status for id {wms_workflow_id}: {exc}"
        return _state(state), ""

    def list_submitted_jobs(
        self,
        wms_id: Any = None,
        user: Any = None,
        require_bps: bool = True,
        pass_thru: Any = None,
        is_global: bool = False,
    ) -> list[Any]:
        """Request ids known to iDDS (the given one, if it exists)."""
        from .runtime.operations import list_requests

        try:
            return list_requests(int(wms_id) if wms_id else None, self.config)
        except (CompileError, ValueError) as exc:
            if wms_id:  # BPS then calls cancel on it, which says why it cannot be done
                return [wms_id]
            _LOG.error("Cannot list the workflows known to iDDS: %s", exc)
            return []

    # ----- control ---------------------------------------------------------------------

    def cancel(self, wms_id: Any, pass_thru: Any = None) -> tuple[bool, str]:
        """Abort a workflow; (deleted, message) as BPS expects."""
        from .runtime.operations import cancel

        return cancel(wms_id, self.config)

    def restart(self, wms_workflow_id: Any) -> tuple[Any, Any, str]:
        """Retry a workflow's failed parts; (id, run name, message) as BPS expects."""
        from .runtime.operations import restart

        request_id, message = restart(wms_workflow_id, self.config)
        return request_id, None, message

    def ping(self, pass_thru: Any = None) -> tuple[int, str | None]:
        """0 and None when iDDS answers, else non-zero and the reason."""
        from .runtime.operations import ping

        status, message = ping(self.config)
        return status, message or None

    def run_submission_checks(self) -> None:
        """Check, before submitting, that iDDS can be reached (PanDA relay or direct URL)."""
        from .runtime.routes import select_route

        try:
            select_route(None, os.environ, _config_value(self.config, "iddsServer"))
        except CompileError as exc:
            raise WmsError(str(exc)) from None
        status, message = self.ping()
        if status != 0:
            raise WmsError(message or "iDDS ping failed")


def _config_value(config: Any, key: str) -> Any:
    try:
        found, value = config.search(key)
    except Exception:
        return None
    return value if found else None


def _state(name: str) -> Any:
    bps = _bps()
    if bps is None:
        return name
    return getattr(bps.WmsStates, name, bps.WmsStates.UNKNOWN)


def _run_report(run: Any) -> Any:
    """Our `RunReport` as BPS's `WmsRunReport` (or `_Report` without BPS)."""
    fields = {
        "wms_id": str(run.request_id),
        "run": run.name,
        "operator": run.operator,
        "state": _state(run.state),
        "total_number_jobs": run.total_jobs,
        "job_state_counts": {_state(s): n for s, n in run.state_counts().items()},
        "job_summary": {label: {_state(s): n for s, n in c.items()} for label, c in run.per_label.items()},
        "exit_code_summary": dict(run.exit_codes),
        "run_summary": run.run_summary,
        "project": "",
        "campaign": "",
        "payload": "",
    }
    bps = _bps()
    return _Report(**fields) if bps is None else bps.WmsRunReport(**fields)
