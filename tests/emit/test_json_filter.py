"""The template's `json` filter gives exactly `json.dumps(sort_keys=True, allow_nan=False)`.

Its fast paths (str and int, encoded without json.dumps) must not change a byte of any
task file; these values cover what the fast paths see and what they must leave alone.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
import pytest

from compiler.emit.taskparams import _json_filter

VALUES: list[Any] = [
    "",
    "plain",
    'quote " and backslash \\',
    "tab\tnewline\ncontrol\x01",
    "non-ascii é ✓ \U0001f600",
    "</script>&'",
    0,
    -7,
    2**70,
    True,
    False,
    None,
    1.5,
    ["b", "a", 1],
    {"b": 1, "a": [None, "x"]},
]


@pytest.mark.parametrize("value", VALUES)
def test_filter_matches_json_dumps(value: Any) -> None:
    assert _json_filter(value) == json.dumps(value, sort_keys=True, allow_nan=False)


def test_str_and_int_subclasses_take_the_general_path() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    assert _json_filter(Name("x")) == json.dumps(Name("x"), sort_keys=True)
    assert _json_filter(Count(3)) == json.dumps(Count(3), sort_keys=True)


def test_nan_is_still_refused() -> None:
    with pytest.raises(ValueError):
        _json_filter(float("nan"))


def test_undefined_still_raises() -> None:
    undefined = jinja2.StrictUndefined(name="missing")
    with pytest.raises(jinja2.UndefinedError):
        _json_filter(undefined)
