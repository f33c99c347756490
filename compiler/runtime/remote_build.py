"""Remote build: submit an iDDS *build* request that runs ``bps submit`` at a remote facility.

With ``remoteBuild: {enabled: true, ...}`` the reference's ``submit`` does not submit a
prepared workflow: it packs ``remoteBuild.files`` and the submit YAML into a
``jobO.<id>.tar.gz``, uploads it to the PanDA cache and submits one DOMA PanDA work,
``build_task`` (task type ``lsst_build``), with ``ClientManager.submit_build``; that task
downloads the archive and runs ``bps submit`` there. Its parameters come from the
``remoteBuild`` section, falling back to the whole config: ``computeSite``,
``computeCloud``, ``queue``, ``requestMemory``, ``numberOfRetries``, ``processingType``;
its executable is ``remoteBuild.runnerCommand`` (with ``{LSST_VERSION}``,
``{custom_lsst_setup}`` and ``{IDDS_MAX_NAME_LENGTH}``) where ``_download_cmd_line_`` is
the archive's cache URL, ``_build_cmd_line_`` the submit YAML's name and
``_compute_site_`` the site given on the command line.

Here the same request is made in two steps, like every panda-compile submission:

1. `prepare_build` writes a *build folder* (``<submitPath>/panda-build``): ``build.json``
   (the work's keyword arguments, the archive's manifest entry; no time stamps) and the
   deterministic archive (`compiler.archive`). Nothing talks to a server.
2. `submit_build_folder` checks the folder (the archive is the one recorded), pings
   iDDS, looks up the folder's request name (an earlier submit whose answer was lost is
   adopted), uploads the archive (`compiler.runtime.cache_upload`, bounded retries),
   submits the build with ``submit_build`` and records ``submission.json``, exactly as
   ``submit_outdir`` does; ``report``, ``cancel`` and ``list`` then work on its id.

The request is named ``<uniqProcName>.pc-<key>`` (the reference: ``uniqProcName``), the
key being the folder's name and the digest of its ``build.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..archive import Archive, ArchiveError, build_archive, cache_file_token
from ..emit.archive import archive_entry, archive_problems, write_archive
from ..errors import CompileError, ConfigError
from ..passes.task_params import DEFAULT_ATTEMPTS, DEFAULT_RSS, TASK_LOG
from ..safepath import UnsafePathError, read_inside
from .cache_upload import cache_base, upload_archive
from .errors import Failure, OutdirError, RuntimeServiceError
from .idds import IddsClient, _import
from .operations import _client
from .submission_key import Intent, clear_intent, read_intent, request_name, safe, write_intent
from .submission_record import (
    SubmitRecord,
    adopt,
    new_record,
    previous_ids,
    recover_intent,
    submit_lock,
    write_record,
)

BUILD_FOLDER = "panda-build"
"""The build folder's name inside the BPS submit directory."""
BUILD_FILE = "build.json"
BUILD_KIND = "panda-compile-remote-build-1"
"""``build.json``'s ``kind``: what the folder is, and the version of its format."""
TASK_NAME = "build_task"
DEFAULT_NAME_LENGTH = 4000  # the reference's PANDA_DEFAULT_NAME_LENGTH (IDDS_MAX_NAME_LENGTH)
_SEARCH = {"replaceVars": True, "expandEnvVars": False, "replaceEnvVars": False, "required": False}
"""How the reference looks the build's settings up: variables filled, environment left alone."""


def _search(section: Any, key: str, **extra: Any) -> Any:
    """``section.search(key)`` as the reference does it (BpsConfig answers "" when unset)."""
    return section.search(key, opt={**_SEARCH, **extra})[1]


def _setting(config: Any, remote_build: Any, key: str) -> Any:
    """``remoteBuild.<key>``, else ``<key>`` anywhere in the config (an empty value falls through)."""
    value = _search(remote_build, key)
    return value if value else _search(config, key)


