"""Integration tests against a real iDDS REST server on 127.0.0.1."""
