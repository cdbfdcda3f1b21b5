"""Benchmark harness for the blur job (not shipped to workers): `python -m bench.run_bench`."""