def _number(key: str, value: Any, default: int) -> int | float:
    """A positive number setting (unset, 0 or empty: the default), or a one-line error."""
    if value in (None, "", 0):
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value) if "." in str(value) else int(value)
        except ValueError:
            raise ConfigError(f"config key 'remoteBuild.{key}' must be a number, got {value!r}") from None
    if value < 0:
        raise ConfigError(f"config key 'remoteBuild.{key}' must not be negative, got {value!r}")
    return value or default


def _max_name_length(environ: Mapping[str, str]) -> int:
    value = environ.get("IDDS_MAX_NAME_LENGTH")
    if value is None:
        return DEFAULT_NAME_LENGTH
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable IDDS_MAX_NAME_LENGTH is not an integer: {value!r}") from None


def _executable(
    config: Any, remote_build: Any, config_file: str, compute_site: str | None, token: str
) -> str:
    """``remoteBuild.runnerCommand`` filled in; the archive's URL is `token` until submit."""
    curvals = {
        "LSST_VERSION": _setting(config, remote_build, "LSST_VERSION"),
        "custom_lsst_setup": _setting(config, remote_build, "custom_lsst_setup"),
        "IDDS_MAX_NAME_LENGTH": _max_name_length(os.environ),
    }
    command = _search(remote_build, "runnerCommand", curvals=curvals)
    if not isinstance(command, str) or not command.strip():
        raise ConfigError("config key 'remoteBuild.runnerCommand' is missing: it is the build job's command")
    return (
        command.replace("_download_cmd_line_", token)
        .replace("_build_cmd_line_", os.path.basename(config_file))
        .replace("_compute_site_", compute_site or "")
    )


def build_work(
    config: Any, remote_build: Any, config_file: str, compute_site: str | None, archive_name: str
) -> dict[str, Any]:
    """The ``DomaPanDAWork`` keyword arguments of the build task (the reference's values)."""
    token = cache_file_token(archive_name)
    retries = _number("numberOfRetries", _setting(config, remote_build, "numberOfRetries"), DEFAULT_ATTEMPTS)
    return {
        "executable": _executable(config, remote_build, config_file, compute_site, token),
        "task_type": "lsst_build",
        "primary_input_collection": {"scope": "pseudo_dataset", "name": "pseudo_input_collection#1"},
        "output_collections": [{"scope": "pseudo_dataset", "name": "pseudo_output_collection#1"}],
        "log_collections": [],
        "dependency_map": None,
        "task_name": TASK_NAME,
        "task_queue": _setting(config, remote_build, "queue"),
        "encode_command_line": True,
        "prodSourceLabel": "managed",
        "processing_type": _setting(config, remote_build, "processingType"),
        "task_log": dict(TASK_LOG),
        "task_rss": _number("requestMemory", _setting(config, remote_build, "requestMemory"), DEFAULT_RSS),
        "task_cloud": _setting(config, remote_build, "computeCloud"),
        "task_site": _setting(config, remote_build, "computeSite"),
        "maxattempt": retries,
    }


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """A remote build before it is written: request name base, work, archive."""

    name: str
    work: dict[str, Any]
    archive: Archive

    def document(self) -> dict[str, Any]:
        """``build.json``: deterministic (no time, user or random id)."""
        from .. import __version__

        return {
            "kind": BUILD_KIND,
            "generator": {"name": "panda-compile", "version": __version__},
            "name": self.name,
            "work": self.work,
            "archive": archive_entry(self.archive),
        }


def _build_files(remote_build: Any, config_file: str) -> list[str]:
    files = _search(remote_build, "files")
    if files in (None, ""):
        files = []
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list | tuple) or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"config key 'remoteBuild.files' must be a list of file names, got {files!r}")
    return [*files, config_file]


