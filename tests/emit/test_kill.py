"""An interrupted compile of a large workflow never leaves a half-written OUTDIR.

The compile runs as a real `panda-compile` process on a 60k-job workflow; the test waits
until the writer's temporary sibling (`.out.tmp-*`) appears, i.e. until writing has
started (it then lasts about 0.2 s), and signals the process:

* SIGKILL: nothing can clean up, but OUTDIR does not exist (it appears only by the final
  rename); the temporary sibling is left, and the next compile of the same OUTDIR
  removes it;
* SIGINT and SIGTERM: the process exits non-zero (130, 143) after removing the sibling.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

JOBS = 60_000
SUBMIT = ROOT / "benchmarks" / "submit-example.yaml"


@pytest.fixture(scope="module")
def big_pickle(workflows: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "bps_generic_workflow.pickle"
    with open(path, "wb") as fh:
        pickle.dump(workflows.make_workflow(JOBS, seed=3), fh, pickle.HIGHEST_PROTOCOL)
    return path


def _start(source: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "compiler", str(source), "-c", str(SUBMIT), "-o", str(out), "-q"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _siblings(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.tmp-*"))


def _wait_until_writing(proc: subprocess.Popen[bytes], out: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not _siblings(out):
        if proc.poll() is not None:
            pytest.fail(f"compile ended (status {proc.returncode}) before it started writing")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("compile did not start writing in time")
        time.sleep(0.001)


@pytest.mark.parametrize(
    ("sig", "status"),
    [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)],
    ids=["SIGKILL", "SIGINT", "SIGTERM"],
)
def test_signal_while_writing_leaves_no_outdir(
    big_pickle: Path, tmp_path: Path, sig: int, status: int
) -> None:
    out = tmp_path / "out"
    proc = _start(big_pickle, out)
    _wait_until_writing(proc, out)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status, stderr.decode()
    assert not out.exists()
    if sig == signal.SIGKILL:
        assert len(_siblings(out)) == 1  # only an uncatchable kill leaves the hidden sibling
        rerun = _start(big_pickle, out)
        assert rerun.wait(timeout=120) == 0
        assert (out / "workflow.json").exists() and not _siblings(out)
    else:
        assert not _siblings(out)
        if sig == signal.SIGINT:
            assert b"interrupted; nothing written" in stderr
