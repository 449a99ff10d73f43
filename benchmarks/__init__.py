"""Benchmarks of rayarb (run as modules, e.g. ``python -m benchmarks.bench_venue_orders``); not tests."""
