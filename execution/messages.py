"""The messages rayarb's parts exchange: commands (imperative) and events (past tense).

Every message is a frozen, slotted, keyword-only dataclass that carries its ids (``client_order_id``, the exchange's
order id when known, the arbitrage ``opportunity_id`` when there is one) and two timestamps, both wall-clock seconds
(``time.time()``): ``ts_event`` when the thing happened (at the venue when it says so) and ``ts_init`` when this object
was made. Messages check their own money fields: amounts and prices are finite Decimals, never floats.

Order events are what ``order_manager.Order.apply`` consumes; ``FillApplied`` goes to the position tracker;
``BookUpdated`` and ``ArbitrageDetected`` are the hot path from the exchange connections to the detector and on;
``BookPush`` is what an exchange actor pushes to its subscribers, ``SubmitOutcome`` what it answers to ``SubmitOrder``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from execution.types import Fill, FloatBook, OrderBook, OrderSnapshot, OrderStatus, OrderType, Side, TimeInForce


def _now() -> float:
    return time.time()


def _check_decimal(owner: object, name: str, value: object, *, positive: bool = True, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or (positive and value <= 0) or value < 0:
        raise ValueError(f"{type(owner).__name__}.{name} must be a finite {'positive ' if positive else ''}Decimal, "
                         f"got {value!r}")


# --- commands ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOrder:
    """Place this order at ``exchange``. ``price`` is None only for a market order without a reference price.
    ``expires_at`` (wall clock, seconds): the request must not leave after it; the exchange actor refuses it then
    (``SendDeadlinePassed``, nothing sent): a leg held by a restart or a queue is stale by the time it could go."""

    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    time_in_force: TimeInForce = TimeInForce.GTC
    opportunity_id: str | None = None
    ts_init: float = field(default_factory=_now)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        _check_decimal(self, "amount", self.amount)
        _check_decimal(self, "price", self.price, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    """Cancel the order with this client order id (and exchange order id when known)."""

    client_order_id: str
    exchange: str
    symbol: str
    exchange_order_id: str | None = None
    opportunity_id: str | None = None
    ts_init: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryOrder:
    """Ask the venue for the order with this client order id (and exchange order id when known)."""

    client_order_id: str
    exchange: str
    symbol: str
    exchange_order_id: str | None = None
    ts_init: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """The exchange actor's answer to ``SubmitOrder``: the order as the venue answered, and when (wall clock)."""

    snapshot: OrderSnapshot
    sent_at: float  # wall clock when the signed order request went to the kernel (to aiohttp, for other venues)
    acked_at: float
    started_at: float  # wall clock when the exchange actor began placing it (ccxt then builds and signs the request)


