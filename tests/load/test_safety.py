"""Hostile, broken and foreign files give a one-line LoadError naming the file; nothing runs."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.errors import LoadError
from compiler.load import load_generic_workflow, model

from . import craft

REPO = Path(__file__).resolve().parents[2]
OLD_PICKLE = REPO / "tests" / "data" / "load" / "ctrl_bps-29.2.1-networkx-3.5-final-job.pickle"


class Reducer:
    """Pickles as a call of `func(*args)`: what a hostile pickle does."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def hostile_payloads(marker: Path) -> dict[str, Any]:
    """Objects whose unpickling would create `marker`, keyed by the global they need."""
    return {
        "posix.system": Reducer(os.system, f"touch {marker}"),
        "builtins.eval": Reducer(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess.Popen": Reducer(subprocess.Popen, ["touch", str(marker)]),
        "builtins.getattr": Reducer(getattr, {}, "clear"),
    }


def load_error(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load_generic_workflow(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


@pytest.mark.parametrize("dotted", ["posix.system", "builtins.eval", "subprocess.Popen", "builtins.getattr"])
def test_hostile_top_level(tmp_path: Path, dotted: str) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps(hostile_payloads(marker)[dotted]))
    assert f"refused to load global '{dotted}'" in load_error(path)
    assert not marker.exists()


def test_hostile_protocol_0(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pickle"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    assert "refused to load global 'os.system'" in load_error(path)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["job tags", "run_attrs", "file", "label graph"])
def test_hostile_global_nested_in_workflow(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "marker"
    evil = hostile_payloads(marker)["posix.system"]
    gw = craft.small_workflow()
    if where == "job tags":
        gw.get_job("calibrate_2").tags["visit"] = evil
    elif where == "run_attrs":
        gw.run_attrs["bps_operator"] = evil
    elif where == "file":
        gw._inputs["isr_1"][0] = craft.StateOverride(model.GenericWorkflowFile, (None, {"name": evil}))
    else:
        gw._job_labels._label_graph.graph["x"] = evil
    path = tmp_path / "bps_generic_workflow.pickle"
    path.write_bytes(craft.dumps(gw))
    assert "refused to load global 'posix.system'" in load_error(path)
    assert not marker.exists()


def test_other_classes_refused(tmp_path: Path) -> None:
    gw = craft.small_workflow()
    gw.run_attrs["path"] = Path("/x")
    path = tmp_path / "wf.pickle"
    path.write_bytes(craft.dumps(gw))
    assert "refused to load global 'pathlib.PosixPath'" in load_error(path)


def test_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "bps_generic_workflow.pickle"
    path.write_text("jobs:\n  - a\n")
    assert "not a readable GenericWorkflow pickle" in load_error(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pickle"
    path.write_bytes(b"")
    assert "not a readable GenericWorkflow pickle" in load_error(path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated(tmp_path: Path, fraction: float) -> None:
    data = craft.dumps(craft.small_workflow())
    path = tmp_path / "truncated.pickle"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert "not a readable GenericWorkflow pickle" in load_error(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "cannot read workflow file" in load_error(tmp_path / "missing.pickle")
    assert "cannot read workflow file" in load_error(tmp_path)


def test_missing_file_uri(tmp_path: Path) -> None:
    uri = (tmp_path / "missing.pickle").as_uri()
    with pytest.raises(LoadError, match="cannot read workflow file"):
        load_generic_workflow(uri)


@pytest.mark.parametrize("top", [{"a": 1}, [1, 2], model.GenericWorkflowJob("j", "l")])
def test_top_level_not_a_workflow(tmp_path: Path, top: Any) -> None:
    path = tmp_path / "other.pickle"
    path.write_bytes(craft.dumps(top))
    assert f"top-level object is a {type(top).__name__}, not a GenericWorkflow" in load_error(path)


def test_path_forms_load_alike(tmp_path: Path) -> None:
    path = tmp_path / "bps_generic_workflow.pickle"
    path.write_bytes(craft.dumps(craft.small_workflow()))
    loaded = [load_generic_workflow(source) for source in (path, str(path), path.as_uri())]
    assert {len(gw) for gw in loaded} == {len(craft.small_workflow())}
    assert all(list(gw) == list(loaded[0]) for gw in loaded)


def test_gc_state_is_restored(tmp_path: Path) -> None:
    good = tmp_path / "good.pickle"
    good.write_bytes(craft.dumps(craft.small_workflow()))
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(b"garbage")
    assert gc.isenabled()
    load_generic_workflow(good)
    assert gc.isenabled()
    with pytest.raises(LoadError):
        load_generic_workflow(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        load_generic_workflow(good)
        assert not gc.isenabled()
    finally:
        gc.enable()


BLOCKER = """
import sys

class BlockCtrlBps:
    def find_spec(self, name, path=None, target=None):
        if name == "lsst.ctrl.bps" or name.startswith("lsst.ctrl.bps."):
            raise ImportError(f"blocked {name}")
        return None

sys.meta_path.insert(0, BlockCtrlBps())
from compiler.load import load_generic_workflow, is_generic_workflow
gw = load_generic_workflow(sys.argv[1])
counts = {label: len(gw.get_jobs_by_label(label)) for label in gw.labels}
print("nodes", len(gw), "workflow", is_generic_workflow(gw))
print("counts", sorted(counts.items()))
print("ctrl_bps imported", any(m.startswith("lsst.ctrl.bps") for m in sys.modules))
"""


def test_works_without_ctrl_bps() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, str(OLD_PICKLE)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "nodes 16 workflow True"
    assert lines[1] == (
        "counts [('calibrate', 4), ('isr', 4), ('order', 0), ('order1', 0), ('pipetaskInit', 1), "
        "('summary', 1), ('writeTable', 4)]"
    )
    assert lines[2] == "ctrl_bps imported False"


def test_remote_uri_is_read_through_lsst_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = pytest.importorskip("lsst.resources")
    data = craft.dumps(craft.small_workflow())
    seen: list[str] = []

    class FakeRemote:
        scheme = "s3"

        def __init__(self, uri: str) -> None:
            seen.append(uri)

        def read(self) -> bytes:
            return data

    monkeypatch.setattr(resources, "ResourcePath", FakeRemote)
    gw = load_generic_workflow("s3://bucket/submit/bps_generic_workflow.pickle")
    assert seen == ["s3://bucket/submit/bps_generic_workflow.pickle"]
    assert len(gw) == len(craft.small_workflow())


def test_unreadable_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = pytest.importorskip("lsst.resources")

    class Broken:
        scheme = "s3"

        def __init__(self, uri: str) -> None:
            raise ValueError("no credentials\nfor bucket")

    monkeypatch.setattr(resources, "ResourcePath", Broken)
    with pytest.raises(LoadError) as info:
        load_generic_workflow("s3://b/wf.pickle")
    assert str(info.value) == "s3://b/wf.pickle: cannot read workflow file: no credentials for bucket"


def test_transform_style_uuid_tags_load(tmp_path):
    """Real `bps transform` output keeps uuid.UUID objects in job tags: allowed, restored."""
    import pickle
    import uuid

    pytest.importorskip("lsst.ctrl.bps")
    from workflows import WorkflowOptions, make_workflow

    from compiler.load import load_generic_workflow
    from tests.conftest import BENCHMARKS  # noqa: F401  (puts benchmarks on sys.path)

    gw = make_workflow(50, options=WorkflowOptions(uuid_tags=True))
    path = tmp_path / "gw.pickle"
    path.write_bytes(pickle.dumps(gw, pickle.HIGHEST_PROTOCOL))
    loaded = load_generic_workflow(path)
    tags = [loaded.get_job(n).tags for n in loaded]
    assert any(isinstance(v, uuid.UUID) for t in tags for v in t.values())
    assert [gw.get_job(n).tags for n in gw] == [loaded.get_job(n).tags for n in gw]
