"""Fast validation is sound: a fast path never accepts what its schema rejects.

The writer and `check` trust a fast path when it says yes (jsonschema costs 50 us per
line at 10^6 lines, 1.5 ms per task document) and ask jsonschema when it says no. So the
property to hold is one-directional: fast yes implies jsonschema yes. Hypothesis looks
for a counterexample near the schemas' edges: the hand-written acceptors on drawn
entries and maps (wrong types, bools for ints, extra keys, empty names, leading zeros,
non-ASCII digits, trailing newlines), the compiled schema checks on real documents with
random edits.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.emit.fastschema import compile_schema
from compiler.emit.validate import (
    JOBS_ENTRY_SCHEMA,
    ORDER_ID_MAP_SCHEMA,
    QNODE_MAP_SCHEMA,
    TASK_PARAMS_SCHEMA,
    WORKFLOW_SCHEMA,
    Problem,
    compiled,
    entry_ok,
    entry_problems,
    json_path,
    order_id_map_ok,
    qnode_map_ok,
    resolve_ref,
    task_params_problems,
    validator,
)

NAMES = st.sampled_from(["", "a", "isr:orderIdMap_0", "x+qgraphNodeId:1", "\n", "é"]) | st.text(max_size=4)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.just(1.0), st.just(2.5), NAMES)
DEPENDENCY = st.dictionaries(
    st.sampled_from(["task", "inputname", "other"]), SCALARS, max_size=3
) | st.fixed_dictionaries({"task": NAMES, "inputname": NAMES})
ENTRY_VALUES = {
    "name": NAMES | SCALARS,
    "order_id": SCALARS,
    "submitted": SCALARS,
    "dependencies": st.lists(DEPENDENCY, max_size=3) | SCALARS,
    "map_id": SCALARS,
    "sub_map_id": SCALARS,
    "es_name": NAMES | SCALARS,
    "extra": SCALARS,
}


@st.composite
def entries(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(sorted(ENTRY_VALUES)), unique=True, max_size=7))
    base = {"name": "n", "dependencies": []} if draw(st.booleans()) else {}
    return {**base, **{key: draw(ENTRY_VALUES[key]) for key in keys}}


@settings(max_examples=600, deadline=None)
@given(entries())
def test_entry_ok_implies_schema_valid(entry: Any) -> None:
    if entry_ok(entry):
        assert validator(JOBS_ENTRY_SCHEMA).is_valid(entry), entry


ORDER_IDS = st.sampled_from(["0", "1", "12", "01", "00", "-1", "1.0", "\u0661", "12\n", " 3", ""]) | st.text(
    max_size=3
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(NAMES, st.dictionaries(ORDER_IDS, NAMES | SCALARS, max_size=4) | SCALARS, max_size=3))
def test_order_id_map_ok_implies_schema_valid(doc: Any) -> None:
    if order_id_map_ok(doc):
        assert validator(ORDER_ID_MAP_SCHEMA).is_valid(doc), doc


QNODE_KEYS = st.sampled_from(["PH:a", "PH:", "PH:\n", "PH:\nx", "ph:a", "XPH:a", "PH:é"]) | st.text(
    max_size=5
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(QNODE_KEYS, NAMES | SCALARS, max_size=4) | SCALARS)
def test_qnode_map_ok_implies_schema_valid(doc: Any) -> None:
    if qnode_map_ok(doc):
        assert validator(QNODE_MAP_SCHEMA).is_valid(doc), doc


def _paths(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON document, to mutate in place."""
    out: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append((node, key))
        out += _paths(value)
    return out


VALUES = (
    SCALARS
    | st.lists(SCALARS, max_size=2)
    | st.dictionaries(st.sampled_from(["x", "name", "task"]), SCALARS, max_size=2)
)


@st.composite
def mutated(draw: st.DrawFn, documents: list[Any]) -> Any:
    """A real document with one to three random edits: a value replaced, a key dropped or added."""
    doc = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        container, key = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            container[key] = draw(VALUES)
        elif action == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(["x-site", "extra", "$schema", "name"]))] = draw(VALUES)
        else:
            container.append(draw(VALUES))
    return doc


def _documents(outdir: Path) -> dict[str, list[Any]]:
    doc = json.loads((outdir / "workflow.json").read_text())
    tasks = [json.loads((outdir / t["task_params_file"]).read_text()) for t in doc["tasks"][:3]]
    return {WORKFLOW_SCHEMA: [doc], TASK_PARAMS_SCHEMA: tasks}


@pytest.mark.parametrize("schema_file", [WORKFLOW_SCHEMA, TASK_PARAMS_SCHEMA])
def test_compiled_check_implies_schema_valid(maps_outdir: Path, schema_file: str) -> None:
    documents = _documents(maps_outdir)[schema_file]
    assert all(compiled(schema_file)(doc) for doc in documents)
    accepted = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated(documents))
    def check(doc: Any) -> None:
        if compiled(schema_file)(doc):
            accepted.append(doc)
            assert validator(schema_file).is_valid(doc), doc

    check()
    assert accepted  # some edits keep a document valid (e.g. an x- key, another string)


