"""Hardening (issue 8, parts 2, 4, 5): hostile pickles and configs give one line, exit 1.

Each test is one bullet of the issue's "Why" and failed on the main before the fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cmdline import PARAM_PATTERN, command_params
from tests.load import craft

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "drp-small" / "submit.yaml"


def _workflow():
    gw = craft.small_workflow()
    for name in list(gw.nodes):
        job = gw.get_job(name)
        if hasattr(job, "nodes"):
            for inner in job.nodes:
                job.get_job(inner).cmdvals = {"qgraphFile": "q.qgraph"}
        elif hasattr(job, "cmdvals"):
            job.cmdvals = {"qgraphFile": "q.qgraph"}
    gw._final.cmdvals = {"qgraphFile": "q.qgraph"}
    return gw


def _compile(tmp_path: Path, gw, config: Path = CONFIG, *extra: str) -> subprocess.CompletedProcess[str]:
    pickle_path = tmp_path / "wf.pickle"
    pickle_path.write_bytes(craft.dumps(gw))
    cmd = [
        sys.executable,
        "-m",
        "compiler",
        str(pickle_path),
        "-c",
        str(config),
        "-o",
        str(tmp_path / "out"),
        "-q",
    ]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, cwd=tmp_path, timeout=60)


def _one_line_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


def _set(gw, field, value, job="isr_1"):
    setattr(gw.get_job(job), field, value)
    return gw


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("cmdvals", ["a"], ("isr_1", "cmdvals", "dict")),
        ("environment", ["a"], ("isr_1", "environment", "dict")),
        ("arguments", 5, ("isr_1", "arguments", "string")),
        ("arguments", ["x"], ("isr_1", "arguments", "string")),  # unhashable: found by the fuzz test
        ("label", "is\0r", ("isr_1", "label", "NUL")),
    ],
)
def test_wrong_typed_job_fields_are_one_line(tmp_path, field, value, words):
    _one_line_failure(_compile(tmp_path, _set(_workflow(), field, value)), *words)


def test_src_uri_not_a_string(tmp_path):
    gw = _set(_workflow(), "executable", craft.model.GenericWorkflowExec("x", 5, False))
    _one_line_failure(_compile(tmp_path, gw), "isr_1", "src_uri")


def test_final_job_not_a_job_and_run_attrs_not_a_dict(tmp_path):
    gw = _workflow()
    gw._final = "hello"
    _one_line_failure(_compile(tmp_path, gw), "final job")
    gw = _workflow()
    gw.run_attrs = [1, 2]
    _one_line_failure(_compile(tmp_path, gw), "run_attrs")


def test_workflow_name_with_nul_or_too_long(tmp_path):
    gw = _workflow()
    gw._name = "a\0b"
    _one_line_failure(_compile(tmp_path, gw), "name", "NUL")
    gw._name = "a" * 10_001
    _one_line_failure(_compile(tmp_path, gw), "name", "MAX_NAME_CHARS")


def test_cmdvals_shared_dag_refused_before_building_text(tmp_path):
    value = ["y"]
    for _ in range(30):
        value = [value, value]
    gw = _set(_workflow(), "cmdvals", {"qgraphFile": value})
    _one_line_failure(_compile(tmp_path, gw), "isr_1", "qgraphFile", "MAX_VALUE_CHARS")


def test_environment_format_width_bomb(tmp_path):
    gw = _set(_workflow(), "environment", {"A": "{x:>900000000}"})
    gw.get_job("isr_1").cmdvals = {"x": 1, "qgraphFile": "q"}
    _one_line_failure(_compile(tmp_path, gw), "isr_1", "MAX_FORMAT_WIDTH")


def test_brace_template_is_linear():
    assert command_params("{" * 100_000) == ()
    for text in ["/bin/x ${HOME} {a} -x{b}", "/bin/x {a}{b}", "x{}{a}", "x{{a}", "$${a}b{c}"]:
        assert command_params(text) == tuple(dict.fromkeys(m.group(1) for m in PARAM_PATTERN.finditer(text)))


def test_label_is_never_evaluated(tmp_path):
    label = 'bpsEval(os.system, "touch PWNED")'
    gw = _workflow()
    for name in ("isr_1", "isr_2"):
        gw.get_job(name).label = label
    gw._job_labels._label_to_jobs[label] = gw._job_labels._label_to_jobs.pop("isr")
    config = tmp_path / "evil.yaml"
    config.write_text(f"includeConfigs: [{CONFIG}]\nprocessingType: 'p_{{curr_pipetask}}'\n")
    _compile(tmp_path, gw, config)
    assert not (tmp_path / "PWNED").exists()


def test_bps_eval_refused_unless_opted_in(tmp_path):
    config = tmp_path / "eval.yaml"
    config.write_text(f"includeConfigs: [{CONFIG}]\nprocessingType: 'bpsEval(len, \"abc\")'\n")
    _one_line_failure(_compile(tmp_path, _workflow(), config), "bpsEval", "processingType", str(config))
    assert _compile(tmp_path, _workflow(), config, "--allow-bps-eval", "--force").returncode == 0
    config.write_text(config.read_text() + "pandaCompileAllowBpsEval: true\n")
    assert _compile(tmp_path, _workflow(), config, "--force").returncode == 0


def test_yaml_billion_laughs_and_device_include(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    _one_line_failure(_compile(tmp_path, _workflow(), bomb), "MAX_CONFIG_NODES")
    zero = tmp_path / "zero.yaml"
    zero.write_text("a: !include /dev/zero\n")
    _one_line_failure(_compile(tmp_path, _workflow(), zero), "/dev/zero", "regular file")


def test_config_doubling_is_bounded(tmp_path):
    lines = [f"v{i}: '{{v{i + 1}}}{{v{i + 1}}}'" for i in range(20)] + ["v20: x", "processingType: '{v0}'"]
    config = tmp_path / "double.yaml"
    config.write_text(f"includeConfigs: [{CONFIG}]\n" + "\n".join(lines) + "\n")
    _one_line_failure(_compile(tmp_path, _workflow(), config), "MAX_CONFIG_EXPANSIONS")


def test_template_sandbox(tmp_path):
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "summary.md.j2").write_text('{{ cycler.__init__.__globals__.os.system("touch PWNED") }}\n')
    result = _compile(tmp_path, _workflow(), CONFIG, "--templates", str(folder))
    _one_line_failure(result, "summary.md.j2", "sandbox")
    assert not (tmp_path / "PWNED").exists()
