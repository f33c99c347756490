"""Tests of the runtime side (iDDS client, staging) that need no server."""
