"""Tests for compiler.config, the standalone BPS YAML reader.

The comparison tests check our answers against ``lsst.ctrl.bps.BpsConfig`` on the same
files, for every key the PanDA plugin reads and for many search options; they are skipped
when ctrl_bps is not installed.  The other tests pin the behaviour without lsst.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler.config import (
    PANDA_KEYS,
    SEARCH_ORDER,
    BpsYamlConfig,
    as_config,
    bundled_defaults,
    load_config,
)
from compiler.errors import ConfigError

DATA = Path(__file__).parent / "data" / "config"
FIXTURES = ["panda_main.yaml", "env_vars.yaml", "submit-example.yaml"]
BUNDLED = Path(__file__).parent.parent / "compiler" / "data" / "bps_panda.yaml"
RUNNER_OPT = {"replaceEnvVars": False, "expandEnvVars": False}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fix the environment variables the fixtures use; run from an empty directory.

    Relative includes are looked up in the cwd first, so an empty cwd keeps the
    fixtures' own directories in charge.
    """
    monkeypatch.setenv("PC_TEST_ROOT", "/pc/root")
    monkeypatch.setenv("PC_TEST_DIST", "/pc/dist")
    monkeypatch.setenv("PC_TEST_HOME", "/pc/home")
    for name in ("PC_TEST_UNSET", "PC_TEST_UNSET2", "CTRL_BPS_PANDA_DIR"):
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------
# Comparison with BpsConfig
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bps_config_class() -> Any:
    return pytest.importorskip("lsst.ctrl.bps").BpsConfig


def _normalise(result: Any) -> Any:
    """Make BpsConfig and BpsYamlConfig results comparable (sections become dicts)."""
    if isinstance(result, tuple):
        return tuple(_normalise(item) for item in result)
    if hasattr(result, "toDict"):
        return ("section", result.toDict())
    if isinstance(result, BpsYamlConfig):
        return ("section", result.to_dict())
    return result


def _outcome(call: Any) -> Any:
    """The result of ``call()``, or the kind of failure (KeyError <-> ConfigError)."""
    try:
        return _normalise(call())
    except (KeyError, ConfigError):
        return "required-missing"


def _opt_variants(reference: Any) -> list[dict[str, Any] | None]:
    """Search options to try: plain, env/var switches, defaults and panda-style curvals."""
    tree = reference.toDict()
    labels = [*list(tree.get("pipetask") or {}), *list(tree.get("cluster") or {}), "nosuch"]
    variants: list[dict[str, Any] | None] = [
        None,
        {},
        dict(RUNNER_OPT),
        {"expandEnvVars": False, "replaceEnvVars": True},
        {"default": None},
        {"default": "{operator}-default"},
        {"replaceVars": False},
        {"skipNames": ["uniqProcName", "jobContainer"]},
        {"searchobj": {"vo": "from_searchobj", "computeSite": "{operator}"}},
        {"curvals": {"curr_cloud": "EU"}},
        {"curvals": {"curr_pipetask": "isr"}, "required": True},
    ]
    variants += [{"curvals": {"curr_site": site}} for site in tree.get("site") or {}]
    for label in labels:
        _, site = reference.search("computeSite", {"curvals": {"curr_cluster": label}})
        variants.append({"curvals": {"curr_pipetask": label}})
        if site:  # BpsConfig raises IndexError for curr_site == ""; the plugin never does that
            panda = {"curr_cluster": label, "curr_site": site, "curr_pipetask": label}
            variants.append({"curvals": panda})
    return variants


def _keys_for(tree: dict[str, Any]) -> list[str]:
    extra = [".bps_defined.submitPath", ".site.SITE_A.vo", ".pipetask.isr", "nosuch", "isr"]
    return [*PANDA_KEYS, *tree, *extra]


def _copy_opt(opt: dict[str, Any] | None) -> dict[str, Any] | None:
    """BpsConfig.search mutates its opt; give each implementation its own copy."""
    if opt is None:
        return None
    return {k: dict(v) if isinstance(v, dict) else v for k, v in opt.items()}


def _search_differences(reference: Any, ours: BpsYamlConfig) -> list[str]:
    problems = []
    for key in _keys_for(ours.to_dict()):
        for opt in _opt_variants(reference):
            expected = _outcome(lambda k=key, o=opt: reference.search(k, _copy_opt(o)))
            got = _outcome(lambda k=key, o=opt: ours.search(k, _copy_opt(o)))
            if expected != got:
                problems.append(f"search({key!r}, {opt}): BpsConfig {expected!r} != ours {got!r}")
    return problems


