"""Bundled JSON Schemas (shipped as compiler.schemas)."""
