"""Remote build: our build work equals the reference's `create_idds_build_workflow`.

The config is initialised as ``bps submit`` does it (ctrl_bps's ``init_submission``). The
reference uploads its archive while building the work; its upload is replaced by a
recorder answering a cache URL, and its ``DomaPanDAWork`` by a subclass recording the
keyword arguments. Compared: the keyword arguments, the JEDI task parameters iDDS builds
from the work (`DomaPanDAWork.create_processing`), the request's workflow name, and the
archive's members.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from compiler.errors import ConfigError
from compiler.runtime.remote_build import (
    BUILD_FILE,
    bps_submit_config,
    build_folder_of,
    idds_build_workflow,
    load_build,
    plan_build,
    prepare_build,
)
from tests.test_task_params import RUNTIME, _differences, _idds_task_params

CACHE = "https://cache.test/server/panda/cache/"
RUNNER = (
    "export IDDS_MAX_NAME_LENGTH={IDDS_MAX_NAME_LENGTH}; unset PYTHONPATH;"
    " source /cvmfs/sw.lsst.eu/linux-x86_64/lsst_distrib/{LSST_VERSION}/loadLSST.bash;"
    " setup lsst_distrib; {custom_lsst_setup}"
    " python3 ${CTRL_BPS_PANDA_DIR}/python/lsst/ctrl/bps/panda/edgenode/build_cmd_line_decoder.py"
    " _download_cmd_line_ _build_cmd_line_ _compute_site_"
)


def remote_config(tmp: Path, **section: Any) -> Path:
    """A submit YAML with an enabled ``remoteBuild`` section and one extra file to ship."""
    (tmp / "pipeline.yaml").write_text("description: a pipeline\n")
    settings = {
        "enabled": True,
        "files": [str(tmp / "pipeline.yaml")],
        "runnerCommand": RUNNER,
        "computeSite": "SLAC_Rubin_Build",
        "queue": "SLAC_Rubin_Build_Queue",
        "requestMemory": 4000,
        "numberOfRetries": 2,
        "processingType": "lsst_build",
        "LSST_VERSION": "w_2025_30",
        **section,
    }
    lines = [
        "wmsServiceClass: lsst.ctrl.bps.panda.PanDAService",
        "operator: someone",
        "project: dev",
        "campaign: remote",
        "payload:",
        "  payloadName: remote",
        '  output: "u/someone/remote"',
        f"submitPath: {json.dumps(str(tmp / 'submit') + '/{outputRun}')}",
        "computeSite: SLAC_Rubin",
        "computeCloud: US",
        "LSST_VERSION: w_2025_20",
        'custom_lsst_setup: "setup -j ctrl_bps_panda -r /sdf/ctrl_bps_panda;"',
        "remoteBuild:",
        *(f"  {key}: {json.dumps(value)}" for key, value in settings.items()),
    ]
    path = tmp / "remote.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_reference_build(
    config: Any, remote_build: Any, config_file: Path, monkeypatch: pytest.MonkeyPatch, compute_site: str
) -> tuple[Any, dict[str, Any], str]:
    """(reference workflow, DomaPanDAWork kwargs it used, archive it uploaded)."""
    import lsst.ctrl.bps.panda.utils as utils

    uploaded: list[str] = []
    used: list[dict[str, Any]] = []

    class Recording(utils.DomaPanDAWork):  # type: ignore[misc, name-defined]
        def __init__(self, **kwargs: Any) -> None:
            used.append(dict(kwargs))
            super().__init__(**kwargs)

    def record_upload(filename: str) -> str:
        uploaded.append(filename)
        return CACHE + os.path.basename(filename)

    monkeypatch.setattr(utils, "copy_files_to_pandacache", record_upload)
    monkeypatch.setattr(utils, "DomaPanDAWork", Recording)
    workflow = utils.create_idds_build_workflow(
        config=config, remote_build=remote_build, config_file=str(config_file), compute_site=compute_site
    )
    (kwargs,) = used
    (archive,) = uploaded
    return workflow, kwargs, archive


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {i.name: tar.extractfile(i).read() for i in tar.getmembers()}  # type: ignore[union-attr]


@pytest.mark.parametrize("section", [{}, {"computeSite": "", "queue": "", "requestMemory": 0}])
def test_build_work_equals_reference(
    tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch, section: dict[str, Any]
) -> None:
    path = remote_config(tmp_path, **section)
    config, remote_build = bps_submit_config(path)
    plan = plan_build(config, remote_build, path, compute_site="SLAC_Rubin_Target")
    folder = prepare_build(plan, build_folder_of(config))
    ref_workflow, ref_kwargs, ref_archive = run_reference_build(
        config, remote_build, path, monkeypatch, "SLAC_Rubin_Target"
    )
    url = CACHE + os.path.basename(ref_archive)

    ours = dict(
        plan.work, executable=plan.work["executable"].replace(plan.document()["archive"]["placeholder"], url)
    )
    assert ours == ref_kwargs
    assert "w_2025_30" in ours["executable"] and "remote.yaml SLAC_Rubin_Target" in ours["executable"]
    if section:  # empty in remoteBuild: the config's own values (memory: BPS's default 2048)
        assert (ours["task_site"], ours["task_rss"]) == ("SLAC_Rubin", 2048)
    else:
        assert (ours["task_site"], ours["task_queue"], ours["task_rss"]) == (
            "SLAC_Rubin_Build",
            "SLAC_Rubin_Build_Queue",
            4000,
        )

    # the JEDI task parameters iDDS makes of either work are the same
    doc = load_build(folder)
    (our_work,) = idds_build_workflow(doc, url).template.works.values()
    (ref_work,) = ref_workflow.template.works.values()
    for values in (RUNTIME, {**RUNTIME, "IDDS_USERNAME": None}):
        assert not _differences(_idds_task_params(our_work, values), _idds_task_params(ref_work, values))
    assert idds_build_workflow(doc, url).name == ref_workflow.name == plan.name

    # the archive: the same members and contents
    archive = (folder / doc["archive"]["file"]).read_bytes()
    assert members(archive) == members(Path(ref_archive).read_bytes())
    assert sorted(members(archive)) == ["pipeline.yaml", "remote.yaml"]


def test_build_folder_is_deterministic_and_refuses_another_build(tmp_path: Path, reference: Any) -> None:
    path = remote_config(tmp_path)
    config, remote_build = bps_submit_config(path)
    plan = plan_build(config, remote_build, path)
    folder = prepare_build(plan, tmp_path / "one")
    again = prepare_build(plan_build(config, remote_build, path), tmp_path / "two")
    assert (folder / BUILD_FILE).read_bytes() == (again / BUILD_FILE).read_bytes()
    assert prepare_build(plan, folder) == folder  # the same build again: kept as it is
    (tmp_path / "pipeline.yaml").write_text("description: changed\n")
    with pytest.raises(Exception, match="holds another build"):
        prepare_build(plan_build(config, remote_build, path), folder)


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"runnerCommand": ""}, "remoteBuild.runnerCommand' is missing"),
        ({"requestMemory": "lots"}, "remoteBuild.requestMemory' must be a number"),
        ({"files": ["/nonexistent/x.yaml"]}, "remote build file '/nonexistent/x.yaml': cannot read it"),
        ({"files": ["/tmp"]}, "remote build file '/tmp' is not a regular file"),
    ],
)
def test_bad_settings_are_one_line(
    tmp_path: Path, reference: Any, section: dict[str, Any], match: str
) -> None:
    path = remote_config(tmp_path, **section)
    config, remote_build = bps_submit_config(path)
    with pytest.raises(ConfigError, match=match):
        plan_build(config, remote_build, path)


def test_disabled_remote_build_is_refused(tmp_path: Path, reference: Any) -> None:
    path = remote_config(tmp_path, enabled=False)
    with pytest.raises(ConfigError, match=r"remoteBuild\.enabled is not true"):
        bps_submit_config(path)


def test_difference_retries_unset(tmp_path: Path, reference: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No numberOfRetries anywhere: the reference compares None with 0; we use PanDA's default 3."""
    path = remote_config(tmp_path, numberOfRetries="")
    config, remote_build = bps_submit_config(path)
    assert plan_build(config, remote_build, path).work["maxattempt"] == 5  # BPS's defaults: 5
    monkeypatch.setattr(config, "search", _without("numberOfRetries", config.search))  # unset there too
    assert plan_build(config, remote_build, path).work["maxattempt"] == 3
    with pytest.raises(TypeError):
        run_reference_build(config, remote_build, path, monkeypatch, "")


def _without(key: str, search: Any) -> Any:
    def patched(name: str, opt: Any = None) -> Any:
        return (False, "") if name == key else search(name, opt)

    return patched