def _accessor_differences(reference: Any, ours: BpsYamlConfig) -> list[str]:
    problems = []
    for key in _keys_for(ours.to_dict()):
        pairs = {
            "[]": (lambda c, k=key: c[k]),
            "get": (lambda c, k=key: c.get(k)),
            "get-list": (lambda c, k=key: c.get(k, ["qgraphNodeId"])),
            "in": (lambda c, k=key: k in c),
        }
        for name, access in pairs.items():
            expected, got = _normalise(access(reference)), _normalise(access(ours))
            if expected != got:
                problems.append(f"{name} {key!r}: BpsConfig {expected!r} != ours {got!r}")
        section = reference[key]
        if hasattr(section, "toDict"):
            for sub_key in [*section.toDict(), "processingType", "nosuch"]:
                expected, got = _normalise(section[sub_key]), _normalise(ours[key][sub_key])
                if expected != got:
                    problems.append(f"{key}[{sub_key!r}]: BpsConfig {expected!r} != ours {got!r}")
    return problems


@pytest.mark.parametrize("name", FIXTURES)
def test_matches_bpsconfig_search(bps_config_class: Any, name: str) -> None:
    reference, ours = bps_config_class(str(DATA / name)), load_config(DATA / name)
    assert ours.to_dict() == reference.toDict()
    assert _search_differences(reference, ours) == []


@pytest.mark.parametrize("name", FIXTURES)
def test_matches_bpsconfig_accessors(bps_config_class: Any, name: str) -> None:
    reference, ours = bps_config_class(str(DATA / name)), load_config(DATA / name)
    assert _accessor_differences(reference, ours) == []


def test_bundled_defaults_match_bpsconfig(bps_config_class: Any) -> None:
    reference, ours = bps_config_class(str(BUNDLED)), load_config(BUNDLED)
    assert ours.to_dict() == reference.toDict()
    assert _search_differences(reference, ours) == []
    assert _accessor_differences(reference, ours) == []


def test_mapping_matches_bpsconfig(bps_config_class: Any) -> None:
    tree = {"a": "{b}-{c}", "b": 1, "includeConfigs": "not/processed.yaml", "site": {"S": {"c": "x"}}}
    reference, ours = bps_config_class(tree), as_config(tree)
    assert ours.to_dict() == reference.toDict()
    for opt in (None, {"curvals": {"curr_site": "S"}}):
        assert ours.search("a", _copy_opt(opt)) == reference.search("a", _copy_opt(opt))


def test_unset_panda_dir_uses_bundled_copy(
    bps_config_class: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without CTRL_BPS_PANDA_DIR we read our copy where BPS would read the plugin's file."""
    user = _write(
        tmp_path / "user.yaml",
        "includeConfigs:\n  - ${CTRL_BPS_PANDA_DIR}/config/bps_panda.yaml\ncomputeSite: S\npriority: 7\n",
    )
    ours = load_config(user)
    plugin_dir = tmp_path / "ctrl_bps_panda"
    (plugin_dir / "config").mkdir(parents=True)
    shutil.copy(BUNDLED, plugin_dir / "config" / "bps_panda.yaml")
    monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(plugin_dir))
    reference = bps_config_class(str(user))
    assert ours.to_dict() == reference.toDict()
    assert Path(ours.paths[1]).parts[-2:] == ("data", "bps_panda.yaml")  # compiler/data copy
    for key in ("priority", "maxJobsPerTask", "placeholderParams", "computeSite"):
        assert ours.search(key) == reference.search(key)


# ---------------------------------------------------------------------------------------
# Behaviour without lsst
# ---------------------------------------------------------------------------------------


def test_includes_and_sections_panda_main() -> None:
    config = load_config(DATA / "panda_main.yaml")
    assert [Path(p).name for p in config.paths] == [
        "panda_main.yaml",
        "panda_site.yaml",
        "panda_base.yaml",
        "panda_override.yaml",
        "calibrate.yaml",
    ]
    assert config["computeSite"] == "SITE_A"  # the main file beats both includes
    assert config["maxCopyWorkers"] == 5  # the later include beats the earlier one
    assert config["payloadFolder"] == "payload_v2"
    assert config["priority"] == 500  # from the second-level include
    label = {"curvals": {"curr_pipetask": "calibrate"}}
    assert config.search("vo", label) == (True, "rubin")  # beats the include under the label
    assert config.search("prodSourceLabel", label) == (True, "calib_label")
    assert config.search("computeSite", {"curvals": {"curr_cluster": "clusterA"}}) == (True, "SITE_C")
    assert config.search("taskType", {"curvals": {"curr_pipetask": "isr"}}) == (True, "prod_isr")
    site_a = {"curvals": {"curr_site": "SITE_A"}}
    assert config.search("prodSourceLabel", site_a) == (True, "site_a_label")  # merged from include
    assert config.search("vo", site_a) == (True, "atlas")
    char = {"curvals": {"curr_pipetask": "characterizeImage"}}
    assert config.search("processingType", char) == (True, "main_proc_char")
    assert config["orderIdMapFilename"] == "order_u_tester_demo.json"
    assert config["enableJobNameMap"] is True
    assert config["fileDistributionEndPoint"] == "/pc/dist/dist/payload_v2/u_tester_demo/"


