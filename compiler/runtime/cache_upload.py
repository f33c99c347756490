"""Upload a custom job's archive to the PanDA cache at submit, within the one retry policy.

Why at submit and not at compile: compiling never talks to a server, and the cache URL
is only known once the cache has the file (it may answer with the name of an identical
file it already holds). The compiled executables carry the archive's placeholder
(`compiler.archive.cache_file_token`); `submit` uploads, then builds the iDDS works with
the URL in its place.

The upload goes through panda-client's own cache API (``pandaclient.Client.putFile``,
which sends to ``$PANDA_URL_SSL``'s ``/api/v1/file_server/upload_cache_file`` with
panda-client's credentials), as the reference does; the URL is
``$PANDACACHE_URL/cache/<name>``. The reference retries a failed upload without end (its
loop never counts); here attempts, per-attempt timeout and total budget are the
`RetryPolicy` of every iDDS call. Uploading the same file again overwrites it with the
same bytes, so every transient failure is retried; a refusal (4xx, an answer other than
success) or an authentication error stops at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..archive import MAX_ARCHIVE_BYTES
from .errors import Failure, RuntimeServiceError
from .idds import _import, one_line
from .retry import AttemptTimedOut, RetryPolicy, Schedule, call_within

Put = Callable[[str], tuple[int, Any]]
"""One upload attempt: ``putFile(path)``'s (status, message)."""


def cache_base(environ: Mapping[str, str] | None = None) -> str:
    """``$PANDACACHE_URL``, where the uploaded archive is read from; a one-line error if unset."""
    env = os.environ if environ is None else environ
    base = env.get("PANDACACHE_URL", "").rstrip("/")
    if not base:
        raise RuntimeServiceError(
            "PANDACACHE_URL is not set: a custom job's archive goes to the PanDA cache; set it"
            " as for bps (nothing was uploaded or submitted)",
            kind=Failure.CONFIG,
        )
    return base


def panda_put(path: str) -> tuple[int, Any]:
    """``pandaclient.Client.putFile(path)`` against ``$PANDA_URL_SSL`` as it is now.

    panda-client reads its server URLs once, at import; they are set again from the
    environment so a value set later (a wrapper, a test) is honoured.
    """
    client = _import("pandaclient.Client")
    ssl = os.environ.get("PANDA_URL_SSL")
    if ssl:
        parsed = urlparse(ssl)
        client.baseURLSSL = ssl
        client.server_base_path_ssl = f"{parsed.scheme}://{parsed.netloc}/api/v1"
    return client.putFile(path, False)


def _failure(status: int) -> Failure:
    """How an upload status is handled: 1 is panda-client's network failure, others HTTP codes."""
    if status == 1:
        return Failure.UNREACHED
    if status in (401, 403):
        return Failure.AUTH
    if 400 <= status < 500:
        return Failure.REJECTED
    return Failure.TRANSIENT


def _uploaded_name(path: str, message: Any) -> str | None:
    """The cache's name for the file after a status-0 answer, or None if it refused it."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    if text == "True":
        return os.path.basename(path)
    if text.startswith("NewFileName:"):  # the cache holds an identical file under this name
        return os.path.basename(text.split(":")[-1])
    return None


def upload_archive(
    folder: str | os.PathLike[str],
    entry: Mapping[str, Any],
    policy: RetryPolicy | None = None,
    *,
    put: Put | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Upload OUTDIR's archive (workflow.json's ``archive`` entry); its cache URL.

    `RuntimeServiceError` (one line naming the file, the attempts and the reason) when it
    cannot be done; then nothing may be submitted.
    """
    base = cache_base(environ)
    path = str(Path(folder) / str(entry["file"]))
    if int(entry.get("size", 0)) > MAX_ARCHIVE_BYTES:
        raise RuntimeServiceError(f"{path}: over the PanDA cache's {MAX_ARCHIVE_BYTES} bytes")
    put = put or panda_put
    policy = policy or RetryPolicy()
    schedule = Schedule(policy)
    while True:
        timeout = schedule.next_timeout()
        try:
            status, message = call_within(lambda: put(path), timeout, "panda-cache-upload")
        except AttemptTimedOut as exc:
            status, message = 504, str(exc)
        except Exception as exc:  # panda-client raising instead of answering: not retried
            raise RuntimeServiceError(f"upload of {path} to the PanDA cache: {one_line(exc)}") from exc
        if status == 0:
            name = _uploaded_name(path, message)
            if name is None:
                raise RuntimeServiceError(
                    f"upload of {path} to the PanDA cache refused: {one_line(message)}; nothing submitted"
                )
            return f"{base}/cache/{name}"
        kind = _failure(int(status))
        delay = schedule.next_delay() if kind in (Failure.UNREACHED, Failure.TRANSIENT) else None
        if delay is None:
            tries = f"{schedule.attempts} attempt{'s' if schedule.attempts != 1 else ''}"
            raise RuntimeServiceError(
                f"upload of {path} to the PanDA cache failed after {tries} in {schedule.elapsed:.1f} s"
                f" (status {status}): {one_line(message)}; nothing submitted",
                kind=kind,
                attempts=schedule.attempts,
            )
        schedule.wait(delay)
