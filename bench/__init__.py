"""Benchmarks: each prints its figure, its baseline's from the same run, and a last line of JSON."""