def test_sections_payload_beats_pipetask_and_sections_beat_root() -> None:
    config = BpsYamlConfig(
        {
            "x": "root",
            "payload": {"x": "payload"},
            "pipetask": {"isr": {"x": "label", "y": "label"}},
            "site": {"S": {"y": "site"}},
            "bps_defined": {"z": "defined"},
            "z": "root",
        }
    )
    both = {"curvals": {"curr_pipetask": "isr", "curr_site": "S"}}
    assert config.search("x", both) == (True, "payload")
    assert config.search("y", both) == (True, "label")
    assert config.search("y", {"curvals": {"curr_site": "S"}}) == (True, "site")
    assert config["z"] == "defined"
    assert list(config.search_order) == list(SEARCH_ORDER)


def test_finaljob_section_is_a_standalone_config() -> None:
    config = load_config(DATA / "panda_main.yaml")
    found, final = config.search("finalJob")
    assert found and isinstance(final, BpsYamlConfig)
    # Inside a section only the section is searched: {payloadName} is unknown there.
    assert final["processingType"] == "final_Rubin_Merge_"
    assert final["nosuch"] == "" and final.get("nosuch") == ""
    assert config["customJob"]["processingType"] == ""


def test_env_and_var_substitution() -> None:
    config = load_config(DATA / "env_vars.yaml")
    assert config["computeSite"] == "SITE_from_current"  # 'current' values act as curvals
    assert config["homeBraced"] == config["homeBare"] == config["homeToken"] == "/pc/home/work"
    assert config["unsetVar"] == "${PC_TEST_UNSET}/x and $PC_TEST_UNSET2"
    assert config["mixed"] == "SITE:/pc/home::{literal}"  # unknown {var} -> ""
    assert config["formatted"] == "[   42] 2.5 True None [1, 'two', 3.0, False]"
    assert config["uniqProcName"] == "defined_SITE"  # bps_defined beats the root
    assert config[".bps_defined.submitPath"] == "/defined/defined_SITE"
    assert config["dotted.key"] == "dotted_value"
    assert config["boolWord"] is True and config["intValue"] == 42 and config["nullValue"] is None
    assert config["quotedNumber"] == "0042"
    runner = config.search("runnerCommand", RUNNER_OPT)[1]
    assert runner == "out=${PC_TEST_HOME}/SITE; echo $out from_current; exit $?\n"
    tokens = config.search("runnerCommand", {"expandEnvVars": False, "replaceEnvVars": True})[1]
    assert tokens == "out=<ENV:PC_TEST_HOME>/SITE; echo <ENV:out> from_current; exit <ENV:?>\n"
    assert config.search("computeSite", {"replaceVars": False}) == (True, "{siteBase}_{siteSuffix}")
    skipped = config.search("submitPath", {"skipNames": ["uniqProcName"]})
    assert skipped == (True, "/defined/{uniqProcName}")


def test_default_required_and_missing() -> None:
    config = load_config(DATA / "env_vars.yaml")
    assert config.search("nosuch") == (False, "")
    assert config.search("nosuch", {"default": None}) == (True, None)
    assert config.search("nosuch", {"default": "{siteBase}"}) == (True, "SITE")  # defaults expand
    assert config["nosuch"] == "" and "nosuch" not in config and "siteBase" in config
    with pytest.raises(ConfigError, match=r"env_vars\.yaml.*'nosuch'"):
        config.search("nosuch", {"required": True})
    _write_required = BpsYamlConfig({"a": "{b}"}, paths=["my.yaml"])
    with pytest.raises(ConfigError, match=r"my\.yaml: required key 'b' not found \(needed by 'a'\)"):
        _write_required.search("a", {"required": True})


def test_lists_are_copies() -> None:
    config = load_config(DATA / "panda_main.yaml")
    params = config.get("placeholderParams", [])
    assert params == ["qgraphNodeId", "qgraphId"]
    params.append("changed")
    assert config["placeholderParams"] == ["qgraphNodeId", "qgraphId"]
    fallback = ["USER"]
    assert BpsYamlConfig({}).get("submitSideResolvedParams", fallback) is fallback


