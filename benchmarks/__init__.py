"""Benchmarks: printed numbers, never asserted in tests."""