# --- order events ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """Fields every order event has."""

    client_order_id: str
    exchange: str
    symbol: str
    exchange_order_id: str | None = None
    opportunity_id: str | None = None
    ts_event: float = field(default_factory=_now)
    ts_init: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderInitialized(OrderEvent):
    """An order was created locally and journaled; nothing has been sent."""

    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    time_in_force: TimeInForce = TimeInForce.GTC

    def __post_init__(self) -> None:
        _check_decimal(self, "amount", self.amount)
        _check_decimal(self, "price", self.price, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDenied(OrderEvent):
    """The order was refused locally before any I/O (validation, risk). ``field`` names the offending input."""

    reason: str
    field: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(OrderEvent):
    """The order request is about to go / went to the venue; its outcome is not known yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(OrderEvent):
    """The venue acknowledged the order and gave it ``exchange_order_id``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(OrderEvent):
    """The venue definitely refused the order (a 4xx with a reason)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(OrderEvent):
    """One trade of the order. ``fill.trade_id`` identifies it; a repeated trade id is ignored."""

    fill: Fill

    @classmethod
    def from_fill(cls, fill: Fill, *, opportunity_id: str | None = None, ts_init: float | None = None) -> "OrderFilled":
        return cls(client_order_id=fill.client_order_id, exchange=fill.exchange, symbol=fill.symbol,
                   exchange_order_id=fill.exchange_order_id, opportunity_id=opportunity_id,
                   ts_event=fill.ts_ms / 1000.0, ts_init=_now() if ts_init is None else ts_init, fill=fill)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPendingCancel(OrderEvent):
    """A cancel request for the order was sent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelRejected(OrderEvent):
    """The venue refused the cancel (the order is still working, or already done)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled(OrderEvent):
    """The venue canceled the order (its remainder, when partly filled)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(OrderEvent):
    """The order expired: IOC/FOK remainder at the venue, or locally when its resubmission TTL passed."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated(OrderEvent):
    """The venue reported the order's status (a query or reconciliation answer); ``filled`` is cumulative."""

    status: OrderStatus
    filled: Decimal | None = None

    def __post_init__(self) -> None:
        if self.status in (OrderStatus.INITIALIZED, OrderStatus.DENIED, OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
            raise ValueError(f"OrderUpdated: a venue cannot report status {self.status.value}")
        _check_decimal(self, "filled", self.filled, positive=False, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusUnknown(OrderEvent):
    """The order's fate cannot be known yet (timeout, network error, 5xx after sending): reconcile by client id.
    ``not_found``: a lookup by client order id did not find it (counted; believed only after several misses)."""

    reason: str
    not_found: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FillApplied:
    """A new (not duplicate) fill was journaled and applied to its order; the position tracker consumes it."""

    fill: Fill
    order_status: OrderStatus
    opportunity_id: str | None = None
    ts_event: float = field(default_factory=_now)
    ts_init: float = field(default_factory=_now)

    @property
    def client_order_id(self) -> str:
        return self.fill.client_order_id

    @property
    def exchange_order_id(self) -> str | None:
        return self.fill.exchange_order_id


# --- market data and opportunities --------------------------------------------------------------------------------

# A venue's free balances by asset, as an exchange actor pushes them beside its books: ("balances", venue, free).
BalancesPushed = tuple[Literal["balances"], str, dict[str, Decimal]]
BookPush = FloatBook | BalancesPushed  # what an exchange actor pushes to a subscriber's ``on_book``


@dataclass(frozen=True, slots=True, kw_only=True)
class BookUpdated:
    """A new order book for (exchange, symbol). ``ts_event`` is the venue's time when given, else receipt time."""

    book: OrderBook
    ts_event: float
    ts_init: float = field(default_factory=_now)

    @classmethod
    def of(cls, book: OrderBook, ts_init: float | None = None) -> "BookUpdated":
        ts_event = book.exchange_ts_ms / 1000.0 if book.exchange_ts_ms is not None else book.received_at
        return cls(book=book, ts_event=ts_event, ts_init=_now() if ts_init is None else ts_init)

    @property
    def exchange(self) -> str:
        return self.book.exchange

    @property
    def symbol(self) -> str:
        return self.book.symbol


@dataclass(frozen=True, slots=True, kw_only=True)
class ArbitrageDetected:
    """Buy ``amount`` of ``symbol`` at ``buy_exchange`` at most ``buy_price`` and sell it at ``sell_exchange`` at least
    ``sell_price``, expecting ``expected_profit`` in the quote currency after fees. ``*_book_received_at`` are the local
    receipt times of the two books the decision used (for tick-to-order latency)."""

    opportunity_id: str
    symbol: str
    buy_exchange: str
    sell_exchange: str
    amount: Decimal
    buy_price: Decimal
    sell_price: Decimal
    expected_profit: Decimal
    detected_at: float
    buy_book_received_at: float
    sell_book_received_at: float
    ts_event: float = field(default_factory=_now)
    ts_init: float = field(default_factory=_now)

    def __post_init__(self) -> None:
        _check_decimal(self, "amount", self.amount)
        _check_decimal(self, "buy_price", self.buy_price)
        _check_decimal(self, "sell_price", self.sell_price)
        if not isinstance(self.expected_profit, Decimal) or not self.expected_profit.is_finite():
            raise ValueError(f"ArbitrageDetected.expected_profit must be a finite Decimal, got {self.expected_profit!r}")
        if self.buy_exchange == self.sell_exchange:
            raise ValueError(f"ArbitrageDetected {self.opportunity_id}: buy and sell venue are both {self.buy_exchange}")

    @property
    def book_received_at(self) -> float:
        """The newer of the two books' receipt times: the update that triggered the decision (tick-to-order)."""
        return max(self.buy_book_received_at, self.sell_book_received_at)


ORDER_EVENTS = (OrderInitialized, OrderDenied, OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
                OrderPendingCancel, OrderCancelRejected, OrderCanceled, OrderExpired, OrderUpdated,
                OrderStatusUnknown)