def test_empty_current_site_is_just_missing() -> None:
    """BpsConfig raises IndexError on curr_site == ""; we search the whole section instead."""
    config = BpsYamlConfig({"site": {"S": {"vo": "v"}}, "vo": "root"})
    assert config.search("vo", {"curvals": {"curr_site": ""}}) == (True, "root")


def test_null_sections_are_empty() -> None:
    config = load_config(_write(Path("null.yaml"), "site:\npipetask:\n  isr:\nvo: root\n"))
    assert config.search("vo", {"curvals": {"curr_site": "X", "curr_pipetask": "isr"}}) == (True, "root")


def test_relative_include_prefers_cwd(tmp_path: Path) -> None:
    """As in daf_butler, a relative include is looked up in the cwd before the file's directory."""
    _write(tmp_path / "conf" / "part.yaml", "where: next_to_file\n")
    main = _write(tmp_path / "conf" / "main.yaml", "includeConfigs: part.yaml\nkeep: 1\n")
    assert load_config(main)["where"] == "next_to_file"
    _write(Path.cwd() / "part.yaml", "where: cwd\n")
    assert load_config(main)["where"] == "cwd"


def test_nested_include_and_include_tag(tmp_path: Path) -> None:
    _write(tmp_path / "label.yaml", "requestMemory: 10\nqueue: q\n")
    _write(tmp_path / "sub" / "tagged.yaml", "a: 1\nb: !include ../leaf.yaml\n")
    _write(tmp_path / "leaf.yaml", "- x\n- y\n")
    main = _write(
        tmp_path / "main.yaml",
        "pipetask:\n  isr:\n    includeConfigs: ${PC_TEST_DIR}/label.yaml\n    queue: mine\n"
        "tagged: !include sub/tagged.yaml\n",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PC_TEST_DIR", str(tmp_path))
        config = load_config(str(main))
    isr = {"curvals": {"curr_pipetask": "isr"}}
    assert config.search("requestMemory", isr) == (True, 10)
    assert config.search("queue", isr) == (True, "mine")
    assert config["tagged"].to_dict() == {"a": 1, "b": ["x", "y"]}


def test_json_and_empty_files(tmp_path: Path) -> None:
    _write(tmp_path / "empty.yaml", "")
    main = _write(tmp_path / "c.json", json.dumps({"includeConfigs": "empty.yaml", "vo": "j"}))
    config = load_config(main)
    assert config["vo"] == "j" and config.to_dict()["site"] == {}


def test_uri_loading(tmp_path: Path) -> None:
    resources = pytest.importorskip("lsst.resources")
    _write(tmp_path / "inc.yaml", "vo: from_include\n")
    main = _write(tmp_path / "main.yaml", "includeConfigs: [inc.yaml]\ncomputeSite: S\n")
    for source in (main.as_uri(), resources.ResourcePath(str(main))):
        config = load_config(source)
        assert config["vo"] == "from_include" and config["computeSite"] == "S"


def _subset_differences(ours: Any, theirs: Any, where: str = "") -> list[str]:
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{where}: a section here, {theirs!r} in ctrl_bps"]
        return [d for k, v in ours.items() for d in _subset_differences(v, theirs.get(k), f"{where}.{k}")]
    return [] if ours == theirs else [f"{where}: {ours!r} here, {theirs!r} in ctrl_bps"]


def test_shipped_bps_defaults_are_ctrl_bps_values() -> None:
    """compiler/data/bps_defaults.yaml holds ctrl_bps's own values for the keys it has."""
    bps_config = pytest.importorskip("lsst.ctrl.bps.bps_config")
    ours = load_config(BUNDLED.parent / "bps_defaults.yaml").to_dict()
    for section in SEARCH_ORDER:
        ours.pop(section, None) if ours.get(section) == {} else None
    assert _subset_differences(ours, bps_config.BPS_DEFAULTS) == []


def test_bundled_defaults() -> None:
    defaults = bundled_defaults()
    assert defaults is bundled_defaults() and as_config(None) is defaults
    names = [Path(p).name for p in defaults.paths]
    assert names == ["bps_defaults.yaml", "bps_panda.yaml", "generic_site.yaml"]
    assert defaults["wmsServiceClass"] == "lsst.ctrl.bps.panda.PanDAService"
    assert defaults["placeholderParams"] == ["qgraphNodeId", "qgraphId"]
    assert defaults["maxJobsPerTask"] == 10000
    assert defaults["prodSourceLabel"] == "managed" and defaults["priority"] == 500
    runner = defaults.search("runnerCommand", RUNNER_OPT)[1]
    # the generic runner: a log folder in the job's folder, the stock decoder run directly
    assert runner.startswith("logDir=${PWD}/panda_logs; mkdir -p ${logDir};")
    assert runner.endswith("exit $retStat\n")
    assert "/cmd_line_decoder.py _cmd_line_; retStat=$?" in runner
    assert "export RUBIN_ES_MAP_FILE=orderIdMapFilename;" in defaults.search("payloadCommand", RUNNER_OPT)[1]
    assert "computeSite" not in defaults and defaults["fileDistributionEndPoint"] == ""
    assert defaults.search("finalJob")[1]["requestMemory"] == 32768  # ctrl_bps's section


def test_as_config(tmp_path: Path) -> None:
    class Duck:
        def search(self, key: str, opt: dict[str, Any] | None = None) -> tuple[bool, Any]:
            return True, key

    duck = Duck()
    assert as_config(duck) is duck
    wrapped = as_config({"vo": "v", "site": {"S": {"vo": "w"}}})
    assert isinstance(wrapped, BpsYamlConfig) and wrapped["vo"] == "v"
    assert as_config(DATA / "env_vars.yaml")["siteBase"] == "SITE"
    assert as_config(str(DATA / "env_vars.yaml"))["siteBase"] == "SITE"
    with pytest.raises(ConfigError, match="int"):
        as_config(3)


# ---------------------------------------------------------------------------------------
# Errors: one line naming the file and the key
# ---------------------------------------------------------------------------------------


def test_missing_include_names_file_and_include(tmp_path: Path) -> None:
    main = _write(tmp_path / "main.yaml", "includeConfigs:\n  - nowhere/missing.yaml\n")
    with pytest.raises(ConfigError, match=r"main\.yaml: include file 'nowhere/missing\.yaml' not found"):
        load_config(main)
    absolute = _write(tmp_path / "abs.yaml", f"includeConfigs: {tmp_path}/gone.yaml\n")
    with pytest.raises(ConfigError, match=r"gone\.yaml: config file not found"):
        load_config(absolute)


def test_missing_or_unsupported_main_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothere\.yaml: config file not found"):
        load_config(tmp_path / "nothere.yaml")
    with pytest.raises(ConfigError, match=r"conf\.txt: config files must end in \.yaml or \.json"):
        load_config(_write(tmp_path / "conf.txt", "a: 1\n"))


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path / "bad.yaml", "a: 1\nb: [unclosed\nc: 3\n")
    main = _write(tmp_path / "main.yaml", "includeConfigs: bad.yaml\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: YAML syntax error") as info:
        load_config(main)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"list\.yaml: top level must be a mapping"):
        load_config(_write(tmp_path / "list.yaml", "- a\n"))


