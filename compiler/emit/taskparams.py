"""Render a PanDA task's parameters (JEDI's ``taskParamMap``) from a Jinja template.

Why: iDDS does not receive a taskParamMap from the client.  It receives pickled
``DomaPanDAWork`` objects and builds the map itself, in the Transformer agent, in
``DomaPanDAWork.create_processing`` (idds-doma 2.6.x; unchanged on iDDS master), then the
Carrier agent sends it with ``pandaclient.Client.insertTaskParams``.  Rendering the same
map at compile time lets panda-compile show, check and diff exactly what PanDA will get,
and lets operators change it by overriding one template instead of patching iDDS.

What ``create_processing`` reads, and when each value is known:

* compile time, from the work's keyword arguments: ``vo``, ``task_queue`` (or ``queue``),
  ``working_group``, ``task_priority``, ``encode_command_line``, ``processing_type``,
  ``prodSourceLabel``, ``task_type``, ``core_count`` and ``maxattempt`` (normalised by
  the constructor: ``int(x) if x else 1`` / ``5``), ``task_cloud``, ``task_site``,
  ``task_rss*`` (divided by the core count), ``maxwalltime``, ``task_log``, ``executable``;
* compile time, from the dependency map: the pseudo-input names (``pfnList``, ``nFiles``)
  and whether any job has a dependency (``inputPreStaging``); with event service the
  event-service files that the ``dependency_map`` setter computes (``construct_es_files``:
  ``es_label``, ``max_events_per_job``, order ids; ES is switched off when an order id is
  missing or repeated);
* run time only (rendered as placeholders, see ``PLACEHOLDERS``): the request id and
  the transform id (``taskName`` suffix, ``reqID``, the command-line prefix), the work's
  signature (command-line prefix) and the requester's user name (``userName``).

Not rendered: what ``submit_panda_task`` (Carrier) changes afterwards from agent
configuration (``additional_task_parameters[_per_site]``, ``core_to_queues``, the cloud of
the site, a ``_<n>`` suffix on resubmission).  ``num_retries`` (agent configuration)
matters only when ``maxattempt`` normalises to 0; its default, 5, is used then.  The
environment (``PANDA_*``, ``panda.cfg``, ``IDDS_MAX_NAME_LENGTH``) does not enter the map:
it only locates PanDA and bounds name lengths, which other passes check.

Placeholder convention: ``@@NAME@@`` (``placeholder(NAME)``).  ``${NAME}`` would be
ambiguous: the command lines are shell (``${logDir}``) and JEDI substitutes ``${...}`` in
job parameters.  ``fill_placeholders`` replaces a string that is exactly one placeholder
by the typed value (``reqID`` is an int) and a placeholder inside a longer string by
``str(value)``, which is what iDDS's string concatenations do.

JSON values: top-level keys come in iDDS's insertion order (the template's); values go
through the template's ``json`` filter, ``json.dumps`` with sorted keys.  Jinja's
``tojson`` would give the same values after ``json.loads`` (it only escapes ``<>&'`` as
``\\u003c``...), but it makes the shell command lines unreadable, so it is not used.
"""

from __future__ import annotations

import importlib.util
import json
import re
import traceback
from collections.abc import Mapping, Sequence
from functools import lru_cache
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import jinja2
import jinja2.sandbox

from ..errors import CompileError

TEMPLATE_NAME = "task_params.json.j2"
TEMPLATES_PACKAGE = "compiler.templates"
DEFAULT_USERNAME = "iDDS"  # DomaPanDAWork: userName = username if username else 'iDDS'
DEFAULT_MAX_ATTEMPT = 5  # DomaPanDAWork's default maxattempt and num_retries

PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "IDDS_REQUEST_ID": "iDDS request id (int), assigned when iDDS accepts the submission; "
        "the Clerk sets it on every work. Used in taskName, the command-line prefix and reqID.",
        "IDDS_TRANSFORM_ID": "iDDS transform id (int) of this work (Work.get_work_id()), assigned "
        "when the Clerk/Transformer creates the transform. Used in taskName.",
        "IDDS_SIGNATURE": "Work.signature: a uuid4 string set by Work.initialize_work() when the "
        "workflow starts the work. Used in the command-line prefix (IDDS_BUIL_SIGNATURE).",
        "IDDS_USERNAME": "the request's user name as recorded by the iDDS server; "
        f"{DEFAULT_USERNAME!r} when empty. Used as userName.",
    }
)
_TOKEN = re.compile(r"@@([A-Z][A-Z0-9_]*)@@")


def placeholder(name: str) -> str:
    """The text standing for run-time value ``name`` in rendered parameters."""
    if name not in PLACEHOLDERS:
        raise KeyError(f"unknown placeholder {name!r}")
    return f"@@{name}@@"


def _json_filter(value: Any) -> str:
    """JSON text of a plain value: the only way values enter the template's output.

    A filter receives undefined values as objects, which StrictUndefined lets through;
    ``str()`` makes it raise its UndefinedError (naming the missing key) here instead.
    """
    kind = type(value)
    if kind is str:  # the common cases (~25 calls per task), as json.dumps encodes them
        return encode_basestring_ascii(value)
    if kind is int:
        return int.__repr__(value)
    if isinstance(value, jinja2.Undefined):
        str(value)
        raise jinja2.UndefinedError("undefined value passed to the json filter")
    return json.dumps(value, sort_keys=True, allow_nan=False)


def bundled_templates_dir() -> Path | None:
    """The bundled templates folder, or None when only a zipped package has it.

    Installed, the folder is the package ``compiler.templates``; in the source tree it is
    the top-level ``templates/`` next to ``compiler/`` (the wheel maps one onto the other).
    """
    try:
        spec = importlib.util.find_spec(TEMPLATES_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / TEMPLATE_NAME).is_file():
                return Path(location)
        return None
    source = Path(__file__).resolve().parents[2] / "templates"
    if (source / TEMPLATE_NAME).is_file():
        return source
    raise CompileError(f"bundled template {TEMPLATE_NAME} not found (no {TEMPLATES_PACKAGE}, no {source})")


def _bundled_loader() -> jinja2.BaseLoader:
    """A loader for the bundled templates, wherever they are (see bundled_templates_dir)."""
    folder = bundled_templates_dir()
    if folder is not None:
        return jinja2.FileSystemLoader(str(folder))
    return jinja2.PackageLoader(TEMPLATES_PACKAGE, ".")


def template_environment(templates_dir: str | Path | None = None) -> jinja2.Environment:
    """A sandboxed Jinja environment for the task templates, strict about undefined values.

    With ``templates_dir``, templates there override the bundled ones of the same name;
    the others still come from the bundle, so an override folder holds only what changes.
    Sandboxed (immutable): a site's template may format data but not reach Python
    internals (``cycler.__init__.__globals__``) or mutate its context; such an attempt is
    a ``SecurityError``, which `render_template` reports naming the template.
    """
    loader = _bundled_loader()
    if templates_dir is not None:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(templates_dir)), loader])
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # JSON, not HTML: escaping is the json filter's job
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["json"] = _json_filter
    return env


@lru_cache(maxsize=1)
def _default_environment() -> jinja2.Environment:
    """The bundled environment, built once so its compiled templates are reused."""
    return template_environment()


def _max_attempt(value: Any) -> int:
    """maxAttempt/maxFailure: the constructor's ``int(x) if x else 5``, then num_retries."""
    attempts = int(value) if value else DEFAULT_MAX_ATTEMPT
    return attempts or DEFAULT_MAX_ATTEMPT


