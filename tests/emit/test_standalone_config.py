"""No payload that silently does nothing, no silently empty path: the config checks.

Each case is a one-line error naming the key and the variable, exit 1 and no OUTDIR; or,
for a ``{var}`` whose emptiness is harmless, one warning on stderr and in summary.md.
Also: the values BPS computes (bps_values), and `check` on doctored executables.
"""

from __future__ import annotations

import binascii
import json
import shutil
from pathlib import Path

import pytest

from compiler.bps_values import submit_values
from compiler.config import BpsYamlConfig, layered_config
from compiler.tools.check import check_outdir

from .conftest import PICKLE, config_with, run_cli


def _fails(tmp_path: Path, **keys: object) -> str:
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", config_with(tmp_path, **keys), "-o", out)
    assert result.exit_code == 1, result.output
    assert not out.exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unresolvable_runner_is_refused(tmp_path: Path) -> None:
    line = _fails(tmp_path, runnerCommand="{undefinedWrapper}")
    assert "'runnerCommand'" in line and "{undefinedWrapper}" in line and "run" in line


def test_runner_that_loses_the_payload_is_refused(tmp_path: Path) -> None:
    """The bundled runner without a jobContainer: the job would exit 0 having done nothing."""
    line = _fails(tmp_path, jobContainer="{siteWrapper}")
    assert "_cmd_line_" in line and "{siteWrapper} in 'jobContainer' is not defined" in line


def test_empty_log_dir_assignment_is_refused(tmp_path: Path) -> None:
    line = _fails(tmp_path, jobLogDir="{myLogs}")
    assert "'jobLogDir'" in line and "{myLogs}" in line


@pytest.mark.parametrize(
    ("key", "value", "var"),
    [
        ("fileDistributionEndPoint", "file:///tmp/dist/{nope}/", "{nope}"),
        ("fileDistributionEndPoint", "file:///tmp/{runDir}/x/", "{undefinedRun}"),
        ("jobLogDir", "{jobRoot}/logs", "{jobRoot}"),
    ],
)
def test_empty_path_segment_is_refused(tmp_path: Path, key: str, value: str, var: str) -> None:
    keys: dict[str, object] = {key: value}
    if "runDir" in value:
        keys["runDir"] = "{undefinedRun}"  # the hole is one variable further down
    line = _fails(tmp_path, **keys)
    assert f"config key '{key}'" in line and "empty path segment" in line and var in line


def test_literal_double_slash_in_end_point_is_refused(tmp_path: Path) -> None:
    line = _fails(tmp_path, fileDistributionEndPoint="file:///tmp//dist/")
    assert "config key 'fileDistributionEndPoint'" in line and "empty path segment" in line


def test_harmless_empty_var_is_one_warning(tmp_path: Path) -> None:
    """{custom_setup} may be empty (sites rely on that); it is listed once, not refused."""
    config = config_with(tmp_path, jobCleanup="{custom_setup} rm -fr EXEC_REPO-*;")
    out = tmp_path / "out"
    result = run_cli(PICKLE, "--config", config, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "{custom_setup}" in line]
    expected = (
        "warning: config: {custom_setup} in 'jobCleanup' is not defined; BPS substitutes an empty string"
    )
    assert warnings == [expected]
    summary = (out / "summary.md").read_text()
    assert "## Config warnings" in summary and summary.count("{custom_setup}") == 1
    assert check_outdir(out) == []


def test_site_section_end_point_must_be_the_staging_one(tmp_path: Path) -> None:
    """The reference stages to the root value but lets a site's jobs read another place."""
    out = tmp_path / "out"
    config = config_with(tmp_path, cluster={"isr": {"computeSite": "OTHER"}})
    config.write_text(
        config.read_text()
        + "site:\n  OTHER: {fileDistributionEndPoint: 'file:///elsewhere/{uniqProcName}/'}\n"
    )
    result = run_cli(PICKLE, "--config", config, "-o", out)
    assert result.exit_code == 1 and not out.exists()
    assert "file:///elsewhere/" in result.stderr and "not where submit stages the files" in result.stderr


# ----- values BPS computes ----------------------------------------------------------------


def _config(tree: dict[str, object]) -> BpsYamlConfig:
    return layered_config(BpsYamlConfig(tree))


