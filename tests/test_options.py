import pytest

from compiler.config import BpsYamlConfig
from compiler.errors import ConfigError
from compiler.options import resolve_options

BASE = {"computeSite": "SITE", "runnerCommand": "run _cmd_line_", "fileDistributionEndPoint": "file:///d/"}


def options(**extra):
    return resolve_options(BpsYamlConfig({**BASE, **extra}), ["isr", "finalJob"])


def test_defaults_match_the_reference():
    opts = options(finalJob={"processingType": ""})
    assert opts.max_jobs_per_task == 30000
    assert opts.placeholder_params == ("qgraphNodeId", "qgraphId")
    assert opts.labels["isr"].task_type == "test" and opts.labels["isr"].vo == "wlcg"
    assert opts.labels["finalJob"].processing_type == "Rubin_Merge"
    assert opts.payload.order_id_map_file == "panda_order_id_map.json"
    assert not opts.payload.job_name_map and not opts.payload.qnode_map


def test_event_service_implies_job_name_map():
    opts = options(enableEventService="isr:4, calibrate", maxPayloadsPerPandaJob=7, finalJob={})
    assert opts.payload.event_service == (("isr", 4), ("calibrate", 7))
    assert opts.payload.job_name_map


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"maxJobsPerTask": 0}, "config key 'maxJobsPerTask' must be a positive integer, got 0"),
        ({"maxJobsPerTask": "many"}, "config key 'maxJobsPerTask' must be a positive integer"),
        ({"enableEventService": "isr:x"}, "config key 'enableEventService': 'isr:x' is not"),
        ({"placeholderParams": [1]}, "config key 'placeholderParams' must be a list of names"),
        (
            {"computeSite": ""},
            "config key 'computeSite' is required (for label 'isr'; its jobs have no compute_site)",
        ),
    ],
)
def test_bad_values_name_the_key(extra, message):
    with pytest.raises(ConfigError) as info:
        options(finalJob={}, **extra)
    assert message in str(info.value)


def test_final_job_section_is_required_for_a_final_job():
    with pytest.raises(ConfigError, match="config section 'finalJob' is missing"):
        options()


def test_submit_side_environment_is_captured(monkeypatch):
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("IDDS_MAX_NAME_LENGTH", "300")
    opts = options(finalJob={})
    assert opts.payload.submit_env == (("USER", "alice"),)
    assert opts.max_name_length == 300
    monkeypatch.setenv("IDDS_MAX_NAME_LENGTH", "x")
    with pytest.raises(ConfigError, match="IDDS_MAX_NAME_LENGTH"):
        options(finalJob={})
