"""Benchmarks that print figures, never assertions: `python -m tests.benchmarks`."""
