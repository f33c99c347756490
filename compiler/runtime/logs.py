"""Keep the iDDS/PanDA clients' logging off stdout, where ``--json`` output goes.

Why: importing ``idds.client.clientmanager`` runs ``logging.basicConfig(stream=sys.stdout,
level=INFO)`` when the root logger has no handler yet, so its "ConnectionError ..." and
"Workflow size ..." lines land in the middle of a JSON document.  Two remedies, both
here: `route_to_stderr` moves any root handler that writes to stdout onto stderr (called
after each idds/panda-client import, so a library user or BPS keeps its levels and
formats, only not on stdout), and `quiet_clients` is what the CLI runs commands in: the
root logger gets a handler first (so ``basicConfig`` does nothing) at CRITICAL (the
clients' lines repeat our one-line errors), and panda-compile's own warnings (retries,
route conflicts) go to stderr as ``warning: ...``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


def route_to_stderr() -> None:
    """Point every root ``StreamHandler`` that writes to stdout at stderr instead."""
    for handler in logging.getLogger().handlers:
        is_file = isinstance(handler, logging.FileHandler)
        is_stream = isinstance(handler, logging.StreamHandler) and not is_file
        if is_stream and handler.stream in (sys.stdout, sys.__stdout__):
            handler.setStream(sys.stderr)


@contextlib.contextmanager
def quiet_clients(level: int = logging.WARNING) -> Iterator[None]:
    """Run a CLI command: client logging silenced, ``compiler.*`` at ``level`` on stderr."""
    root, ours = logging.getLogger(), logging.getLogger("compiler")
    saved = root.level, ours.level, ours.propagate
    guard = logging.StreamHandler(sys.stderr)
    guard.setLevel(logging.CRITICAL)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    root.addHandler(guard)
    root.setLevel(logging.CRITICAL)
    ours.setLevel(level if ours.level == logging.NOTSET else min(ours.level, level))
    ours.propagate = False
    ours.addHandler(handler)
    try:
        yield
    finally:
        ours.removeHandler(handler)
        root.removeHandler(guard)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])
        ours.propagate = saved[2]
