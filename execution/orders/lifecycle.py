"""The order lifecycle: the one table of legal (from, to) status moves (``TRANSITIONS``, including what venues really
do: fills after a cancel, failed cancels, reconciliation of unknown orders, expiry by TTL), the named sets
(``TERMINAL``, ``CANCELLABLE``, ``VENUE_STATUSES``, ``LATE_FILLS``), and ``Order``, which changes only through
``Order.apply(event)``; an illegal move raises ``IllegalTransition`` and leaves the order as it was."""
from __future__ import annotations

import time
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable

from execution.error_handler import RayarbError
from execution.journal import JournaledOrder
from execution.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderUpdated,
    SubmitOrder,
)
from execution.types import ZERO, Fill, OrderStatus

S = OrderStatus

TERMINAL: frozenset[OrderStatus] = frozenset({S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})
CANCELLABLE: frozenset[OrderStatus] = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED})
# Statuses a venue can report for an order it knows (OrderUpdated); the others are rayarb's own.
VENUE_STATUSES: frozenset[OrderStatus] = frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL,
                                                    S.CANCELED, S.EXPIRED, S.REJECTED})

# The only ways out of a terminal status: a fill the venue reports after it canceled or expired the order
# (cancel/fill race, an IOC remainder expired before its trades were reported, an order expired locally by TTL that
# turns out to have traded).
LATE_FILLS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset({
    (S.CANCELED, S.PARTIALLY_FILLED), (S.CANCELED, S.FILLED),
    (S.EXPIRED, S.PARTIALLY_FILLED), (S.EXPIRED, S.FILLED),
})

TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset({
    (S.INITIALIZED, S.DENIED),
    (S.INITIALIZED, S.SUBMITTED),
    (S.SUBMITTED, S.ACCEPTED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.PARTIALLY_FILLED),  # IOC / taker orders answer with their fills
    (S.SUBMITTED, S.FILLED),
    (S.SUBMITTED, S.CANCELED),
    (S.SUBMITTED, S.EXPIRED),  # IOC/FOK with nothing filled
    (S.SUBMITTED, S.PENDING_CANCEL),  # cancel by client order id before the ack
    (S.SUBMITTED, S.UNKNOWN),  # timeout / network / 5xx while creating
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.PENDING_CANCEL),
    (S.ACCEPTED, S.CANCELED),  # canceled by the venue or another session
    (S.ACCEPTED, S.EXPIRED),
    (S.ACCEPTED, S.UNKNOWN),  # the venue no longer reports it
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.UNKNOWN),
    (S.PENDING_CANCEL, S.CANCELED),
    (S.PENDING_CANCEL, S.ACCEPTED),  # cancel failed, nothing filled
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED),  # cancel failed or raced a fill
    (S.PENDING_CANCEL, S.FILLED),
    (S.PENDING_CANCEL, S.EXPIRED),
    (S.PENDING_CANCEL, S.UNKNOWN),
    (S.UNKNOWN, S.ACCEPTED),  # found by client order id: adopted
    (S.UNKNOWN, S.PARTIALLY_FILLED),
    (S.UNKNOWN, S.FILLED),
    (S.UNKNOWN, S.REJECTED),
    (S.UNKNOWN, S.CANCELED),
    (S.UNKNOWN, S.PENDING_CANCEL),
    (S.UNKNOWN, S.EXPIRED),  # venue says expired, or not found and its resubmission TTL passed
    (S.UNKNOWN, S.SUBMITTED),  # proven absent (quarantined), re-sent with the SAME client order id within the TTL
}) | LATE_FILLS

_PROGRESS = {S.ACCEPTED: 0, S.PARTIALLY_FILLED: 1, S.FILLED: 2}


class IllegalTransition(RayarbError):
    """An event would move an order along a path the transition table does not have; the order is unchanged."""

    def __init__(self, client_order_id: str, from_status: OrderStatus, to_status: OrderStatus | None, event: str,
                 detail: str = "") -> None:
        target = to_status.value if to_status is not None else "?"
        super().__init__(f"order {client_order_id}: {event} cannot move {from_status.value} -> {target}"
                         + (f" ({detail})" if detail else ""), client_order_id=client_order_id)
        self.from_status = from_status
        self.to_status = to_status
        self.event = event