def plan_build(
    config: Any, remote_build: Any, config_file: str | os.PathLike[str], compute_site: str | None = None
) -> BuildPlan:
    """What the build request will be, from the BPS config, its ``remoteBuild`` section and YAML."""
    if remote_build is None or not hasattr(remote_build, "search"):
        raise ConfigError("config section 'remoteBuild' is missing")
    name = _search(config, "uniqProcName")
    if not isinstance(name, str) or not name:
        raise ConfigError("config key 'uniqProcName' is missing: it names the build request")
    try:
        archive = build_archive(_build_files(remote_build, str(config_file)), "remote build file")
    except ArchiveError as exc:
        raise ConfigError(str(exc)) from None
    work = build_work(config, remote_build, str(config_file), compute_site, archive.name)
    return BuildPlan(name, work, archive)


def build_folder_of(config: Any) -> Path:
    """``<submitPath>/panda-build``, where BPS's submit directory keeps the build."""
    submit_path = _search(config, "submitPath")
    if not submit_path:
        raise ConfigError("config key 'submitPath' is missing: the build folder goes there")
    return Path(str(submit_path)) / BUILD_FOLDER


def _document_bytes(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode("utf-8")


def prepare_build(plan: BuildPlan, folder: str | os.PathLike[str]) -> Path:
    """Write the build folder atomically; an existing one must hold this very build."""
    target = Path(folder)
    data = _document_bytes(plan.document())
    if target.exists():
        try:
            same = read_inside(target, BUILD_FILE) == data and not archive_problems(target, plan.document())
        except (OSError, UnsafePathError):
            same = False
        if not same:
            raise OutdirError(
                f"{target} exists and holds another build; remove it or use another submit folder"
            )
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_archive(plan.archive, temporary)
        (temporary / BUILD_FILE).write_bytes(data)
        os.rename(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return target


def load_build(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``build.json`` of a build folder, checked (shape, and the archive is the recorded one)."""
    path = Path(folder) / BUILD_FILE
    try:
        doc = json.loads(read_inside(folder, BUILD_FILE))
    except (OSError, ValueError, RecursionError, UnsafePathError) as exc:
        raise OutdirError(f"{path}: not a readable build folder ({exc})") from None
    ok = isinstance(doc, dict) and doc.get("kind") == BUILD_KIND and isinstance(doc.get("name"), str)
    if not ok or not isinstance(doc.get("work"), dict) or not isinstance(doc.get("archive"), dict):
        raise OutdirError(f"{path}: not a {BUILD_KIND} document; prepare the build again")
    for key in ("file", "sha256", "size", "placeholder"):
        if key not in doc["archive"]:
            raise OutdirError(f"{path}: archive lacks '{key}'; prepare the build again")
    problems = archive_problems(folder, doc)
    if problems:
        raise OutdirError(f"{folder}: {problems[0]}; nothing uploaded or sent")
    return doc


def build_key(folder: str | os.PathLike[str]) -> str:
    """The build folder's submission key: its name and the digest of its ``build.json``."""
    resolved = Path(folder).resolve()
    digest = hashlib.sha256(read_inside(resolved, BUILD_FILE)).hexdigest()
    return f"{safe(resolved.name)[:64]}-{digest[:12]}"


def idds_build_workflow(doc: Mapping[str, Any], cache_url: str) -> Any:
    """The iDDS workflow of a build: one ``DomaPanDAWork``, its executable with the cache URL."""
    workflow_module = _import("idds.workflowv2.workflow")
    work_class = _import("idds.doma.workflowv2.domapandawork").DomaPanDAWork
    kwargs = dict(doc["work"])
    kwargs["executable"] = str(kwargs["executable"]).replace(doc["archive"]["placeholder"], cache_url)
    try:
        work = work_class(**kwargs)
    except (TypeError, ValueError) as exc:
        raise OutdirError(f"build task: DomaPanDAWork refused its arguments: {exc}") from exc
    workflow = workflow_module.Workflow()
    workflow.add_work(work)
    workflow.name = doc["name"]
    return workflow


def submit_build_folder(
    folder: str | os.PathLike[str],
    config: Any = None,
    *,
    url: str | None = None,
    force: bool = False,
    client: IddsClient | None = None,
) -> SubmitRecord:
    """Upload a build folder's archive and submit its build request; records ``submission.json``.

    The order and the records are `compiler.runtime.operations.submit_outdir`'s: local
    checks, ping, look-up by name (adopt), then the upload and the submit.
    """
    path = Path(folder)
    with submit_lock(path):
        doc = load_build(path)
        intent = read_intent(path)
        previous = previous_ids(path, force or intent is not None)
        key = build_key(path)
        cache_base()  # a missing PANDACACHE_URL fails before any server is contacted
        service = _client(config, url, client)
        service.ping()
        if intent is not None:
            recovered = recover_intent(path, service, intent, key, doc["name"])
            if recovered is not None:
                return recovered
            previous = previous_ids(path, force)
        name = request_name(doc["name"], key, forced=len(previous) + 1 if force else 0)
        if not force:
            existing = service.request_id_by_name(name)
            if existing is not None:
                return adopt(path, service, existing, name, key, doc["name"], previous)
        workflow = idds_build_workflow(doc, upload_archive(path, doc["archive"], service.policy))
        workflow.name = name
        write_intent(path, Intent.now(name, key, service.transport.description, previous))
        try:
            request_id = service.submit_build(workflow)
        except RuntimeServiceError as exc:
            if exc.kind is not Failure.TRANSIENT:
                clear_intent(path)
            raise
        record = dataclasses.replace(
            new_record(service, request_id, 0, doc, name, key), previous_request_ids=previous
        )
        write_record(path, record)
        clear_intent(path)
    return record


def submit_remote_build(
    config: Any,
    remote_build: Any,
    config_file: str | os.PathLike[str],
    compute_site: str | None = None,
    *,
    url: str | None = None,
    client: IddsClient | None = None,
) -> tuple[SubmitRecord, Path, str]:
    """Prepare and submit a remote build, as BPS's ``submit(..., remote_build=...)`` asks.

    Returns the record, the build folder and the build's name (``uniqProcName``).
    """
    plan = plan_build(config, remote_build, config_file, compute_site)
    folder = prepare_build(plan, build_folder_of(config))
    return submit_build_folder(folder, config, url=url, client=client), folder, plan.name


def bps_submit_config(config_file: str | os.PathLike[str]) -> tuple[Any, Any]:
    """(config, remoteBuild section) of a submit YAML, initialised as ``bps submit`` does.

    BPS's own initialisation (``lsst.ctrl.bps.initialize.init_submission``) defines
    ``uniqProcName``, ``timestamp`` and the submit folder the remote ``bps submit`` expects,
    so lsst-ctrl-bps is needed here; the build must be enabled in the YAML.
    """
    try:
        from lsst.ctrl.bps.initialize import (
            init_submission,
            out_collection_validator,
            output_run_validator,
            submit_path_validator,
        )
    except ImportError as exc:
        raise CompileError(
            f"a remote build needs lsst-ctrl-bps to read {config_file} as bps submit does ({exc})"
        ) from None
    validators = [submit_path_validator, output_run_validator, out_collection_validator]
    try:
        config = init_submission(str(config_file), validators=validators)
    except (KeyError, ValueError, OSError) as exc:
        raise ConfigError(f"{config_file}: {' '.join(str(exc).split())}") from None
    _, remote_build = config.search("remoteBuild", opt={"default": None})
    if not remote_build or not hasattr(remote_build, "search"):
        raise ConfigError(f"{config_file} has no 'remoteBuild' section: nothing to build remotely")
    if not remote_build.search("enabled", opt={"default": False})[1]:
        raise ConfigError(f"{config_file}: remoteBuild.enabled is not true: nothing to build remotely")
    return config, remote_build
