"""Benchmark loads: the simulator's venues and symbols of a given size (``simulator.loads``), written as a
``rayarb sim`` config file and run in a subprocess (``start_venues``; ``simulator.launcher``).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from simulator.launcher import VenueProcess
from simulator.loads import sim_config, symbol_specs, unified_symbols, venue_names

__all__ = ["sim_config", "start_venues", "symbol_specs", "unified_symbols", "venue_names"]


def start_venues(directory: Path, venues: int, symbols: int, update_hz: float, *, seed: int = 21,
                 realtime_priority: int = 0, timeout_s: float = 120.0,
                 dialects: dict[str, str] | None = None) -> VenueProcess:
    """The venues running in a subprocess (stop it, or use it as a context manager)."""
    path = directory / f"sim-{venues}x{symbols}.yaml"
    config = sim_config(venues, symbols, update_hz, seed=seed, dialects=dialects)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = VenueProcess(None, config_path=path, seed=seed, realtime_priority=realtime_priority)
    process.start(timeout_s=timeout_s)
    return process
