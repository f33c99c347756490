import binascii
import dataclasses

import pytest

from compiler.cmdline import (
    EmbedError,
    embed_static_values,
    environment_prefix,
    file_placeholder,
    wrap_for_decoder,
)
from compiler.errors import PassError
from compiler.ir import Command, Exec, File, JobAttrs, PayloadOptions
from compiler.passes.pipeline import run_pipeline
from tests.irbuild import ARGS, END_POINT, RUNNER, graph, job, workflow


def compile_(wf):
    return run_pipeline(wf).workflow


def test_executable_wraps_hex_command_for_decoder():
    wf = compile_(workflow(graph([job("a_1")], [])))
    (task,) = wf.tasks
    command = "/bin/pipetask run --qgraph-node-id {qgraphNodeId} --qgraph-id {qgraphId}"
    assert task.command_line == command
    hexed = binascii.hexlify(command.encode()).decode()
    assert task.work.executable == f"runner.sh {hexed} ${{IN/L}} {END_POINT}   cmdlineplaceholder"


def test_work_defaults_and_memory_retry():
    attrs = JobAttrs(request_memory=2048, memory_multiplier=2, priority="700", queue="q1")
    wf = compile_(workflow(graph([dataclasses.replace(job("a_1"), attrs=attrs)], [])))
    work = wf.tasks[0].work
    assert (work.task_rss, work.task_rss_retry_step, work.task_rss_retry_offset) == (2048, 4096, 0)
    assert (work.task_priority, work.task_queue, work.task_cloud, work.maxattempt) == (700, "q1", "US", 3)
    assert (work.task_rss_max, work.core_count, work.maxwalltime, work.vo) == (512000, 1, 90000, "wlcg")
    plain = compile_(workflow(graph([job("a_1")], []))).tasks[0].work
    assert (plain.task_rss, plain.task_rss_retry_step, plain.task_rss_retry_offset) == (1024, 0, 1024)


def test_event_service_walltime_rules():
    attrs = JobAttrs(request_walltime=1000)
    jobs = [dataclasses.replace(job(f"a_{i}"), attrs=attrs) for i in range(7)]
    payload = PayloadOptions(runner_command=RUNNER, event_service=(("a", 3),), job_name_map=True)
    wf = compile_(workflow(graph(jobs, []), payload=payload))
    work = wf.tasks[0].work
    assert (work.es, work.max_events_per_job, work.maxwalltime) == (True, 3, 3000)
    entries = list(wf.dependency_entries(wf.tasks[0]))
    assert [e["name"] for e in entries[:2]] == ["a:orderIdMap_0", "a:orderIdMap_1"]
    assert [(e["map_id"], e["sub_map_id"], e["es_name"]) for e in entries] == [
        (0, 0, "a:eventservice_0^3"),
        (0, 1, "a:eventservice_0^3"),
        (0, 2, "a:eventservice_0^3"),
        (1, 0, "a:eventservice_3^3"),
        (1, 1, "a:eventservice_3^3"),
        (1, 2, "a:eventservice_3^3"),
        (2, 0, "a:eventservice_6^1"),
    ]
    short = dataclasses.replace(payload, max_wms_job_walltime=1500)  # fits 1 job: ES is switched off
    work = compile_(workflow(graph(jobs, []), payload=short)).tasks[0].work
    assert (work.es, work.max_events_per_job, work.maxwalltime) == (False, 1, 1000)


def test_missing_runner_command_is_an_error():
    with pytest.raises(PassError, match=r"^command-lines: config key 'runnerCommand' is missing"):
        compile_(workflow(graph([job("a_1")], []), payload=PayloadOptions(runner_command=None)))


def test_file_placeholder_without_file_names_job():
    bad = dataclasses.replace(job("a_1"), command=Command.of(Exec("x", "/bin/x"), "<FILE:runQgraphFile>"))
    with pytest.raises(
        PassError, match=r"job 'a_1' \(label 'a'\): command line uses <FILE:runQgraphFile> but"
    ):
        compile_(workflow(graph([bad], [])))


def test_non_numeric_memory_names_job_and_key():
    bad = dataclasses.replace(job("a_1"), attrs=JobAttrs(request_memory="lots"))
    with pytest.raises(
        PassError, match=r"task-params: job 'a_1' \(label 'a'\): request_memory \(requestMemory\)"
    ):
        compile_(workflow(graph([bad], [])))


def test_environment_prefix_and_missing_value():
    assert environment_prefix({"A": "{x}/y", "B": 3}, {"x": "v"}) == "export A=v/y; export B=3; "
    with pytest.raises(EmbedError, match=r"environment variable A uses \{nope\}"):
        environment_prefix({"A": "{nope}"}, {})


def test_embed_static_values_keeps_placeholders_and_local_files():
    files = {
        "butlerConfig": File("butlerConfig", "s3://b/butler.yaml", job_access_remote=True),
        "runQgraphFile": File("runQgraphFile", "/q/x.qgraph", wms_transfer=True),
    }
    out = embed_static_values(
        "/bin/x <FILE:butlerConfig> <FILE:runQgraphFile> {qgraphNodeId} {label} <ENV:USER> <ENV:HOME>",
        {"qgraphNodeId": "n1", "label": "isr"},
        ("qgraphNodeId", "qgraphId"),
        (("USER", "me"),),
        files,
    )
    assert out == "/bin/x s3://b/butler.yaml <FILE:runQgraphFile> {qgraphNodeId} isr me <ENV:HOME>"


def test_file_placeholders_and_order_id_map_in_runner():
    assert file_placeholder("runQgraphFile", "/a/b.qgraph", isdir=lambda _: False) == "b.qgraph"
    assert file_placeholder("repo", "/a/repo/", isdir=lambda _: False) == "repo/"
    assert file_placeholder("butlerConfig", "/a/butler.yaml", isdir=lambda _: False) == "butler.yaml/"
    out = wrap_for_decoder(
        "export MAP=orderIdMapFilename;\nrun _cmd_line_",
        "cmd",
        "file:///dist",
        [("orderIdMapFilename", "/sub/ids.json"), ("q", "/x/q.qgraph")],
        ["q"],
        isdir=lambda _: False,
    )
    expected = "run 636d64 ${IN/L} file:///dist  orderIdMapFilename:ids.json+q:q.qgraph q"
    assert out == "export MAP=file:///dist/ids.json; " + expected


def test_task_files_and_final_task():
    exe = Exec("final.sh", "/s/final.sh", transfer=True)
    payload = PayloadOptions(runner_command=RUNNER, job_name_map=True, qnode_map=True)
    wf = workflow(graph([job("a_1")], []), final=True, payload=payload)
    wf = wf.replace(final_job=dataclasses.replace(wf.final_job, command=Command.of(exe, ARGS)))
    out = compile_(wf)
    assert out.tasks[0].files == (
        ("orderIdMapFilename", "/submit/panda_order_id_map.json"),
        ("qnodemap", "/submit/qnode_map.json"),
    )
    assert out.final_task.files == (("job_executable", "/s/final.sh"),)
    assert out.final_task.command_line.startswith("./final.sh ")
    assert out.final_task.work.processing_type is None and out.final_task.work.es_label is None
    assert dict(out.files_to_pre_stage) == {
        "orderIdMapFilename": "/submit/panda_order_id_map.json",
        "qnodemap": "/submit/qnode_map.json",
        "job_executable": "/s/final.sh",
    }
