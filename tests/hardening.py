"""Run panda-compile as a user would, under the limits the threat model promises.

`run_bounded` runs the CLI in a child process with a 4 GiB address-space limit and a
wall-clock timeout, so a refused input that hangs or explodes fails the test instead of
the machine; `refusal` asserts the shape of a refusal (exit != 0, at most two stderr
lines, no traceback, the culprit named).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ADDRESS_SPACE = 4 << 30
TIMEOUT = 60.0
_CLI = "import sys; from compiler.cli import main; sys.exit(main())"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_bounded(
    *args: object, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`panda-compile ARGS` in a child under a 4 GiB address-space limit and `timeout` seconds."""
    return subprocess.run(
        [sys.executable, "-c", _CLI, *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
        check=False,
    )


def refusal(result: subprocess.CompletedProcess[str], culprit: str | Sequence[str]) -> str:
    """Assert `result` is a proper refusal naming `culprit` (any of them); its stderr."""
    err = result.stderr
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("Usage:", "Try "))]
    assert result.returncode != 0, (result.stdout, err)
    assert "Traceback" not in err, err
    assert 1 <= len(lines) <= 2, err
    wanted = [culprit] if isinstance(culprit, str) else list(culprit)
    assert any(w in err for w in wanted), (wanted, err)
    return err


def files_under(folder: Path) -> set[str]:
    """Every path below `folder` (relative), for "nothing written outside" assertions."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}
