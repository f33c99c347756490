"""Bundled Jinja templates (shipped as compiler.templates)."""
