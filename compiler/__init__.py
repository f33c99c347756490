"""panda-compile: compile LSST BPS GenericWorkflows into PanDA/iDDS submissions.

The public names are imported on first use, so `import compiler` (and the CLI's start-up)
does not pay for networkx, jinja2 or jsonschema until they are needed.
"""

from __future__ import annotations

import importlib
from typing import Any

# The one place the version is written: pyproject.toml reads it from here at build time.
__version__ = "0.1.0"

_PUBLIC = {
    "Compiled": "api",
    "compile_workflow": "api",
    "write_outdir": "api",
    "load_generic_workflow": "load",
    "PanDAService": "plugin",
    "CompileError": "errors",
    "ConfigError": "errors",
    "LoadError": "errors",
    "PassError": "errors",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'compiler' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
