"""Proving a version: its binary checked, run in the sandbox, and its behaviour cases in a real Envoy."""