def test_submit_values_recover_what_bps_defined(tmp_path: Path) -> None:
    config = _config({"payload": {"payloadName": "DRP", "output": "u/alice/DRP"}})
    attrs = {"bps_operator": "alice", "bps_project": "dev", "bps_campaign": "c1", "bps_payload": "DRP"}
    values = submit_values(config, "u_alice_DRP_20260102T030405Z", attrs, str(tmp_path))
    assert values == {
        "uniqProcName": "u_alice_DRP_20260102T030405Z",
        "operator": "alice",
        "project": "dev",
        "campaign": "c1",
        "timestamp": "20260102T030405Z",
        "submitPath": str(tmp_path),
    }  # payloadName is the config's own
    user = BpsYamlConfig({"payload": {"payloadName": "DRP", "output": "u/alice/DRP"}})
    layered = layered_config(user, values)
    assert layered["outputRun"] == "u/alice/DRP/20260102T030405Z"


def test_submit_values_leave_what_the_user_set() -> None:
    config = _config({"uniqProcName": "myrun", "operator": "bob", "outputRun": "u/bob/x/20250101T000000Z"})
    values = submit_values(config, "myrun_20250101T000000Z", {"bps_operator": "alice"}, None)
    assert "uniqProcName" not in values and "operator" not in values and "submitPath" not in values
    assert values["timestamp"] == "20250101T000000Z"  # the name's timestamp, as a fallback


# ----- check on doctored executables ---------------------------------------------------------


def _doctored(example_outdir: Path, tmp_path: Path, edit: object) -> list[str]:
    out = tmp_path / "copy"
    shutil.copytree(example_outdir, out)
    doc = json.loads((out / "workflow.json").read_text())
    task = doc["tasks"][1]
    task["work"]["executable"] = edit(task["work"]["executable"])  # type: ignore[operator]
    (out / "workflow.json").write_text(json.dumps(doc))
    return [str(p) for p in check_outdir(out) if "work.executable" in p.location]


def test_check_finds_executables_that_run_nothing(example_outdir: Path, tmp_path: Path) -> None:
    def strip_payload(exe: str) -> str:
        start = exe.index("cmd_line_decoder.py ") + len("cmd_line_decoder.py ")
        return exe[:start] + exe[exe.index(" ", exe.index("${IN/L}") + 8) :]

    problems = _doctored(example_outdir, tmp_path / "a", strip_payload)
    assert len(problems) == 1 and "carries no usable decoder payload" in problems[0]


def test_check_finds_bad_hex_and_moved_end_points(example_outdir: Path, tmp_path: Path) -> None:
    bad_hex = binascii.hexlify(b"\xff\xfe").decode()

    def garble(exe: str) -> str:
        start = exe.index("cmd_line_decoder.py ") + len("cmd_line_decoder.py ")
        return exe[:start] + bad_hex + exe[exe.index(" ${IN/L}") :]

    problems = _doctored(example_outdir, tmp_path / "a", garble)
    assert len(problems) == 1 and "does not decode" in problems[0]
    doc = json.loads((example_outdir / "workflow.json").read_text())
    staging = doc["file_distribution_end_point"]
    problems = _doctored(example_outdir, tmp_path / "b", lambda exe: exe.replace(staging, "file:///x//y/"))
    assert len(problems) == 1 and "empty path segment" in problems[0]
    problems = _doctored(example_outdir, tmp_path / "c", lambda exe: exe.replace(staging, "file:///moved/"))
    assert len(problems) == 1 and "is not where files are staged" in problems[0]


def test_values_from_the_pickle_are_never_expanded() -> None:
    """A run attribute or name that looks like config text is data, as labels are."""
    config = _config({"fileDistributionEndPoint": "file:///d/{operator}/{uniqProcName}/", "secret": "s3cr3t"})
    attrs = {"bps_operator": "{secret}", "bps_project": "bpsEval(os.system, 'true')"}
    values = submit_values(config, "run_{secret}", attrs, None)
    layered = layered_config(
        BpsYamlConfig({"fileDistributionEndPoint": "file:///d/{operator}/{uniqProcName}/"}), values
    )
    assert layered["fileDistributionEndPoint"] == "file:///d/{secret}/run_{secret}/"
    assert layered["project"] == "bpsEval(os.system, 'true')"
