"""The bundled JSON Schemas: valid, versioned, resolvable offline, and what the writer relies on."""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin

import jsonschema
import pytest

from compiler.emit.provenance import SCHEMA_BASE
from compiler.emit.validate import (
    bundled_schemas_dir,
    compiled,
    resolve_ref,
    schema_documents,
    schema_file_of,
    schema_registry,
)

SCHEMA_FILES = sorted(schema_documents())
META = jsonschema.Draft202012Validator


def test_one_schema_per_document_kind_plus_shared_definitions() -> None:
    assert SCHEMA_FILES == [
        "defs-1.0.json",
        "jobs-entry-1.0.json",
        "order-id-map-1.0.json",
        "qnode-map-1.0.json",
        "task-params-1.0.json",
        "workflow-1.0.json",
    ]


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_against_the_meta_schema(name: str) -> None:
    schema = schema_documents()[name]
    META.check_schema(schema)
    for definition in schema.get("$defs", {}).values():
        META.check_schema({"$schema": schema["$schema"], **definition})


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_id_carries_file_name_and_version(name: str) -> None:
    schema = schema_documents()[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_BASE + name
    assert re.fullmatch(r"[a-z-]+-\d+\.\d+\.json", name)
    assert schema_file_of(schema["$id"]) == name


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_every_ref_resolves_from_the_registry(name: str) -> None:
    """Walk every $ref: a typo would otherwise surface only on a document that reaches it."""
    schema = schema_documents()[name]
    resolver = schema_registry().resolver(base_uri=schema["$id"])
    for ref in _refs(schema):
        assert resolver.lookup(ref).contents is not None, ref


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_the_compiled_checks_resolve_every_ref_as_jsonschema_does(name: str) -> None:
    schema = schema_documents()[name]
    resolver = schema_registry().resolver(base_uri=schema["$id"])
    for ref in _refs(schema):
        target = urljoin(schema["$id"], ref)
        assert resolve_ref(target) is resolver.lookup(ref).contents, ref


@pytest.mark.parametrize("target", ["https://x.invalid/none.json", "defs-1.0.json#/$defs/nothing", "#anchor"])
def test_an_unknown_ref_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match="unresolvable"):
        resolve_ref(urljoin(SCHEMA_BASE + "workflow-1.0.json", target))


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_header_schema_ids_are_consts_of_their_documents() -> None:
    for name in ("workflow-1.0.json", "task-params-1.0.json"):
        assert schema_documents()[name]["properties"]["$schema"] == {"const": SCHEMA_BASE + name}


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_compiles_to_a_fast_check(name: str) -> None:
    """The compiled check refuses keywords it cannot decide: compiling is the guard."""
    assert callable(compiled(name))


def test_schemas_are_plain_json_files_in_the_bundled_folder() -> None:
    folder = bundled_schemas_dir()
    assert sorted(p.name for p in folder.glob("*.json")) == SCHEMA_FILES
    for path in folder.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
