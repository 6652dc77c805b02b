"""Benchmarks: per-face latency and throughput of models (and of peer packages), and face-detector speed.
Measured on demand by scripts and the CLI, never asserted in timed unit tests."""
