"""Operator tools: read (and later run or draw) a compiled OUTDIR without recompiling.

They sit above ``emit`` (they read what it wrote) and below ``runtime``, which runs
``check`` before every submission; so nothing here imports ``compiler.runtime``.
"""
