"""Values from a pickle (cmdvals, environments) checked before they become text.

Why: ``str()`` of a list nested 30 deep, every level shared (``x = [x, x]``), is 10^9
characters from a 2.5 KB pickle; a 1 MB string shared by 10^5 jobs becomes 100 GB of
pseudo-input names.  `value_problem` bounds the text a value would give without building
it; `column_problem` does so for one cmdvals key over many jobs, at C level when all are
short strings (the usual case).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import job_problem
from .limits import MAX_VALUE_CHARS, over_limit

__all__ = ["SCALARS", "column_problem", "value_problem"]

SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
"""Value types accepted as they are in cmdvals, environments and job attributes."""

_MAX_INT_BITS = 1024  # str() of larger ints is slow, and refused past 4300 digits anyway
_MAX_DEPTH = 50


def value_problem(value: Any) -> str | None:
    """Why a cmdvals/environment value is unacceptable, or None.

    Scalars are fine within size; lists, tuples and dicts are walked, each element
    counted, and refused once their text would pass `MAX_VALUE_CHARS` (a shared nested
    list is counted as often as it is shared, which is what ``str()`` would build).
    """
    budget = [MAX_VALUE_CHARS]
    try:
        _spend(value, budget, 0)
    except _Over as exc:
        return str(exc)
    return None


class _Over(Exception):
    pass


def _spend(value: Any, budget: list[int], depth: int) -> None:
    kind = type(value)
    if kind is str:
        budget[0] -= len(value) + 2
    elif kind is int or kind is bool:
        if kind is int and value.bit_length() > _MAX_INT_BITS:
            raise _Over(f"is an integer of {value.bit_length()} bits, over the limit of {_MAX_INT_BITS}")
        budget[0] -= 24
    elif kind is float or value is None or kind is uuid.UUID:
        budget[0] -= 40
    elif kind is list or kind is tuple or kind is dict:
        if depth > _MAX_DEPTH:
            raise _Over(f"is nested more than {_MAX_DEPTH} levels deep")
        items: Iterable[Any] = itertools.chain.from_iterable(value.items()) if kind is dict else value
        budget[0] -= 2
        for item in items:
            _spend(item, budget, depth + 1)
            if budget[0] < 0:
                break
    else:
        raise _Over(f"has a value of type {kind.__name__}")
    if budget[0] < 0:
        raise _Over("is too large: " + over_limit("its text", MAX_VALUE_CHARS, "MAX_VALUE_CHARS"))


def column_problem(column: Sequence[Any], jobs: Sequence[Any], key: str) -> str | None:
    """Why cmdvals `key` of some job is unacceptable (``column[i]`` is ``jobs[i]``'s), or None.

    Fast test: all strings within `MAX_VALUE_CHARS`, one ``max`` (``str.__len__`` raises
    TypeError on anything else); otherwise each value goes through `value_problem`.
    """
    try:
        if not column or max(map(str.__len__, column)) <= MAX_VALUE_CHARS:
            return None
    except TypeError:
        pass
    for job, value in zip(jobs, column, strict=True):
        problem = value_problem(value)
        if problem:
            return job_problem(job.name, job.label, f"cmdvals[{key[:100]!r}] {problem}")
    return None
