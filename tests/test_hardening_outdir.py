"""Threat model, OUTDIR side: names never become paths outside OUTDIR, --force never deletes
what panda-compile did not write, and every refusal is one line, in bounded time and memory.

Each test is one bullet of issue 8's "Why" (writes outside OUTDIR, deletes what it should
not, tracebacks instead of one line) and failed on main before the fix.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.load import model
from tests.hardening import files_under, refusal, run_bounded
from tests.load import craft

ROOT = Path(__file__).resolve().parents[1]
PICKLE = ROOT / "examples" / "drp-small" / "bps_generic_workflow.pickle"
CONFIG = ROOT / "examples" / "drp-small" / "submit.yaml"


def _tiny_pickle(path: Path, name: str = "tiny", labels: tuple[str, str] = ("isr", "calib")) -> Path:
    gw = model.GenericWorkflow(name)
    craft.add_job(gw, craft.make_job("a1", labels[0], arguments="run"))
    craft.add_job(gw, craft.make_job("b1", labels[1], arguments="run"), ["a1"])
    path.write_bytes(craft.dumps(gw))
    return path


def _compile(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_bounded(PICKLE, "--config", CONFIG, "-q", *args, cwd=cwd)


def _check_ok(outdir: Path) -> None:
    result = run_bounded("check", outdir)
    assert result.returncode == 0, result.stdout + result.stderr


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ----- names that would become paths -------------------------------------------------------


def test_workflow_name_with_dotdot_writes_nothing_outside(tmp_path: Path) -> None:
    victim = tmp_path / "x" / "victim"
    name = "../" * 12 + str(victim).lstrip("/")
    gw = _tiny_pickle(tmp_path / "gw.pickle", name=name)
    before = files_under(tmp_path)
    refusal(run_bounded(gw, "--config", CONFIG, "-o", tmp_path / "o" / "out"), "workflow name")
    assert files_under(tmp_path) == before  # not even OUTDIR's parent or a lock file


@pytest.mark.parametrize(
    ("labels", "culprit"),
    [(("is/r", "calib"), "label"), (("isr", "cal\x00ib"), "NUL"), (("isr", "x" * 10_000), "longer than")],
)
def test_labels_that_cannot_be_file_names_are_refused(
    tmp_path: Path, labels: tuple[str, str], culprit: str
) -> None:
    gw = _tiny_pickle(tmp_path / "gw.pickle", labels=labels)
    refusal(run_bounded(gw, "--config", CONFIG, "-o", tmp_path / "out"), culprit)
    assert not (tmp_path / "out").exists()


def test_order_id_map_file_outside_the_submit_folder_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"includeConfigs: [{json.dumps(str(CONFIG))}]\nenableJobNameMap: true\n"
        'orderIdMapFilename: "/etc/passwd"\n'
    )
    result = run_bounded(PICKLE, "--config", config, "-o", tmp_path / "out")
    refusal(result, "orderIdMapFilename")
    assert not (tmp_path / "out").exists()


# ----- what --force may replace --------------------------------------------------------------


def test_force_refuses_a_foreign_folder(tmp_path: Path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_text("precious")
    refusal(_compile("-o", out, "--force"), "foreign")
    assert (out / "holiday.jpg").read_text() == "precious"


def test_force_replaces_an_own_or_empty_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _compile("-o", empty, "--force").returncode == 0
    (empty / "stray").write_text("x")
    assert _compile("-o", empty, "--force").returncode == 0
    assert not (empty / "stray").exists()
    _check_ok(empty)


@pytest.mark.parametrize("which", [".", "..", "home", "/"])  # never run "/" on old releases
def test_dangerous_outdirs_are_refused_even_with_force(tmp_path: Path, which: str) -> None:
    cwd = tmp_path / "work" / "here"
    cwd.mkdir(parents=True)
    (cwd / "mine.txt").write_text("keep")
    home = tmp_path / "work"
    target = str(home) if which == "home" else which
    result = run_bounded(
        PICKLE, "--config", CONFIG, "-q", "-o", target, "--force", cwd=cwd, env={"HOME": str(home)}
    )
    refusal(result, "refusing to use")
    assert (cwd / "mine.txt").read_text() == "keep"
    assert files_under(home) == {"here", "here/mine.txt"}


def test_glob_characters_in_outdir_delete_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    precious = folder / ".precious.tmp-backup"
    precious.mkdir()
    (precious / "data").write_text("precious")
    out = folder / "*"
    assert _compile("-o", out).returncode == 0
    assert (precious / "data").read_text() == "precious"
    _check_ok(out)


def test_force_through_a_symlink_twice_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    link = tmp_path / "link"
    assert _compile("-o", real).returncode == 0
    link.symlink_to(real)
    for _ in range(2):
        result = _compile("-o", link, "--force")
        assert result.returncode == 0, result.stderr
    assert link.is_symlink() and (link / "workflow.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # no .tmp-old left
    _check_ok(link)


def test_dangling_symlink_outdir_is_one_line(tmp_path: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere")
    refusal(_compile("-o", link), "dangling symlink")
    assert not (tmp_path / "nowhere").exists()


def test_outdir_in_proc_is_one_line(tmp_path: Path) -> None:
    refusal(_compile("-o", "/proc/panda-compile-out"), "/proc")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_outdir_under_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    refusal(_compile("-o", locked / "out"), str(locked))


# ----- concurrency and crashes --------------------------------------------------------------


def test_second_concurrent_compile_fails_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(tmp_path / ".out.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running compile of OUTDIR holds
        refusal(_compile("-o", out), "another panda-compile is writing")
    assert not out.exists()
    assert _compile("-o", out).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the lock file is gone too


def test_outdir_left_aside_by_a_killed_replace_is_restored(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _compile("-o", out).returncode == 0
    before = (out / "workflow.json").read_bytes()
    aside = tmp_path / f".out.old-{_dead_pid()}-0123abcd"
    out.rename(aside)  # SIGKILL between "OUTDIR -> aside" and "temp -> OUTDIR"
    refusal(_compile("-o", out), "exists")  # the old OUTDIR is back, so it is not replaced silently
    assert (out / "workflow.json").read_bytes() == before and not aside.exists()


def test_stale_temp_folders_of_dead_compiles_are_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / f".out.tmp-{_dead_pid()}-0123abcd"
    live = tmp_path / f".out.tmp-{os.getppid()}-0123abcd"  # the pytest process's parent: alive
    lookalike = tmp_path / ".out.tmp-backup"
    for folder in (dead, live, lookalike):
        folder.mkdir()
    assert _compile("-o", tmp_path / "out").returncode == 0
    assert not dead.exists() and live.exists() and lookalike.exists()
