"""Validate documents against the bundled JSON Schemas, fast enough for 10^6 jobs.

The schemas live in the top-level `schemas/` folder, shipped as the package
`compiler.schemas`; every one is registered under its `$id` in a `referencing` Registry,
so their relative `$ref`s (`defs-1.0.json#/$defs/name`) resolve locally, never online.

Why not jsonschema alone: it interprets the schema on every call, about 50 us per
dependency-map line (50 s for 10^6 jobs) and 1.5 ms per task document. So every check
has a fast path that is trusted only when it says yes; when it says no, jsonschema runs
and its errors (with their JSON paths) are what the user sees, so a fast path may be
stricter than its schema, never looser:

* documents (workflow.json, task files): the schema compiled into closures once
  (`fastschema.compile_schema`): about 30 us per task document against 1.5 ms;
* the shapes that come by the 10^5 (dependency-map lines, name-map entries): hand-written
  acceptors (`entry_ok`, `order_id_map_ok`, `qnode_map_ok`): 0.6 us per line, 10x less
  than the compiled schema's 6 us.

`tests/emit/test_validate.py` looks for documents a fast path accepts and jsonschema
rejects, on generated and mutated documents.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

from ..errors import CompileError
from .fastschema import Check, compile_schema
from .provenance import schema_id

if TYPE_CHECKING:
    import jsonschema
    import referencing

SCHEMAS_PACKAGE = "compiler.schemas"
WORKFLOW_SCHEMA = "workflow-1.0.json"
TASK_PARAMS_SCHEMA = "task-params-1.0.json"
JOBS_ENTRY_SCHEMA = "jobs-entry-1.0.json"
ORDER_ID_MAP_SCHEMA = "order-id-map-1.0.json"
QNODE_MAP_SCHEMA = "qnode-map-1.0.json"
DEFS_SCHEMA = "defs-1.0.json"
MAX_PROBLEMS = 50  # per document: a broken 10^6-line file must not flood a CI log
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, where it is: `file[:line][:json.path]` and a one-line message."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def json_path(parts: Iterable[str | int]) -> str:
    """`tasks[3].dependency_tasks[0]`; keys that are not identifiers as `["a.b"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def locate(where: str, parts: Iterable[str | int] = ()) -> str:
    """`where` (a file, maybe with `:line`) followed by `:path` when there is a path."""
    path = json_path(parts)
    return f"{where}:{path}" if path else where


# ----- schemas --------------------------------------------------------------------------


def bundled_schemas_dir() -> Path:
    """The folder of the bundled schemas: package `compiler.schemas`, or `schemas/` in a checkout."""
    try:
        spec = importlib.util.find_spec(SCHEMAS_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    candidates = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    candidates.append(Path(__file__).resolve().parents[2] / "schemas")
    for folder in candidates:
        if (folder / WORKFLOW_SCHEMA).is_file():
            return folder
    raise CompileError(f"bundled schemas not found (no {SCHEMAS_PACKAGE}, no schemas/ folder)")


@lru_cache(maxsize=1)
def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> parsed schema, for every bundled schema."""
    folder = bundled_schemas_dir()
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}


@lru_cache(maxsize=1)
def schema_registry() -> referencing.Registry:
    """Every bundled schema under its `$id`, so relative `$ref`s resolve offline (jsonschema's).

    Imported here: only jsonschema needs it, and `referencing` is ~30 ms of start-up.
    """
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [
        (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
        for doc in schema_documents().values()
    ]
    return Registry().with_resources(resources).crawl()


@lru_cache(maxsize=1)
def _documents_by_id() -> dict[str, Any]:
    return {doc["$id"]: doc for doc in schema_documents().values()}


def resolve_ref(target: str) -> Any:
    """The bundled schema an absolute `$ref` names: a document's `$id`, then a JSON pointer.

    That is all the bundled schemas use (`defs-1.0.json#/$defs/name`, `#/$defs/task`);
    the compiled checks resolve through this, jsonschema through `schema_registry`, and a
    test compares the two on every `$ref` the schemas hold.
    """
    url, fragment = urldefrag(target)
    node: Any = _documents_by_id().get(url)
    if node is None or (fragment and not fragment.startswith("/")):
        raise ValueError(f"unresolvable $ref {target!r} (not a bundled schema or a JSON pointer)")
    for part in fragment.split("/")[1:] if fragment else ():
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"unresolvable $ref {target!r} (no {key!r})")
        node = node[key]
    return node


@cache
def validator(schema_file: str) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for one bundled schema (built once).

    jsonschema is imported here, not at the top: a compile whose documents all pass the
    fast checks never needs it (its import is ~30 ms of every process's start).
    """
    import jsonschema

    schema = schema_documents()[schema_file]
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=schema_registry())


