"""atomic_outdir in-process: signals become cleanup, the final rename is never cut short."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from compiler.emit import atomic
from compiler.emit.atomic import atomic_outdir
from compiler.emit.provenance import header
from compiler.emit.validate import WORKFLOW_SCHEMA


def own_outdir(folder: Path) -> None:
    """Give `folder` the workflow.json header that makes it panda-compile's own."""
    (folder / "workflow.json").write_text(json.dumps(header(WORKFLOW_SCHEMA, "0" * 64)))


def _siblings(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.tmp-*"))


def test_sigterm_while_writing_removes_the_temporary_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info, atomic_outdir(out) as tmp:
        (tmp / "half").write_text("x")
        os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.code == 128 + signal.SIGTERM
    assert not out.exists() and not _siblings(out)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_signal_during_the_rename_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    own_outdir(out)
    publish = atomic._publish

    def interrupted_publish(tmp: Path, target: Path) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        publish(tmp, target)

    monkeypatch.setattr(atomic, "_publish", interrupted_publish)
    with pytest.raises(SystemExit), atomic_outdir(out, force=True) as tmp:
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new"]  # published whole
    assert not _siblings(out)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_handlers_are_left_alone_outside_the_main_thread_or_when_set(tmp_path: Path) -> None:
    seen: list[object] = []

    def body() -> None:
        with atomic_outdir(tmp_path / "thread"):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [signal.SIG_DFL] and (tmp_path / "thread").is_dir()

    def mine(signum: int, frame: object) -> None:
        del signum, frame

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with atomic_outdir(tmp_path / "own"):
            assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
