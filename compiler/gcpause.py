"""Pausing the cyclic garbage collector around bulk object building.

Loading, ingesting and compiling a workflow creates millions of container objects and no
garbage cycles. With the collector running, every young-generation collection walks the
growing heap again (measured: two thirds of a plain `pickle.load`, half of an ingest).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC for a bulk build of objects that hold no cycles to collect.

    On the way out the objects built meanwhile are moved straight to the oldest
    generation (`freeze` + `unfreeze`), where young collections never scan them. Left
    young, the first collection after the pause would walk all of them, and the next
    generation again (~0.3 s per 10^5 jobs each time); a full collection still sees them.
    Nested pauses are free: only the outermost one resumes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


_PARKED: list[Any] = []
_PARKED.append(_PARKED)  # a cycle: module teardown alone cannot free what is parked here


def keep_until_exit(obj: Any) -> None:
    """Let the process end without freeing `obj` and everything it holds, one by one.

    Why: a compiled 10^6-job workflow is some 10^7 objects; freeing them when the CLI
    command returns takes about as long as a tenth of the compile (measured 0.2 s at 10^5
    jobs), for memory the OS reclaims at exit anyway. Parked in a reference cycle and
    moved to the permanent generation (`gc.freeze`), they are reached neither by
    reference counting nor by the interpreter's final collection. Only for a process
    that is about to end.
    """
    _PARKED.append(obj)
    gc.freeze()
