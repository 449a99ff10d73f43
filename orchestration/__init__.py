"""Orchestration: the run config, the `rayarb` CLI, starting or joining Ray, and the run report and live status."""