class Order:
    """One order as rayarb knows it. Read its attributes freely; change it only with ``apply(event)``."""

    __slots__ = ("client_order_id", "exchange", "symbol", "side", "order_type", "time_in_force", "amount", "price",
                 "opportunity_id", "created_at", "status", "exchange_order_id", "filled", "cost", "fees",
                 "reported_filled", "trade_ids", "reason", "not_found_count", "updated_at", "_frozen")

    def __init__(self, event: OrderInitialized) -> None:
        object.__setattr__(self, "_frozen", False)
        self.client_order_id = event.client_order_id
        self.exchange = event.exchange
        self.symbol = event.symbol
        self.side = event.side
        self.order_type = event.order_type
        self.time_in_force = event.time_in_force
        self.amount = event.amount
        self.price = event.price
        self.opportunity_id = event.opportunity_id
        self.created_at = event.ts_init
        self.status = S.INITIALIZED
        self.exchange_order_id = event.exchange_order_id
        self.filled = ZERO  # sum of the fills applied
        self.cost = ZERO  # sum of price * amount of the fills applied (quote)
        self.fees: Mapping[str, Decimal] = MappingProxyType({})  # fee asset -> total; read-only
        self.reported_filled = ZERO  # cumulative filled amount the venue last reported
        self.trade_ids: frozenset[str] = frozenset()
        self.reason: str | None = None
        self.not_found_count = 0
        self.updated_at = event.ts_init
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"Order {self.client_order_id} changes only through apply(event), not by setting "
                                 f"{name}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return (f"Order({self.client_order_id} {self.exchange} {self.symbol} {self.side.value} {self.amount}@"
                f"{self.price} {self.status.value} filled={self.filled})")

    @classmethod
    def restore(cls, row: JournaledOrder, fills: Iterable[Fill] = ()) -> "Order":
        """Rebuild an order from its journal row and journaled fills (after a restart)."""
        order = cls(OrderInitialized(client_order_id=row.client_order_id, exchange=row.exchange, symbol=row.symbol,
                                     exchange_order_id=row.exchange_order_id, opportunity_id=row.opportunity_id,
                                     ts_event=row.created_ts, ts_init=row.created_ts, side=row.side,
                                     order_type=row.order_type, amount=row.amount, price=row.price,
                                     time_in_force=row.time_in_force))
        fills = list(fills)
        fees: dict[str, Decimal] = {}
        for fill in fills:
            fees[fill.fee_asset] = fees.get(fill.fee_asset, ZERO) + fill.fee
        object.__setattr__(order, "status", row.status)
        object.__setattr__(order, "filled", sum((f.amount for f in fills), ZERO))
        object.__setattr__(order, "cost", sum((f.notional for f in fills), ZERO))
        object.__setattr__(order, "fees", MappingProxyType(fees))
        object.__setattr__(order, "reported_filled", row.filled)
        object.__setattr__(order, "trade_ids", frozenset(f.trade_id for f in fills))
        object.__setattr__(order, "reason", row.reason)
        object.__setattr__(order, "not_found_count", row.not_found_count)
        object.__setattr__(order, "updated_at", row.updated_ts)
        return order

    # --- derived ----------------------------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_cancellable(self) -> bool:
        return self.status in CANCELLABLE

    @property
    def known_filled(self) -> Decimal:
        """The larger of the fills applied and the venue's last cumulative report."""
        return max(self.filled, self.reported_filled)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.known_filled

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    def journal_row(self) -> JournaledOrder:
        return JournaledOrder(
            client_order_id=self.client_order_id, exchange=self.exchange, symbol=self.symbol, side=self.side,
            order_type=self.order_type, time_in_force=self.time_in_force, amount=self.amount, price=self.price,
            status=self.status, exchange_order_id=self.exchange_order_id, opportunity_id=self.opportunity_id,
            filled=self.known_filled, not_found_count=self.not_found_count, reason=self.reason,
            created_ts=self.created_at, updated_ts=self.updated_at)

    def submit_command(self, ts_init: float | None = None, *, ttl_s: float | None = None) -> SubmitOrder:
        """The command that places this order; with ``ttl_s`` it must leave within that long of the order's creation."""
        return SubmitOrder(client_order_id=self.client_order_id, exchange=self.exchange, symbol=self.symbol,
                           side=self.side, order_type=self.order_type, amount=self.amount, price=self.price,
                           time_in_force=self.time_in_force, opportunity_id=self.opportunity_id,
                           ts_init=time.time() if ts_init is None else ts_init,
                           expires_at=None if ttl_s is None else self.created_at + ttl_s)

    # --- apply ------------------------------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> bool:
        """Apply one event; True when the order changed.

        A move to another status must be in ``TRANSITIONS`` or ``IllegalTransition`` is raised with the order left
        exactly as it was. An event that leaves the status as it is only adds information (a new fill, the exchange
        order id, a venue-reported fill amount, a not-found count) and is otherwise a no-op: replays are harmless.
        """
        if event.client_order_id != self.client_order_id:
            raise ValueError(f"event for {event.client_order_id} applied to order {self.client_order_id}")
        name = type(event).__name__
        changes: dict[str, Any] = {}
        target = self.status

        if isinstance(event, OrderInitialized):
            raise IllegalTransition(self.client_order_id, self.status, S.INITIALIZED, name, "an order is initialized "
                                    "once, by its constructor")
        elif isinstance(event, OrderDenied):
            target = S.DENIED
            changes["reason"] = event.reason
        elif isinstance(event, OrderSubmitted):
            target = S.SUBMITTED
            if self.status is S.UNKNOWN:
                changes["not_found_count"] = 0
        elif isinstance(event, OrderAccepted):
            # An acknowledgement can arrive after the first fill or the cancel (stream before the REST answer):
            # then it only adds the exchange order id.
            if self.status in (S.SUBMITTED, S.UNKNOWN, S.INITIALIZED, S.DENIED, S.REJECTED):
                target = S.ACCEPTED
        elif isinstance(event, OrderRejected):
            target = S.REJECTED
            changes["reason"] = event.reason
        elif isinstance(event, OrderFilled):
            target = self._fill_changes(event, changes)
            if target is None:
                return False  # a trade id already applied
        elif isinstance(event, OrderPendingCancel):
            target = S.PENDING_CANCEL
        elif isinstance(event, OrderCancelRejected):
            if self.status is not S.PENDING_CANCEL:
                return False  # the order already moved on (filled, canceled): nothing to undo
            target = S.PARTIALLY_FILLED if self.known_filled > 0 else S.ACCEPTED
            changes["reason"] = event.reason
        elif isinstance(event, OrderCanceled):
            target = S.CANCELED
        elif isinstance(event, OrderExpired):
            target = S.EXPIRED
            if event.reason:
                changes["reason"] = event.reason
        elif isinstance(event, OrderUpdated):
            if event.status not in VENUE_STATUSES:
                raise IllegalTransition(self.client_order_id, self.status, event.status, name,
                                        "a venue cannot report this status")
            if event.filled is not None and event.filled > self.reported_filled:
                if event.filled > self.amount:
                    raise IllegalTransition(self.client_order_id, self.status, event.status, name,
                                            f"venue reports {event.filled} filled of {self.amount}")
                changes["reported_filled"] = event.filled
            stale = (self.status in _PROGRESS and event.status in _PROGRESS
                     and _PROGRESS[event.status] < _PROGRESS[self.status])
            if not stale:
                target = event.status
        elif isinstance(event, OrderStatusUnknown):
            target = S.UNKNOWN
            if event.not_found:
                changes["not_found_count"] = self.not_found_count + 1
            if self.status is not S.UNKNOWN:
                changes.setdefault("reason", event.reason)
        else:
            raise TypeError(f"not an order event: {event!r}")

        if target is not self.status and (self.status, target) not in TRANSITIONS:
            raise IllegalTransition(self.client_order_id, self.status, target, name)
        if event.exchange_order_id is not None and self.exchange_order_id is None:
            changes["exchange_order_id"] = event.exchange_order_id
        if target is not self.status:
            changes["status"] = target
        changes = {key: value for key, value in changes.items() if getattr(self, key) != value}
        if not changes:
            return False
        changes["updated_at"] = event.ts_init
        for key, value in changes.items():
            object.__setattr__(self, key, value)
        return True

    def _fill_changes(self, event: OrderFilled, changes: dict[str, Any]) -> OrderStatus | None:
        fill = event.fill
        if fill.trade_id in self.trade_ids:
            return None
        if fill.client_order_id != self.client_order_id or fill.symbol != self.symbol or fill.side is not self.side \
                or fill.exchange != self.exchange:
            raise ValueError(f"fill {fill.trade_id} ({fill.client_order_id} {fill.exchange} {fill.symbol} "
                             f"{fill.side.value}) does not belong to {self!r}")
        filled = self.filled + fill.amount
        if filled > self.amount:
            raise IllegalTransition(self.client_order_id, self.status, None, "OrderFilled",
                                    f"overfill: {filled} > {self.amount} with trade {fill.trade_id}")
        if self.status is S.FILLED or filled == self.amount:
            target = S.FILLED  # a FILLED order may still receive the details of its trades
        else:
            target = S.PARTIALLY_FILLED
        fees = dict(self.fees)
        fees[fill.fee_asset] = fees.get(fill.fee_asset, ZERO) + fill.fee
        changes.update(filled=filled, cost=self.cost + fill.notional, fees=MappingProxyType(fees),
                       trade_ids=self.trade_ids | {fill.trade_id})
        return target
