"""rayarb's execution domain: pure logic, unit-tested without Ray or network.

What lives here: value types (``types``), commands and events (``messages``), the one Decimal coercion and the
price/amount errors (``money``), the order lifecycle, validation and reconciliation (``orders/``, re-exported by
``order_manager``), the arbitrage maths and execution (``arbitrage/``, re-exported by ``arbitrage_executor``), the
write-ahead journal (``journal``), the error tree and ``log_and_retry`` (``error_handler``), logging with redaction
(``log``), risk and positions, and ``api/`` — the only place that imports ccxt. Nothing here imports ray or
prometheus_client.

The names below are re-exported lazily, so ``import execution.types`` stays cheap (no ccxt import).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OrderManager": "execution.orders.manager",
    "Order": "execution.orders.lifecycle",
    "OrderValidationError": "execution.orders.validation",
    "IllegalTransition": "execution.orders.lifecycle",
    "Journal": "execution.journal",
    "RayarbError": "execution.error_handler",
    "RetryableError": "execution.error_handler",
    "FatalError": "execution.error_handler",
    "AmbiguousOrderError": "execution.error_handler",
    "log_and_retry": "execution.error_handler",
    "get_logger": "execution.log",
    "configure_logging": "execution.log",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'execution' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