def test_include_cycle(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "includeConfigs: b.yaml\n")
    _write(tmp_path / "b.yaml", "includeConfigs: [a.yaml]\n")
    with pytest.raises(ConfigError, match=r"include cycle .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_config(tmp_path / "a.yaml")
    _write(tmp_path / "self.yaml", "x: !include self.yaml\n")
    with pytest.raises(ConfigError, match=r"include cycle .*self\.yaml -> .*self\.yaml"):
        load_config(tmp_path / "self.yaml")


def test_variable_errors() -> None:
    config = BpsYamlConfig(
        {"a": "{b}", "b": "x{a}", "brace": "echo } {", "awk": "awk '{print $1}'", "site": {"S": {"p": 1}}},
        paths=["v.yaml"],
    )
    with pytest.raises(ConfigError, match=r"v\.yaml: variable cycle a -> b -> a"):
        config.search("a")
    with pytest.raises(ConfigError, match=r"v\.yaml: key 'brace': cannot substitute"):
        config.search("brace")
    assert config.search("brace", {"replaceVars": False}) == (True, "echo } {")
    assert config["awk"] == "awk ''"  # as in BPS: {print $1} is a (missing) variable
    bad_label = BpsYamlConfig({"pipetask": {"isr": 5}}, paths=["l.yaml"])
    with pytest.raises(ConfigError, match=r"l\.yaml: 'pipetask\.isr' must be a mapping"):
        bad_label.search("x", {"curvals": {"curr_pipetask": "isr"}})
    with pytest.raises(ConfigError, match=r"s\.yaml: section 'site' must be a mapping"):
        BpsYamlConfig({"site": "S"}, paths=["s.yaml"])
