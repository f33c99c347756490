"""``str.format`` with bounded output, for values that come from pickles and configs.

Why: ``"{x:>900000000}".format(x=1)`` asks for a 900 MB string, and a format field may
reach into attributes (``{x.__class__}``).  Environment values in a pickle and config
values are formatted with the helpers here: plain ``{name}`` fields only (for pickle data),
every width and precision at most `MAX_FORMAT_WIDTH`, and the result at most a given
length, each refusal one `FormatLimitError` line naming the limit.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from .limits import MAX_FORMAT_WIDTH, MAX_VALUE_CHARS, over_limit

__all__ = ["FormatLimitError", "bounded_format_map", "check_format_spec"]

_NUMBERS = re.compile(r"\d+")
_PLAIN_NAME = re.compile(r"[^.\[\]]+")


class FormatLimitError(ValueError):
    """A format field or its result is over a limit; the message names the limit."""


def check_format_spec(spec: str) -> None:
    """Refuse a format spec whose width or precision is over `MAX_FORMAT_WIDTH`.

    Every run of digits counts (fill characters too): conservative, and cheap enough to
    run on every field.  Long digit runs are refused before ``int()`` sees them.
    """
    if not spec:
        return
    for digits in _NUMBERS.findall(spec):
        if len(digits) > 9 or int(digits) > MAX_FORMAT_WIDTH:
            raise FormatLimitError(
                over_limit(f"format spec {spec[:40]!r}", MAX_FORMAT_WIDTH, "MAX_FORMAT_WIDTH")
            )


class _BoundedFormatter(string.Formatter):
    """A Formatter over a mapping: plain names only, specs checked, output length counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.produced = 0

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        if not _PLAIN_NAME.fullmatch(field_name):
            raise FormatLimitError(f"field {{{field_name}}}: only plain {{name}} fields are allowed")
        return kwargs[field_name], field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec)
        text = super().format_field(value, format_spec)
        self.produced += len(text)
        if self.produced > self.limit:
            raise FormatLimitError(over_limit("formatted value", self.limit, "MAX_VALUE_CHARS"))
        return text


def bounded_format_map(template: str, values: Mapping[str, Any], limit: int = MAX_VALUE_CHARS) -> str:
    """``template.format_map(values)`` with plain fields, checked specs and at most `limit` chars.

    Raises KeyError for a missing name and ValueError (FormatLimitError for limits) as
    ``str.format_map`` does, so callers keep their error mapping.
    """
    formatter = _BoundedFormatter(limit)
    result = formatter.vformat(template, (), values)
    if len(result) > limit:
        raise FormatLimitError(over_limit("formatted value", limit, "MAX_VALUE_CHARS", size=len(result)))
    return result
