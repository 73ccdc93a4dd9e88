"""Benchmarks (not tests: no timing assertions anywhere; run them on a quiet machine and read the numbers)."""
