"""The names other code imported from ``simulator.engine`` before the simulator split into a dialect-free core
(``simulator.core``) and dialect front-ends (``simulator.binance``, ``simulator.okx``).

``VenueEngine`` is the Binance-dialect engine (``simulator.binance.engine.BinanceEngine``): its REST handlers take
Binance's parameters. New code imports from ``simulator.core.engine`` (dialect-free) or a dialect's package.
"""
from __future__ import annotations

from simulator.binance.engine import BinanceEngine, BinanceError, fmt
from simulator.core.book import (
    BUY, CANCELED, EXPIRED, FILLED, FOK, GTC, IOC, LIMIT, LIMIT_MAKER, MARKET, MARKET_MAKER_NAME, NEW, OPEN_STATUSES,
    PARTIALLY_FILLED, SELL, Account, Balance, BookSide, Order, PriceLevel, SymbolBook, Trade,
)
from simulator.core.engine import DepthChange, Engine, Refusal

VenueEngine = BinanceEngine

__all__ = [
    "BUY", "CANCELED", "EXPIRED", "FILLED", "FOK", "GTC", "IOC", "LIMIT", "LIMIT_MAKER", "MARKET", "MARKET_MAKER_NAME",
    "NEW", "OPEN_STATUSES", "PARTIALLY_FILLED", "SELL", "Account", "Balance", "BinanceEngine", "BinanceError",
    "BookSide", "DepthChange", "Engine", "Order", "PriceLevel", "Refusal", "SymbolBook", "Trade", "VenueEngine", "fmt",
]
