"""Loading of BPS `GenericWorkflow` pickles (`bps_generic_workflow.pickle`).

`load_generic_workflow` reads a pickle through an allow-listed unpickler onto the stand-in
classes of `compiler.load.model` (no lsst-ctrl-bps needed, no foreign code run);
`is_generic_workflow` recognises both those stand-ins and real ctrl_bps workflows, which the
compiler accepts as they are.
"""

from .model import NodeType, is_generic_workflow
from .unpickler import load_generic_workflow

__all__ = ["NodeType", "is_generic_workflow", "load_generic_workflow"]
