"""job-names: the name each job carries in dependency maps, when it is not its pseudo-input.

Two config switches shorten the names iDDS stores (pseudo-inputs can be thousands of
characters):

* `enableJobNameMap` (implied by `enableEventService`): `<label>:orderIdMap_<order id>`;
  the map from those ids back to pseudo-inputs is written to the order-id map file;
* `enableQnodeMap`: `PH:<job name>`, mapped back in `qnode_map.json`.

The job-name map wins when both are on, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir import Workflow


@dataclass(frozen=True)
class JobNames:
    """Per-job dependency-map names."""

    name: ClassVar[str] = "job-names"
    description: ClassVar[str] = "short job names for enableJobNameMap / enableQnodeMap"

    def run(self, wf: Workflow) -> Workflow:
        payload = wf.options.payload
        assert wf.graph is not None and wf.order_ids is not None
        jobs, order_ids = wf.graph.jobs, wf.order_ids
        if payload.job_name_map:
            names = tuple(f"{job.label}:orderIdMap_{order_ids[j]}" for j, job in enumerate(jobs))
        elif payload.qnode_map:
            names = tuple("PH:" + job.name for job in jobs)
        else:
            return wf.replace(entry_names=None)
        return wf.replace(entry_names=names)
