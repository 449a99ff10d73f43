"""The seed's module path for the order code, kept so every existing import keeps working: it only re-exports.

The code lives in ``execution/orders/`` (lifecycle, validation, ids, manager, reconcile); import from there in new
code.
"""
from __future__ import annotations

from execution.money import InvalidAmountError, InvalidPriceError
from execution.orders.ids import CLIENT_ORDER_ID_RE, ClientOrderIdFactory, is_valid_client_order_id
from execution.orders.lifecycle import (
    CANCELLABLE,
    LATE_FILLS,
    TERMINAL,
    TRANSITIONS,
    VENUE_STATUSES,
    IllegalTransition,
    Order,
    S,
)
from execution.orders.manager import (
    FINISHED_ORDERS_KEPT,
    Balances,
    ExchangeAdapter,
    NotCancellable,
    OrderManager,
    OrderNotTracked,
)
from execution.orders.reconcile import NOT_FOUND_REASON, ReconcileReport, ResubmitRefused
from execution.orders.validation import (
    AboveMaximumError,
    BelowMinimumError,
    BelowMinNotionalError,
    DuplicateClientOrderIdError,
    InsufficientBalanceError,
    InvalidClientOrderIdError,
    InvalidOrderTypeError,
    InvalidSideError,
    InvalidTimeInForceError,
    OffStepAmountError,
    OffTickPriceError,
    OrderValidationError,
    PriceOutOfRangeError,
    UnknownSymbolError,
    ValidOrder,
    round_to_market,
)

__all__ = [
    "AboveMaximumError", "Balances", "BelowMinNotionalError", "BelowMinimumError", "CANCELLABLE", "CLIENT_ORDER_ID_RE",
    "ClientOrderIdFactory", "DuplicateClientOrderIdError", "ExchangeAdapter", "FINISHED_ORDERS_KEPT",
    "IllegalTransition", "InsufficientBalanceError", "InvalidAmountError", "InvalidClientOrderIdError",
    "InvalidOrderTypeError", "InvalidPriceError", "InvalidSideError", "InvalidTimeInForceError", "LATE_FILLS",
    "NOT_FOUND_REASON", "NotCancellable", "OffStepAmountError", "OffTickPriceError", "Order", "OrderManager",
    "OrderNotTracked", "OrderValidationError", "PriceOutOfRangeError", "ReconcileReport", "ResubmitRefused", "S",
    "TERMINAL", "TRANSITIONS", "UnknownSymbolError", "VENUE_STATUSES", "ValidOrder", "is_valid_client_order_id",
    "round_to_market",
]