def schema_file_of(schema_uri: Any) -> str | None:
    """The bundled schema file whose `$id` is `schema_uri`, or None."""
    for name, doc in schema_documents().items():
        if doc.get("$id") == schema_uri:
            return name
    return None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def schema_problems(schema_file: str, doc: Any, where: str, limit: int = MAX_PROBLEMS) -> list[Problem]:
    """jsonschema's verdict on `doc`, as problems located by JSON path, in a stable order."""
    errors = sorted(
        validator(schema_file).iter_errors(doc), key=lambda e: (json_path(e.absolute_path), e.message)
    )
    problems = [Problem(locate(where, e.absolute_path), _short(e.message)) for e in errors[:limit]]
    if len(errors) > limit:
        problems.append(Problem(where, f"... and {len(errors) - limit} more schema violations"))
    return problems


def problems_unless(fast_ok: Callable[[Any], bool], schema_file: str, doc: Any, where: str) -> list[Problem]:
    """No problems if the fast acceptor says yes, else jsonschema's (which may still be none)."""
    return [] if fast_ok(doc) else schema_problems(schema_file, doc, where)


# ----- fast acceptors (each implies validity against its schema; see module doc) ----------


def _name_ok(value: Any) -> bool:
    return type(value) is str and value != ""


def _count_ok(value: Any) -> bool:
    return type(value) is int and value >= 0


def _dependencies_ok(deps: Any) -> bool:
    if type(deps) is not list:
        return False
    for dep in deps:
        if type(dep) is not dict or len(dep) != 2:
            return False
        if not (_name_ok(dep.get("task")) and _name_ok(dep.get("inputname"))):
            return False
    return True


def entry_ok(entry: Any) -> bool:
    """Fast acceptor for one dependency-map entry (jobs-entry-1.0.json)."""
    if type(entry) is not dict or not _name_ok(entry.get("name")):
        return False
    if not _dependencies_ok(entry.get("dependencies")):
        return False
    size = len(entry)
    if size == 3:
        if "order_id" in entry:
            return _count_ok(entry["order_id"])
        return type(entry.get("submitted")) is bool
    if size == 6:
        return (
            _count_ok(entry.get("order_id"))
            and _count_ok(entry.get("map_id"))
            and _count_ok(entry.get("sub_map_id"))
            and _name_ok(entry.get("es_name"))
        )
    return False


def _order_id_ok(key: Any) -> bool:
    return type(key) is str and key.isascii() and key.isdigit() and (key == "0" or key[0] != "0")


def order_id_map_ok(doc: Any) -> bool:
    """Fast acceptor for the order-id map (order-id-map-1.0.json)."""
    if type(doc) is not dict:
        return False
    for label, per_label in doc.items():
        if not _name_ok(label) or type(per_label) is not dict:
            return False
        if not all(_order_id_ok(k) and _name_ok(v) for k, v in per_label.items()):
            return False
    return True


def qnode_map_ok(doc: Any) -> bool:
    """Fast acceptor for the qnode map (qnode-map-1.0.json): `PH:` + at least one non-newline."""
    if type(doc) is not dict:
        return False
    return all(
        type(k) is str and k.startswith("PH:") and len(k) > 3 and k[3] != "\n" and _name_ok(v)
        for k, v in doc.items()
    )


@cache
def compiled(schema_file: str) -> Check:
    """The compiled fast check of one bundled schema (built once)."""
    schema = schema_documents()[schema_file]
    return compile_schema(schema, resolve_ref, schema["$id"])


def document_problems(schema_file: str, doc: Any, where: str) -> list[Problem]:
    """Problems of a whole document: the compiled check first, jsonschema for the details."""
    return problems_unless(compiled(schema_file), schema_file, doc, where)


def task_params_problems(doc: Any, where: str) -> list[Problem]:
    """Problems of a task parameters document (tasks/<task>.json)."""
    return document_problems(TASK_PARAMS_SCHEMA, doc, where)


def entry_problems(entry: Any, where: str) -> list[Problem]:
    """Problems of one dependency-map entry (the fast acceptor first)."""
    return problems_unless(entry_ok, JOBS_ENTRY_SCHEMA, entry, where)


MAP_SCHEMAS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "order-id-map": (ORDER_ID_MAP_SCHEMA, order_id_map_ok),
    "qnode-map": (QNODE_MAP_SCHEMA, qnode_map_ok),
}


def map_problems(kind: str, doc: Any, where: str) -> list[Problem]:
    """Problems of a name-map file of `kind` (order-id-map, qnode-map)."""
    schema_file, fast_ok = MAP_SCHEMAS[kind]
    return problems_unless(fast_ok, schema_file, doc, where)


def map_schema_id(kind: str) -> str:
    """The `$id` of a map kind's schema."""
    return schema_id(MAP_SCHEMAS[kind][0])
