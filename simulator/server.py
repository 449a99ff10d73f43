"""The names other code imported from ``simulator.server`` before the simulator split into a dialect-free core
(``simulator.core.server``: transport, faults, ``/_sim/``, the market loop) and dialect front-ends.

``VenueServer`` here is the Binance-dialect server (``simulator.binance.server.BinanceServer``), as it always was;
the dialect-free base is ``simulator.core.server.VenueServer``.
"""
from __future__ import annotations

from simulator.binance.server import ApiError, BinanceServer
from simulator.core.server import dumps, error_response, json_response, run_market_loop

VenueServer = BinanceServer

__all__ = ["ApiError", "BinanceServer", "VenueServer", "dumps", "error_response", "json_response", "run_market_loop"]
