"""Type and size checks of what comes out of a GenericWorkflow, done once, in ingest.

Why: the allow-listed unpickler only guarantees *which classes* a pickle builds, not what
their fields hold.  A job whose ``cmdvals`` is a list, whose ``arguments`` is an int, a
name with a NUL, or a value that is a list nested 30 deep with every level shared (2.5 KB
in the pickle, 10^9 characters as text) would otherwise surface as a traceback deep in a
pass or as a memory bomb.  Here each such field is refused as one `LoadError` line naming
the job and the field, before any pass runs.

Cost: the per-job checks run over the whole job list at C level (``map``, ``set``,
``max``) and only fall back to a Python loop, which finds and names the culprit, when
that fast test fails.  Interned objects (executables, files, attribute sets) are checked
once each by the ingest interner.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from itertools import repeat
from typing import Any

from ..errors import LoadError, job_problem
from ..limits import MAX_COMMAND_CHARS, MAX_NAME_CHARS, over_limit
from ..values import SCALARS, value_problem

__all__ = [
    "SCALARS",
    "FieldProblem",
    "check_jobs",
    "check_mapping",
    "check_text",
    "check_workflow_fields",
]

_NAME = operator.attrgetter("name")
_LABEL = operator.attrgetter("label")
_CMDVALS = operator.attrgetter("cmdvals")


class FieldProblem(Exception):
    """A field of one object is unacceptable; the caller adds which job it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


def check_text(value: Any, field: str, *, limit: int = MAX_NAME_CHARS, optional: bool = False) -> None:
    """Refuse a name or URI that is not a string, holds a NUL or is longer than `limit`."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise FieldProblem(field, f"must be a string, not {type(value).__name__}")
    if "\0" in value:
        raise FieldProblem(field, "contains a NUL character")
    if len(value) > limit:
        raise FieldProblem(
            field, "is too long: " + over_limit("length", limit, "MAX_NAME_CHARS", size=len(value))
        )


def check_mapping(value: Any, field: str) -> None:
    """Refuse a cmdvals/environment that is not a dict of string keys and acceptable values."""
    if value is None:
        return
    if type(value) is not dict:
        raise FieldProblem(field, f"must be a dict, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise FieldProblem(field, f"has a key of type {type(key).__name__} ({key!r:.40})")
        problem = value_problem(item)
        if problem:
            raise FieldProblem(f"{field}[{key[:100]!r}]", problem)


def check_arguments(arguments: Any) -> None:
    """A job's ``arguments``: a string (or None) no longer than `MAX_COMMAND_CHARS`."""
    if arguments is None:
        return
    if not isinstance(arguments, str):
        raise FieldProblem("arguments", f"must be a string, not {type(arguments).__name__}")
    if len(arguments) > MAX_COMMAND_CHARS:
        size = len(arguments)
        raise FieldProblem(
            "arguments",
            "is too long: " + over_limit("length", MAX_COMMAND_CHARS, "MAX_COMMAND_CHARS", size=size),
        )


def _names_fine(names: list[Any]) -> bool:
    """All strings, none longer than the limit, no NUL: two C-level passes.

    ``str.__len__`` raises TypeError on anything but a string, so one ``max`` checks
    both the types and the lengths.
    """
    if not names:
        return True
    try:
        long = max(map(str.__len__, names)) > MAX_NAME_CHARS
        # Per name, not in one joined copy (100 MB of fresh pages at 10^6 jobs): 3x faster.
        return not long and not any(map(operator.contains, names, repeat("\0")))
    except TypeError:
        return False


def check_jobs(jobs: list[Any]) -> None:
    """Names, labels and cmdvals types of IR jobs (one graph level), naming the first culprit.

    The values inside cmdvals are checked where they are used (`compiler.values`): only a
    few of them per job ever are, and checking all of them here would cost more than the
    rest of ingest's checks together.
    """
    names = list(map(_NAME, jobs))
    labels = list(set(map(_LABEL, jobs)))
    if _names_fine(names) and _names_fine(labels) and set(map(type, map(_CMDVALS, jobs))) <= {dict}:
        return
    for job in jobs:
        try:
            check_text(job.name, "name")
        except FieldProblem as exc:
            raise LoadError(f"job {_shown(job.name)}: {exc}") from None
        try:
            check_text(job.label, "label")
            if type(job.cmdvals) is not dict:
                raise FieldProblem("cmdvals", f"must be a dict, not {type(job.cmdvals).__name__}")
        except FieldProblem as exc:
            raise LoadError(job_problem(job.name, None, str(exc))) from None


def _shown(name: Any) -> str:
    """A name fit for an error line: repr, cut to 100 characters."""
    text = repr(name)
    return text if len(text) <= 100 else text[:97] + "..."


def check_workflow_fields(name: Any, run_attrs: Any) -> None:
    """The workflow's own name and run attributes."""
    try:
        check_text(name, "name")
    except FieldProblem as exc:
        raise LoadError(f"workflow {exc}") from None
    if run_attrs is not None and not isinstance(run_attrs, Mapping):
        raise LoadError(f"workflow run_attrs must be a dict, not {type(run_attrs).__name__}")
    for key in run_attrs or ():
        if not isinstance(key, str):
            raise LoadError(f"workflow run_attrs has a key of type {type(key).__name__} ({key!r:.40})")


def is_job_like(obj: Any) -> bool:
    """Whether `obj` can be the final job: a GenericWorkflowJob (real or stand-in)."""
    return all(hasattr(obj, attr) for attr in ("name", "label", "executable", "arguments", "cmdvals"))


def node_problem(name: Any, field: str, message: str) -> LoadError:
    """A LoadError for a field of the node called `name`."""
    return LoadError(f"job {_shown(name)}: {field} {message}")
