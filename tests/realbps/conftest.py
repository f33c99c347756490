"""A real BPS case, made once per session: butler repo, `pipetask qgraph`, BPS prepare.

Built by tests/realbps/make_case.py in its own process (about 15-25 s on the 2-core
machine). Skips where the LSST stack parts are not installed (the no-LSST install).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@dataclass(frozen=True)
class RealCase:
    """Where the pieces of the case are."""

    root: Path
    submit_dir: Path  # BPS's submit folder: the pickle, the expanded config, panda/

    @property
    def pickle(self) -> Path:
        return self.submit_dir / "bps_generic_workflow.pickle"

    @property
    def raw_yaml(self) -> Path:
        """The operator's submit YAML, as given to BPS."""
        return self.root / "submit.yaml"

    @property
    def expanded_yaml(self) -> Path:
        """The config BPS expanded and saved (``<uniqProcName>_config.yaml``)."""
        (found,) = self.submit_dir.glob("*_config.yaml")
        return found

    @property
    def bps_outdir(self) -> Path:
        """What BPS's prepare with compiler.PanDAService wrote."""
        return self.submit_dir / "panda"

    @property
    def repo(self) -> Path:
        return self.root / "repo"


@pytest.fixture(scope="session")
def real_case(tmp_path_factory: pytest.TempPathFactory) -> RealCase:
    for module in ("lsst.ctrl.bps", "lsst.ctrl.mpexec", "lsst.pipe.base", "lsst.daf.butler"):
        pytest.importorskip(module)
    root = tmp_path_factory.mktemp("realbps")
    done = subprocess.run(
        [sys.executable, str(HERE / "make_case.py"), str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return RealCase(root, Path(done.stdout.strip().splitlines()[-1]))