def _event_service_files(
    items: Sequence[Mapping[str, Any]], es_label: Any, max_events: Any
) -> dict[str, bool] | None:
    """Event-service file name -> has dependencies, as DomaPanDAWork.construct_es_files.

    None when an order id is missing or repeated: iDDS then switches event service off.
    Like iDDS, each group keeps only the chunks of its last run of consecutive order ids.
    """
    seen: set[Any] = set()
    for item in items:
        order_id = item.get("order_id")
        if order_id is None or order_id in seen:
            return None
        seen.add(order_id)
    if not items:
        return {}
    if not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 1:
        raise CompileError(
            f"max_events_per_job must be a positive integer for event service, not {max_events!r}"
        )
    by_order_id: dict[int, Mapping[str, Any]] = {}
    groups: dict[Any, list[int]] = {}
    for item in items:
        order_id = int(item["order_id"])
        groups.setdefault(item.get("groups", "es_default"), []).append(order_id)
        by_order_id[order_id] = item
    files: dict[str, bool] = {}
    for order_ids in groups.values():
        run = _last_consecutive_run(sorted(set(order_ids)))
        for start in range(0, len(run), max_events):
            chunk = run[start : start + max_events]
            name = f"{es_label}:eventservice_{chunk[0]}^{chunk[-1] - chunk[0] + 1}"
            files[name] = any(by_order_id[oid].get("dependencies") for oid in chunk)
    return files


def _last_consecutive_run(order_ids: list[int]) -> list[int]:
    """The last maximal run of consecutive integers in a sorted, duplicate-free list."""
    start = len(order_ids) - 1
    while start > 0 and order_ids[start - 1] == order_ids[start] - 1:
        start -= 1
    return order_ids[start:]


