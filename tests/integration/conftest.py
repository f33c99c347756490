"""Fixtures for tests against a real iDDS REST server on 127.0.0.1 (see ``idds_server.py``).

The server runs from its own cached venv (built on first use, ~20 s); if that cannot be
built (no package registry), the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# This process is an iDDS *client*; with idds-server installed alongside, idds would
# otherwise want a server config at import time.
os.environ.setdefault("IDDS_CLIENT_MODE", "1")
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import idds_server as server_module  # noqa: E402  (the path above makes it importable)
import outdir_factory  # noqa: E402


@pytest.fixture(scope="session")
def idds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server_module.IddsServer]:
    """One iDDS server for the session: ``url``, ``headers``, ``env``, ``stop()``, ``start()``.

    Tests may stop it; `live_idds` starts it again before the next test that needs it.
    """
    pytest.importorskip("idds.client.clientmanager")
    pytest.importorskip("idds.doma.workflowv2.domapandawork")
    try:
        python = server_module.server_python()
    except RuntimeError as exc:
        pytest.skip(f"no iDDS server interpreter: {exc}")
    server = server_module.IddsServer(tmp_path_factory.mktemp("idds-server"), python)
    atexit.register(server.stop)  # in case the session dies before the finaliser runs
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_idds(
    idds_server: server_module.IddsServer, monkeypatch: pytest.MonkeyPatch
) -> server_module.IddsServer:
    """The session server, running, with this process's environment set up as its client."""
    idds_server.start()
    for key, value in idds_server.env.items():
        monkeypatch.setenv(key, value)
    for key in ("IDDS_CONFIG", "PANDA_URL", "PANDA_URL_SSL"):
        monkeypatch.delenv(key, raising=False)
    return idds_server


@pytest.fixture(scope="session")
def factory_outdir(reference, workflows, tmp_path_factory: pytest.TempPathFactory):
    """(OUTDIR, reference summary) for ``make_workflow(300)``: 6 tasks, final task included."""
    return outdir_factory.reference_outdir(reference, workflows, tmp_path_factory.mktemp("factory"))


@pytest.fixture
def bps_report_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Make ``bps report`` print to this test's (captured) stdout.

    ``lsst.ctrl.bps.report.display_report`` binds ``file=sys.stdout`` when first imported:
    in whichever test did that, so a later test would print into a closed capture.
    """
    bps = pytest.importorskip("lsst.ctrl.bps")
    from lsst.ctrl.bps import drivers
    from lsst.ctrl.bps.report import display_report

    assert bps is not None

    def to_current_stdout(*args: Any, **kwargs: Any) -> Any:
        return display_report(*args, **{"file": sys.stdout, **kwargs})  # sys.stdout of the call

    monkeypatch.setattr(drivers, "display_report", to_current_stdout)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``integration`` marker (``-m "not integration"`` skips the server tests)."""
    config.addinivalue_line("markers", "integration: needs a real iDDS server on 127.0.0.1 (own venv)")


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A stand-in PanDA cache on 127.0.0.1, named by PANDA_URL_SSL and PANDACACHE_URL."""
    import pandaclient.Client
    from cache_stand_in import StandInCache

    for name in ("baseURLSSL", "server_base_path_ssl"):  # the upload sets them: restored afterwards
        monkeypatch.setattr(pandaclient.Client, name, getattr(pandaclient.Client, name))
    with StandInCache() as server:
        monkeypatch.setenv("PANDA_URL_SSL", server.url)
        monkeypatch.setenv("PANDACACHE_URL", server.url)
        yield server
