"""Benchmarks for Ringflow (run each module with ``python -m bench.<name>``)."""