def _inputs(work: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> tuple[bool, list[str], bool]:
    """(event service on, input file names, has dependencies) as create_processing sees them."""
    if work["es"]:
        es_files = _event_service_files(items, work["es_label"], work["max_events_per_job"])
        if es_files is not None:
            names = list(es_files)
            return True, names, es_files[names[-1]] if names else False  # iDDS keeps the last
    names = []
    for position, item in enumerate(items):
        if "name" not in item:
            raise CompileError(f"dependency map entry {position} has no 'name'")
        names.append(item["name"])
    return False, names, any(item.get("dependencies") for item in items)


def task_context(
    task_name: str, work: Mapping[str, Any], dependency_map: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The plain data the template gets: ``task`` and ``placeholders``.

    Values iDDS derives with Python semantics that Jinja would not reproduce exactly
    (``int()`` normalisation, event-service chunking) are computed here.
    """
    if not isinstance(work.get("executable"), str):
        raise CompileError(f"task '{task_name}': executable must be a string, not {work.get('executable')!r}")
    if "task_name" in work and work["task_name"] != task_name:
        raise CompileError(f"task '{task_name}': work has task_name {work['task_name']!r}")
    try:
        es, input_files, has_dependencies = _inputs(work, list(dependency_map or []))
        core_count = int(work["core_count"]) if work["core_count"] else 1
        max_attempt = _max_attempt(work["maxattempt"])
    except KeyError as exc:
        raise CompileError(f"task '{task_name}': work has no {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise CompileError(f"task '{task_name}': {exc}") from exc
    except CompileError as exc:
        raise CompileError(f"task '{task_name}': {exc}") from exc
    task = {
        "name": task_name,
        "work": dict(work),
        "es": es,
        "input_files": input_files,
        "has_dependencies": has_dependencies,
        "core_count": core_count,
        "max_attempt": max_attempt,
    }
    return {"task": task, "placeholders": {name: placeholder(name) for name in PLACEHOLDERS}}


def _template_location(exc: BaseException, template: jinja2.Template | None) -> str:
    """``file:line`` of the template code that raised ``exc`` during rendering.

    Jinja rewrites the traceback so that template frames carry the template's file name
    and source line; the last such frame is the innermost template line.
    """
    where = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if "__jinja_exception__" in frame.f_globals:
            where = f"{frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    if where is None and template is not None:
        names = {template.filename, template.name}
        for summary in traceback.extract_tb(exc.__traceback__):
            if summary.filename in names:
                where = f"{summary.filename}:{summary.lineno}"
    if where is None:
        name = (template.filename or template.name) if template is not None else None
        where = f"{name or TEMPLATE_NAME}:?"
    return where


def _one_line(text: str) -> str:
    """Messages are printed as one line."""
    return " ".join(str(text).split())


def _get_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """Load and compile a template; syntax errors become a CompileError naming file:line."""
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name or name}:{exc.lineno}"
        raise CompileError(f"{where}: template syntax error: {_one_line(exc.message or exc)}") from exc
    except jinja2.TemplateNotFound as exc:
        raise CompileError(f"template {name} not found") from exc


def render_task_params_text(
    task_name: str,
    work: Mapping[str, Any],
    dependency_map: Sequence[Mapping[str, Any]] | None = None,
    *,
    env: jinja2.Environment | None = None,
) -> str:
    """The taskParamMap as JSON text (byte-deterministic for equal inputs)."""
    context = task_context(task_name, work, dependency_map)
    return render_template(env or _default_environment(), TEMPLATE_NAME, context, f"task '{task_name}'")


def render_template(env: jinja2.Environment, name: str, context: Mapping[str, Any], what: str) -> str:
    """Render a template; any error becomes one CompileError naming template file and line."""
    template = _get_template(env, name)
    try:
        return template.render(context)
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        where = _template_location(exc, template)
        kind = "undefined value" if isinstance(exc, jinja2.UndefinedError) else type(exc).__name__
        if isinstance(exc, jinja2.sandbox.SecurityError):
            kind = "refused by the template sandbox"
        raise CompileError(f"{where}: {kind} rendering {what}: {_one_line(exc)}") from exc


def render_task_params(
    task_name: str,
    work: Mapping[str, Any],
    dependency_map: Sequence[Mapping[str, Any]] | None = None,
    *,
    env: jinja2.Environment | None = None,
) -> dict[str, Any]:
    """The taskParamMap DomaPanDAWork.create_processing would build, with placeholders.

    ``work`` holds DomaPanDAWork's keyword arguments; ``dependency_map`` the task's
    entries (``name``, ``order_id``, ``dependencies``...).  Run-time values are
    ``@@NAME@@`` placeholders (see ``PLACEHOLDERS``, ``fill_placeholders``).
    """
    text = render_task_params_text(task_name, work, dependency_map, env=env)
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompileError(f"{TEMPLATE_NAME} rendered invalid JSON for task '{task_name}': {exc}") from exc
    if not isinstance(params, dict):
        raise CompileError(f"{TEMPLATE_NAME} rendered a {type(params).__name__}, not an object")
    return params


def fill_placeholders(value: Any, values: Mapping[str, Any]) -> Any:
    """A copy of ``value`` with every ``@@NAME@@`` replaced by ``values[NAME]``.

    A string that is exactly one placeholder becomes the value itself (``reqID`` stays an
    int); inside a longer string it becomes ``str(value)``.  ``IDDS_USERNAME`` falls back
    to ``'iDDS'`` when absent or empty, as in iDDS.  Unknown ``@@X@@`` are left alone.
    """
    filled = {name: values[name] for name in PLACEHOLDERS if name in values}
    if not filled.get("IDDS_USERNAME"):
        filled["IDDS_USERNAME"] = DEFAULT_USERNAME
    missing = sorted(set(PLACEHOLDERS) - set(filled))
    if missing:
        raise ValueError(f"no value for placeholder(s) {', '.join(missing)}")
    return _fill(value, filled)


def _fill(value: Any, filled: Mapping[str, Any]) -> Any:
    """Recursive worker of fill_placeholders."""
    if isinstance(value, str):
        if "@@" not in value:
            return value
        whole = _TOKEN.fullmatch(value)
        if whole and whole.group(1) in filled:
            return filled[whole.group(1)]
        return _TOKEN.sub(lambda m: str(filled[m.group(1)]) if m.group(1) in filled else m.group(0), value)
    if isinstance(value, Mapping):
        return {key: _fill(item, filled) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(item, filled) for item in value]
    return value