@settings(max_examples=300, deadline=None)
@given(entries())
def test_compiled_entry_schema_implies_valid(entry: Any) -> None:
    if compiled(JOBS_ENTRY_SCHEMA)(entry):
        assert validator(JOBS_ENTRY_SCHEMA).is_valid(entry), entry


def test_compiled_checks_accept_what_the_writer_writes(example_outdir: Path, maps_outdir: Path) -> None:
    for outdir in (example_outdir, maps_outdir):
        doc = json.loads((outdir / "workflow.json").read_text())
        assert compiled(WORKFLOW_SCHEMA)(doc)
        for task in doc["tasks"]:
            assert compiled(TASK_PARAMS_SCHEMA)(json.loads((outdir / task["task_params_file"]).read_text()))
            lines = (outdir / task["jobs_file"]).read_text().splitlines()
            assert all(compiled(JOBS_ENTRY_SCHEMA)(json.loads(line)) for line in lines)


def test_compiler_refuses_what_it_cannot_decide() -> None:
    registry = resolve_ref
    with pytest.raises(ValueError, match="not supported"):
        compile_schema({"type": "string", "format": "uri"}, registry, "https://x.invalid/s.json")
    with pytest.raises(ValueError, match="only 'required' and 'not'"):
        compile_schema(
            {"oneOf": [{"type": "string"}, {"minLength": 2}]}, registry, "https://x.invalid/s.json"
        )


def test_a_bad_name_deep_in_pfn_list_is_found(maps_outdir: Path) -> None:
    doc = _documents(maps_outdir)[TASK_PARAMS_SCHEMA][1]
    doc["task_params"]["pfnList"] = [f"job{i}" for i in range(1000)]
    doc["task_params"]["pfnList"][777] = ""
    problems = task_params_problems(doc, "tasks/t.json")
    assert [str(p) for p in problems] == ["tasks/t.json:task_params.pfnList[777]: '' should be non-empty"]


def test_fast_acceptors_accept_what_the_writer_writes(maps_outdir: Path) -> None:
    lines = [
        line
        for path in sorted((maps_outdir / "jobs").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(lines) == 201
    assert all(entry_ok(json.loads(line)) for line in lines)
    assert any("es_name" in line for line in lines) and any('"submitted": false' in line for line in lines)
    assert order_id_map_ok(json.loads((maps_outdir / "panda_order_id_map.json").read_text()))
    assert qnode_map_ok(json.loads((maps_outdir / "qnode_map.json").read_text()))


def test_entry_problems_are_located_by_line_and_json_path() -> None:
    entry = {"name": "a", "order_id": -1, "dependencies": [{"task": "t", "inputname": 3}]}
    assert entry_problems(entry, "jobs/t.jsonl:7") == [
        Problem("jobs/t.jsonl:7:dependencies[0].inputname", "3 is not of type 'string'"),
        Problem("jobs/t.jsonl:7:order_id", "-1 is less than the minimum of 0"),
    ]
    assert str(Problem("workflow.json:job_count", "bad")) == "workflow.json:job_count: bad"


def test_json_path() -> None:
    assert json_path(["tasks", 3, "dependency_tasks", 0]) == "tasks[3].dependency_tasks[0]"
    assert json_path(["files_to_pre_stage", "a.b"]) == 'files_to_pre_stage["a.b"]'
    assert json_path(["$schema"]) == '["$schema"]'
    assert json_path([]) == ""


CORNER_SCHEMAS = [
    {"type": "integer"},
    {"type": ["number", "null"], "minimum": 0},
    {"type": "array", "uniqueItems": False},
    {"type": "array", "uniqueItems": True, "minItems": 1},
    {"const": 1},
    {"enum": ["a", 0, None]},
    {"type": "object", "patternProperties": {"^x-": True}, "additionalProperties": False},
    {"propertyNames": {"pattern": "^PH:."}},
    {"oneOf": [{"required": ["a"], "not": {"required": ["b"]}}, {"required": ["b"]}]},
    {"type": "string", "minLength": 2, "pattern": "^[0-9]+$"},
]
CORNER_VALUES = [
    0,
    1,
    1.0,
    2.5,
    -1,
    True,
    False,
    None,
    "",
    "12",
    "12\n",
    "a",
    [],
    [1, 1],
    ["a", "a"],
    ["a"],
    {},
    {"a": 1},
    {"b": 1},
    {"a": 1, "b": 2},
    {"x-a": 1},
    {"y": 1},
    {"PH:": 1},
    {"PH:\n": 1},
    {"PH:j": 1},
]


@pytest.mark.parametrize("schema", CORNER_SCHEMAS, ids=[json.dumps(s)[:40] for s in CORNER_SCHEMAS])
def test_compiled_corner_cases(schema: dict[str, Any]) -> None:
    """Stricter where Python and JSON Schema disagree (1.0 as an integer), never looser."""
    import jsonschema

    check = compile_schema(schema, resolve_ref, "https://x.invalid/s.json")
    reference = jsonschema.Draft202012Validator(schema)
    for value in CORNER_VALUES:
        if check(value):
            assert reference.is_valid(value), value
    accepted = [v for v in CORNER_VALUES if check(v)]
    assert accepted  # every corner schema accepts something
