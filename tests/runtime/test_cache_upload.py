"""`compiler.runtime.cache_upload`: answers, retries and refusals of the PanDA cache upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compiler.runtime.cache_upload import upload_archive
from compiler.runtime.errors import Failure, RuntimeServiceError
from compiler.runtime.retry import RetryPolicy

ENTRY = {"file": "jobO.x.tar.gz", "size": 10}
ENV = {"PANDACACHE_URL": "https://cache.test/server/panda/"}
FAST = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.02, budget=5.0, call_timeout=5.0)


def answers(*replies: tuple[int, Any]):
    calls: list[str] = []
    queue = list(replies)

    def put(path: str) -> tuple[int, Any]:
        calls.append(path)
        return queue.pop(0)

    return put, calls


def test_success_gives_the_cache_url(tmp_path: Path) -> None:
    put, calls = answers((0, "True"))
    url = upload_archive(tmp_path, ENTRY, FAST, put=put, environ=ENV)
    assert url == "https://cache.test/server/panda/cache/jobO.x.tar.gz"
    assert calls == [str(tmp_path / "jobO.x.tar.gz")]


def test_an_identical_file_in_the_cache_is_reused(tmp_path: Path) -> None:
    put, _ = answers((0, "NewFileName:jobO.older.tar.gz"))
    assert upload_archive(tmp_path, ENTRY, FAST, put=put, environ=ENV).endswith("/cache/jobO.older.tar.gz")


def test_transient_failures_are_retried_within_the_policy(tmp_path: Path) -> None:
    put, calls = answers((1, "connection refused"), (503, "busy"), (0, "True"))
    assert upload_archive(tmp_path, ENTRY, FAST, put=put, environ=ENV).endswith("jobO.x.tar.gz")
    assert len(calls) == 3
    put, calls = answers((503, "busy"), (503, "busy"), (503, "busy"), (0, "True"))
    with pytest.raises(RuntimeServiceError, match=r"failed after 3 attempts .*status 503.*nothing submitted"):
        upload_archive(tmp_path, ENTRY, FAST, put=put, environ=ENV)
    assert len(calls) == 3  # bounded: the reference would loop for ever


@pytest.mark.parametrize(
    ("reply", "kind"), [((403, "forbidden"), Failure.AUTH), ((400, "bad"), Failure.REJECTED)]
)
def test_refusals_stop_at_once(tmp_path: Path, reply: tuple[int, str], kind: Failure) -> None:
    put, calls = answers(reply, (0, "True"))
    with pytest.raises(RuntimeServiceError) as caught:
        upload_archive(tmp_path, ENTRY, FAST, put=put, environ=ENV)
    assert caught.value.kind is kind and len(calls) == 1


def test_a_negative_answer_is_a_refusal(tmp_path: Path) -> None:
    put, calls = answers((0, "False"), (0, "True"))
    with pytest.raises(RuntimeServiceError, match="refused: False; nothing submitted"):
        upload_archive(tmp_path, ENTRY, FAST, put=put, environ=ENV)
    assert len(calls) == 1


def test_no_cache_url_is_one_line(tmp_path: Path) -> None:
    put, calls = answers((0, "True"))
    with pytest.raises(RuntimeServiceError, match="PANDACACHE_URL is not set") as caught:
        upload_archive(tmp_path, ENTRY, FAST, put=put, environ={})
    assert caught.value.kind is Failure.CONFIG and calls == []
