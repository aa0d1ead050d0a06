"""Benchmarks of the Clinic Meet HTTP API (run from the repository root)."""
