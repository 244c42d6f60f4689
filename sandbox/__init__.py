"""Runnable simulators of the partners, with fault injection, for `make run`, tests and benchmarks."""
