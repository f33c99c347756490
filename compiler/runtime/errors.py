"""Errors of the runtime side (submit, report, cancel, restart, ping, staging).

A runtime failure is a `CompileError` too, so the CLI prints it as one line and exits
non-zero; `kind` says what the user can do about it, and decides whether a call is retried.
"""

from __future__ import annotations

import enum

from ..errors import CompileError


class Failure(enum.StrEnum):
    """Why a call to iDDS (or to the PanDA relay in front of it) did not succeed."""

    UNREACHED = "unreached"
    """Nothing reached the service (connection refused, DNS): always safe to retry."""
    TRANSIENT = "transient"
    """Timeout, reset, HTTP 5xx: the call may have been applied; retry only idempotent calls."""
    AUTH = "auth"
    """Credentials missing, invalid or not allowed: retrying cannot help."""
    REJECTED = "rejected"
    """The service understood the call and refused it (bad id, bad input)."""
    CONFIG = "config"
    """Client side: packages missing, no service configured."""


class RuntimeServiceError(CompileError):
    """A call to iDDS/PanDA failed for good; the message is one line the user can act on."""

    def __init__(self, message: str, kind: Failure = Failure.REJECTED, attempts: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts


class OutdirError(CompileError):
    """A compiled OUTDIR is missing, incomplete or malformed (compile it again)."""


class StagingError(CompileError):
    """Files to pre-stage could not be copied to the file distribution end point."""
