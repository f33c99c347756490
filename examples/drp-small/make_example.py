"""Regenerate this example: a small DRP-shaped GenericWorkflow made with real ctrl_bps.

Run from the repository root with lsst-ctrl-bps installed (the `test` extra):

    python examples/drp-small/make_example.py

It writes `bps_generic_workflow.pickle` here, the way `bps transform` saves one.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "benchmarks"))

from workflows import make_workflow  # noqa: E402


def main() -> None:
    gw = make_workflow(200, seed=7, name="u_someone_DRP_20250601T000000Z")
    with open(HERE / "bps_generic_workflow.pickle", "wb") as fh:
        pickle.dump(gw, fh, pickle.HIGHEST_PROTOCOL)
    print(f"wrote {len(gw)} jobs to {HERE / 'bps_generic_workflow.pickle'}")


if __name__ == "__main__":
    main()
