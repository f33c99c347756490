"""Tests of the workflow loader (`compiler.load`)."""
