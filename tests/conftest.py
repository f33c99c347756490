"""Shared fixtures: the benchmarks' workflow generator and the reference plugin harness.

The reference plugin (lsst-ctrl-bps-panda) and lsst-ctrl-bps come with the `test` extra;
tests that need them skip cleanly where they are absent (the no-LSST install check).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

SUBMIT_EXAMPLE = BENCHMARKS / "submit-example.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from current output.")


@pytest.fixture(scope="session")
def reference():
    """The reference harness module (benchmarks/reference_prepare.py), env prepared."""
    pytest.importorskip("lsst.ctrl.bps")
    import reference_prepare

    reference_prepare.ensure_reference_env()
    pytest.importorskip("lsst.ctrl.bps.panda")
    return reference_prepare


@pytest.fixture(scope="session")
def workflows():
    """The realistic GenericWorkflow generator (benchmarks/workflows.py)."""
    pytest.importorskip("lsst.ctrl.bps")
    import workflows as module

    return module
