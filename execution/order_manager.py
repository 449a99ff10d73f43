"""Orders at one venue: validation before anything is sent, client order ids, the lifecycle, and reconciliation.

- ``OrderManager.create_order(symbol, side, amount, price, order_type)`` (the seed's signature) validates the order
  against the venue's ``MarketRules`` and the free balances, refusing with a specific ``OrderValidationError`` and an
  ``OrderDenied`` event with nothing sent; then journals the order (INITIALIZED -> SUBMITTED) BEFORE sending it
  through the injected ``ExchangeAdapter``. A definite refusal by the venue makes it REJECTED; a timeout, network or
  5xx error makes it UNKNOWN — never re-sent blindly, resolved by looking its client order id up.
- ``TRANSITIONS`` is the one table of legal (from, to) status moves, including what venues really do (fills after a
  cancel, failed cancels, reconciliation of unknown orders, expiry by TTL). ``Order.apply(event)`` is the only way an
  order changes; an illegal move raises ``IllegalTransition`` and leaves the order as it was.
- ``check_order_status(order_id)`` answers from local state; ``refresh`` asks the venue; ``reconcile`` resolves every
  non-terminal journaled order after a restart.
- ``ClientOrderIdFactory`` makes ids locally, unique across processes and restarts, in Binance's alphabet.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import re
import socket
import time
from collections import ChainMap, OrderedDict
from dataclasses import dataclass, field
from types import MappingProxyType
from decimal import Decimal
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol

from execution.api.precision import is_on_step, is_on_tick, passive_price, round_price, truncate_amount
from execution import money
from execution.eager import start_now
from execution.error_handler import ORDER_REFUSED, ErrorClass, FatalError, RayarbError, error_class
from execution.money import InvalidAmountError, InvalidInputError, InvalidPriceError
from execution.journal import Journal, JournalError, JournaledOrder
from execution.log import error_fields, order_fields
from execution.replies import ReplyMismatch, ReplyNotApplied, UntrustedReply, reply_mismatch
from execution.messages import (
    CancelOrder,
    FillApplied,
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
    QueryOrder,
    SubmitOrder,
)
from execution.types import ZERO, Fill, MarketRules, OrderSnapshot, OrderStatus, OrderType, Side, TimeInForce

logger = logging.getLogger(__name__)

S = OrderStatus

# --- the lifecycle -------------------------------------------------------------------------------------------------

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


# --- validation errors ---------------------------------------------------------------------------------------------

OrderValidationError = InvalidInputError  # an order refused locally before any I/O; ``field`` names the input


class UnknownSymbolError(OrderValidationError):
    """The symbol has no market rules at this venue."""


class InvalidSideError(OrderValidationError):
    """Side is not buy or sell."""


class InvalidOrderTypeError(OrderValidationError):
    """Order type is not one rayarb places (limit, market)."""


class InvalidTimeInForceError(OrderValidationError):
    """Time in force is not GTC, IOC or FOK."""


class PriceOutOfRangeError(OrderValidationError):
    """Price outside the venue's min/max price."""


class OffTickPriceError(OrderValidationError):
    """Price not on the tick grid. Use ``round_to_market`` to round it deliberately."""


class OffStepAmountError(OrderValidationError):
    """Amount not on the lot step. Use ``round_to_market`` to truncate it deliberately."""


class BelowMinimumError(OrderValidationError):
    """Amount below the venue's minimum amount."""


class AboveMaximumError(OrderValidationError):
    """Amount above the venue's maximum amount."""


class BelowMinNotionalError(BelowMinimumError):
    """amount * price below the venue's minimum notional."""


class InsufficientBalanceError(OrderValidationError):
    """Free balance (less what in-flight orders need) cannot pay for the order: quote for a buy, base for a sell."""


class InvalidClientOrderIdError(OrderValidationError):
    """A given client order id is not valid for the venue (1-36 chars of [.A-Z:/a-z0-9_-])."""


class DuplicateClientOrderIdError(OrderValidationError):
    """A given client order id is already used by an order of this manager or its journal."""


class OrderNotTracked(RayarbError, KeyError):
    """No order with this client or exchange order id is known locally."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ResubmitRefused(FatalError):
    """An UNKNOWN order may not be re-sent: not proven absent, partly known at the venue, or past its TTL."""


class NotCancellable(FatalError):
    """The order's status does not allow a cancel request."""


# --- client order ids ----------------------------------------------------------------------------------------------

CLIENT_ORDER_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def is_valid_client_order_id(value: Any) -> bool:
    return isinstance(value, str) and CLIENT_ORDER_ID_RE.fullmatch(value) is not None


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    return "".join(reversed(digits))


class ClientOrderIdFactory:
    """Client order ids: ``prefix`` + 9 chars of time (ms, base 36) + 8 chars of process token + 6 chars of counter.

    The token hashes host name, pid and 16 random bytes, drawn afresh in each process (also after a fork), so two
    processes — or one process before and after a restart — never share it; within one process the counter and the
    time make ids distinct. At most 8 + 9 + 8 + 6 = 31 chars of [a-z0-9], valid for Binance (<= 36, [.A-Z:/a-z0-9_-]).
    The prefix tells rayarb's orders apart from others on the same account.
    """

    def __init__(self, prefix: str = "rx", *, clock: Callable[[], float] = time.time) -> None:
        if not re.fullmatch(r"[a-z0-9]{1,8}", prefix):
            raise ValueError(f"client order id prefix must be 1-8 chars of [a-z0-9], got {prefix!r}")
        self.prefix = prefix
        self._clock = clock
        self._counter = itertools.count(1)
        self._pid = -1
        self._token = ""

    def _process_token(self) -> str:
        pid = os.getpid()
        if pid != self._pid:  # first use, or we are a forked child
            seed = f"{socket.gethostname()}|{pid}|".encode() + os.urandom(16)
            self._token = _base36(int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big"), 8)
            self._pid = pid
        return self._token

    def next(self) -> str:
        millis = int(self._clock() * 1000)
        return f"{self.prefix}{_base36(millis, 9)}{self._process_token()}{_base36(next(self._counter), 6)}"

    __call__ = next

    def owns(self, client_order_id: str) -> bool:
        """Whether an id has this factory's shape and prefix (an order rayarb placed, for reconciliation)."""
        return (client_order_id.startswith(self.prefix) and len(client_order_id) == len(self.prefix) + 23
                and client_order_id[len(self.prefix):].isalnum())


# --- rounding for callers who want it --------------------------------------------------------------------------------

def round_to_market(rules: MarketRules, side: Side, amount: Decimal, price: Decimal, *,
                    passive: bool = True) -> tuple[Decimal, Decimal]:
    """(amount, price) on the venue's grid with ccxt's helpers: amount truncated to the step; price moved to the tick
    never worse for us (down for a buy, up for a sell) when ``passive``, else to the nearest tick."""
    rounded_price = passive_price(rules, side, price) if passive else round_price(rules, price)
    return truncate_amount(rules, amount), rounded_price


# --- the order -------------------------------------------------------------------------------------------------------

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

    def submit_command(self, ts_init: float | None = None) -> SubmitOrder:
        return SubmitOrder(client_order_id=self.client_order_id, exchange=self.exchange, symbol=self.symbol,
                           side=self.side, order_type=self.order_type, amount=self.amount, price=self.price,
                           time_in_force=self.time_in_force, opportunity_id=self.opportunity_id,
                           ts_init=time.time() if ts_init is None else ts_init)

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


NOT_FOUND_REASON = "not found at the venue by client order id"


# --- the manager ------------------------------------------------------------------------------------------------------

class ExchangeAdapter(Protocol):
    """What ``OrderManager`` needs from a venue connection (``execution.api`` implements it over ccxt).

    Every method raises the ``execution.error_handler`` tree, never ccxt's exceptions.
    ``query_order`` returns None when the venue does not know the client order id.
    """

    async def submit_order(self, command: SubmitOrder) -> OrderSnapshot: ...

    # Optionally ``start_submit_order(command) -> Awaitable[OrderSnapshot]`` (a plain method): write the request now
    # and return the awaitable answer, so that ``start_order`` returns with the order on its way.

    async def query_order(self, command: QueryOrder) -> OrderSnapshot | None: ...

    async def cancel_order(self, command: CancelOrder) -> OrderSnapshot: ...


@dataclass(frozen=True, slots=True)
class ValidOrder:
    """An order request that passed validation, normalized."""

    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    amount: Decimal
    price: Decimal
    rules: MarketRules


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What ``reconcile`` did: each order's status after it, and which ones are still open questions."""

    statuses: dict[str, OrderStatus] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()  # the lookup failed: try again later
    lost: tuple[str, ...] = ()  # not found lost_order_limit times in a row: quarantined, may be resubmitted in TTL


Balances = Mapping[str, Decimal] | Callable[[], Mapping[str, Decimal]]
_IN_FLIGHT = frozenset({S.INITIALIZED, S.SUBMITTED, S.UNKNOWN})  # not yet reflected in the venue's free balance
FINISHED_ORDERS_KEPT = 10_000  # terminal orders held in memory per venue (a late fill or a lookup finds the rest)


def _to_enum(value: Any, enum: type, field_name: str, error: type[OrderValidationError]) -> Any:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        for member in enum:
            if value.strip().lower() == str(member.value).lower():
                return member
    raise error(field_name, value, f"must be one of {[m.value for m in enum]}")


class OrderManager:
    """Orders at one venue (``exchange``), sent through ``adapter`` and journaled in ``journal``.

    ``rules`` maps symbol -> ``MarketRules``; ``balances`` (a mapping or a callable returning one) gives the free
    balance per asset at this venue, kept current by the caller (position tracker). ``on_event`` receives every event
    this manager makes (OrderDenied, OrderSubmitted, ..., FillApplied) — the actor forwards them.
    """

    def __init__(self, exchange: str, adapter: ExchangeAdapter, rules: Mapping[str, MarketRules], *,
                 balances: Balances, journal: Journal, id_factory: ClientOrderIdFactory | None = None,
                 on_event: Callable[[Any], None] | None = None, clock: Callable[[], float] = time.time,
                 submit_timeout_s: float = 10.0, query_timeout_s: float = 5.0, lost_order_limit: int = 3,
                 resubmit_ttl_s: float = 30.0) -> None:
        self.exchange = exchange
        self._adapter = adapter
        self._rules = dict(rules)
        self._balances = balances
        self._journal = journal
        self._ids = id_factory or ClientOrderIdFactory()
        self._on_event = on_event
        self._clock = clock
        self.submit_timeout_s = submit_timeout_s
        self.query_timeout_s = query_timeout_s
        self.lost_order_limit = lost_order_limit
        self.resubmit_ttl_s = resubmit_ttl_s
        # Orders not yet terminal, and the latest terminal ones: older ones are read back from the journal when asked
        # for, so memory and the cost of each new order's checks do not grow with the run's history.
        self._open: dict[str, Order] = {}
        self._held_events: list[Any] | None = None  # events of an apply_snapshot, until its commit is done
        self._finished: OrderedDict[str, Order] = OrderedDict()
        self._by_exchange_id: dict[str, str] = {}  # of the orders held in memory
        # answers not applied because they did not match their order, by field (execution.replies.FIELDS); the actor
        # exports them as a metric
        self.reply_mismatches: dict[str, int] = {}

    # --- lookups ----------------------------------------------------------------------------------------------

    @property
    def orders(self) -> Mapping[str, Order]:
        """The orders held in memory: every open one and the latest ``FINISHED_ORDERS_KEPT`` terminal ones."""
        return ChainMap(self._open, self._finished)

    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    def _held(self, client_order_id: str) -> Order | None:
        order = self._open.get(client_order_id)
        return order if order is not None else self._finished.get(client_order_id)

    def check_order_status(self, order_id: str) -> Order:
        """The order with this client order id or exchange order id, as known locally (memory, then the journal)."""
        order = self._held(order_id)
        if order is None and order_id in self._by_exchange_id:
            order = self._held(self._by_exchange_id[order_id])
        if order is None:
            row = self._journal.get(order_id)
            if row is not None and row.exchange == self.exchange:
                order = self._track(Order.restore(row, self._journal.fills(client_order_id=order_id)))
        if order is None:
            raise OrderNotTracked(f"no order {order_id!r} at {self.exchange}", exchange=self.exchange,
                                  client_order_id=order_id)
        return order

    def rules(self, symbol: str) -> MarketRules:
        return self._rules[symbol]

    def update_rules(self, rules: Mapping[str, MarketRules]) -> None:
        self._rules.update(rules)

    # --- validation -------------------------------------------------------------------------------------------

    def free_balance(self, asset: str) -> Decimal:
        balances = self._balances() if callable(self._balances) else self._balances
        return Decimal(balances.get(asset, ZERO))

    def reserved_balance(self, asset: str) -> Decimal:
        """What this manager's in-flight orders need of ``asset`` that the venue's free balance may not show yet."""
        reserved = ZERO
        for order in self._open.values():
            if order.status not in _IN_FLIGHT:
                continue
            rules = self._rules.get(order.symbol)
            if rules is None:
                continue
            if order.side is Side.BUY and rules.quote == asset and order.price is not None:
                reserved += order.amount * order.price * (1 + rules.taker_fee)
            elif order.side is Side.SELL and rules.base == asset:
                reserved += order.amount
        return reserved

    def validate_order(self, symbol: Any, side: Any, amount: Any, price: Any, order_type: Any = OrderType.LIMIT,
                       time_in_force: Any = TimeInForce.GTC, client_order_id: Any = None, *,
                       look_in_journal: bool = True) -> ValidOrder:
        """Check an order request; raise the specific ``OrderValidationError`` for the first problem found.
        ``look_in_journal=False`` leaves a client order id used by an order no longer in memory to the journal's
        write (``start_order``: the journal refuses it, nothing written) instead of a lookup here."""
        side = _to_enum(side, Side, "side", InvalidSideError)
        order_type = _to_enum(order_type, OrderType, "order_type", InvalidOrderTypeError)
        time_in_force = _to_enum(time_in_force, TimeInForce, "time_in_force", InvalidTimeInForceError)
        if not isinstance(symbol, str) or symbol not in self._rules:
            raise UnknownSymbolError("symbol", symbol, f"no market rules for it at {self.exchange}")
        rules = self._rules[symbol]
        amount = money.amount(amount, "amount")
        if price is None and order_type is OrderType.MARKET:
            raise InvalidPriceError("price", price, "a market order needs a reference price for notional and balance")
        price = money.price(price, "price")
        if rules.min_price is not None and rules.min_price > 0 and price < rules.min_price:
            raise PriceOutOfRangeError("price", price, f"below the minimum price {rules.min_price}")
        if rules.max_price is not None and rules.max_price > 0 and price > rules.max_price:
            raise PriceOutOfRangeError("price", price, f"above the maximum price {rules.max_price}")
        if order_type is OrderType.LIMIT and not is_on_tick(rules, price):
            raise OffTickPriceError("price", price, f"not a multiple of the tick {rules.price_tick}")
        if not is_on_step(rules, amount):
            raise OffStepAmountError("amount", amount, f"not a multiple of the step {rules.amount_step}")
        if amount < rules.min_amount:
            raise BelowMinimumError("amount", amount, f"below the minimum amount {rules.min_amount}")
        if rules.max_amount is not None and rules.max_amount > 0 and amount > rules.max_amount:
            raise AboveMaximumError("amount", amount, f"above the maximum amount {rules.max_amount}")
        notional = amount * price
        if notional < rules.min_notional:
            raise BelowMinNotionalError("notional", notional, f"amount*price below the minimum {rules.min_notional}")
        if side is Side.BUY:
            asset, needed = rules.quote, notional * (1 + rules.taker_fee)
        else:
            asset, needed = rules.base, amount
        available = self.free_balance(asset) - self.reserved_balance(asset)
        if needed > available:
            raise InsufficientBalanceError(f"balance.{asset}", needed, f"needs {needed} {asset}, {available} "
                                                                        f"available (free less in-flight orders)")
        if client_order_id is not None:
            if not is_valid_client_order_id(client_order_id):
                raise InvalidClientOrderIdError("client_order_id", client_order_id,
                                                "must be 1-36 chars of [.A-Z:/a-z0-9_-]")
            if self._held(client_order_id) is not None or (
                    look_in_journal and self._journal.get(client_order_id) is not None):
                raise DuplicateClientOrderIdError("client_order_id", client_order_id, "already used")
        return ValidOrder(symbol=symbol, side=side, order_type=order_type, time_in_force=time_in_force,
                          amount=amount, price=price, rules=rules)

    # --- creating -----------------------------------------------------------------------------------------------

    async def create_order(self, symbol: Any, side: Any, amount: Any, price: Any, order_type: Any = OrderType.LIMIT,
                           *, time_in_force: Any = TimeInForce.GTC, client_order_id: str | None = None,
                           opportunity_id: str | None = None) -> Order:
        """Validate, journal, send; return the order in the status the venue's answer left it.

        Raises the specific ``OrderValidationError`` (after an ``OrderDenied`` event; nothing sent or journaled).
        Otherwise returns the order: ACCEPTED / PARTIALLY_FILLED / FILLED / EXPIRED / CANCELED as the venue answered,
        REJECTED on a definite refusal (``order.reason`` says why), UNKNOWN when the outcome cannot be known yet (use
        ``refresh`` / ``reconcile``; never send it again yourself).
        """
        return await self.start_order(symbol, side, amount, price, order_type, time_in_force=time_in_force,
                                      client_order_id=client_order_id, opportunity_id=opportunity_id)

    def start_order(self, symbol: Any, side: Any, amount: Any, price: Any, order_type: Any = OrderType.LIMIT, *,
                    time_in_force: Any = TimeInForce.GTC, client_order_id: str | None = None,
                    opportunity_id: str | None = None) -> Awaitable[Order]:
        """``create_order`` in two halves: validate, journal and hand the request to the adapter now (with an adapter
        that has ``start_submit_order`` the request has been written when this returns), then await the result for
        the order as the venue's answer left it. A validation error is raised at once."""
        now = self._clock()
        try:
            valid = self.validate_order(symbol, side, amount, price, order_type, time_in_force, client_order_id,
                                        look_in_journal=False)
            cid = client_order_id or self._ids.next()
            initialized = OrderInitialized(client_order_id=cid, exchange=self.exchange, symbol=valid.symbol,
                                           opportunity_id=opportunity_id, ts_event=now, ts_init=now, side=valid.side,
                                           order_type=valid.order_type, amount=valid.amount, price=valid.price,
                                           time_in_force=valid.time_in_force)
            order = Order(initialized)
            # Write-ahead: INITIALIZED and SUBMITTED are durable before a byte goes to the venue.
            try:
                self._journal.record_submitted_order(order.journal_row(), ts_event=now, ts_init=now)
            except JournalError:  # the id is journaled already (an order no longer in memory): nothing written
                raise DuplicateClientOrderIdError("client_order_id", cid, "already used") from None
        except OrderValidationError as error:
            denied_id = client_order_id if is_valid_client_order_id(client_order_id) else self._ids.next()
            denied = OrderDenied(client_order_id=denied_id, exchange=self.exchange,
                                 symbol=symbol if isinstance(symbol, str) else repr(symbol),
                                 opportunity_id=opportunity_id, ts_event=now, ts_init=now, reason=str(error),
                                 field=error.field)
            logger.warning("order denied: %s", error, extra=order_fields(denied, field=error.field))
            self._emit(denied)
            raise
        submitted = OrderSubmitted(client_order_id=cid, exchange=self.exchange, symbol=valid.symbol,
                                   opportunity_id=opportunity_id, ts_event=now, ts_init=now)
        order.apply(submitted)
        self._track(order)
        self._emit(initialized)
        self._emit(submitted)
        submission = self._start_submit(order)
        # a journal with an intent log holds the order ahead of SQLite: written there once the request is out
        asyncio.get_running_loop().call_soon(self._journal.flush)
        return self._settle(order, submission)

    async def _settle(self, order: Order, submission: Awaitable[OrderSnapshot]) -> Order:
        await self._send(order, submission)
        return order

    def _start_submit(self, order: Order) -> Awaitable[OrderSnapshot]:
        return start_now(self._adapter, "start_submit_order", "submit_order", order.submit_command(self._clock()))

    async def _send(self, order: Order, submission: Awaitable[OrderSnapshot]) -> None:
        try:
            async with asyncio.timeout(self.submit_timeout_s):
                snapshot = await submission
        except asyncio.CancelledError:
            self._mark_unknown(order, "send cancelled after the request may have left")
            raise
        except Exception as error:
            kind = error_class(error)
            if kind in ORDER_REFUSED:  # nothing happened at the venue: the order does not exist
                logger.warning("order rejected by %s (%s): %s", self.exchange, kind.value, error,
                               extra=order_fields(order, **error_fields(error)))
                self._apply(order, OrderRejected(client_order_id=order.client_order_id, exchange=self.exchange,
                                                 symbol=order.symbol, opportunity_id=order.opportunity_id,
                                                 reason=f"{kind.value}: {type(error).__name__}: {error}"))
            elif kind is ErrorClass.DUPLICATE_ID:  # the id is taken: that order exists; looked up, never resent
                self._mark_unknown(order, f"venue already has this client order id: {error}")
            else:  # unknown outcome (timeout, network, 5xx, "not found" on create, an adapter bug): it may exist
                logger.warning("order outcome unknown at %s: %s: %s", self.exchange, type(error).__name__, error,
                               extra=order_fields(order, **error_fields(error)))
                self._mark_unknown(order, f"{type(error).__name__}: {error}")
            return
        try:
            self.apply_snapshot(snapshot, answers=order.client_order_id)
        except UntrustedReply:
            pass  # the order is UNKNOWN: looked up by its client order id

    def _mark_unknown(self, order: Order, reason: str, *, not_found: bool = False) -> None:
        event = OrderStatusUnknown(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                                   opportunity_id=order.opportunity_id, reason=reason, not_found=not_found)
        self._apply(order, event)

    # --- applying venue information -----------------------------------------------------------------------------

    def _track(self, order: Order) -> Order:
        cid = order.client_order_id
        if order.exchange_order_id is not None:
            self._by_exchange_id[order.exchange_order_id] = cid
        if not order.is_terminal:  # new, or back from a terminal status by a late fill
            self._finished.pop(cid, None)
            self._open[cid] = order
            return order
        self._open.pop(cid, None)
        self._finished[cid] = order
        self._finished.move_to_end(cid)
        while len(self._finished) > FINISHED_ORDERS_KEPT:
            _, oldest = self._finished.popitem(last=False)
            self._by_exchange_id.pop(oldest.exchange_order_id, None)
        return order

    def _emit(self, event: Any) -> None:
        if self._on_event is None:
            return
        if self._held_events is not None:  # inside apply_snapshot: sent once its one commit is done
            self._held_events.append(event)
            return
        try:
            self._on_event(event)
        except Exception:  # a subscriber's bug must not undo an order's bookkeeping
            logger.exception("on_event subscriber failed", extra=order_fields(event))

    def _apply(self, order: Order, event: OrderEvent) -> bool:
        """Apply ``event`` to ``order`` and journal the result in one commit; emit the event (and FillApplied)."""
        before = order.status
        with self._journal.transaction():
            changed = order.apply(event)
            if not changed:
                return False
            is_new_fill = isinstance(event, OrderFilled) and self._journal.record_fill(event.fill)
            self._journal.record_transition(
                order.client_order_id, before, order.status, event=type(event).__name__, ts_event=event.ts_event,
                ts_init=event.ts_init, exchange_order_id=order.exchange_order_id, filled=order.known_filled,
                reason=getattr(event, "reason", None) or None, not_found_count=order.not_found_count)
        self._track(order)  # its exchange order id may be new, and it may have become terminal
        if before is not order.status:
            logger.info("order %s -> %s", before.value, order.status.value, extra=order_fields(order))
        self._emit(event)
        if is_new_fill:
            self._emit(FillApplied(fill=event.fill, order_status=order.status, opportunity_id=order.opportunity_id,
                                   ts_event=event.ts_event))
        return True

    def _apply_logged(self, order: Order, event: OrderEvent) -> bool:
        try:
            return self._apply(order, event)
        except (IllegalTransition, ValueError) as error:
            logger.error("venue report not applied: %s", error, extra=order_fields(order))
            return False

    def apply_fill(self, fill: Fill) -> FillApplied | None:
        """A fill from the venue's stream or trade history. Journaled once; a repeated trade id returns None."""
        order = self.check_order_status(fill.client_order_id)
        event = OrderFilled.from_fill(fill, opportunity_id=order.opportunity_id)
        if not self._apply(order, event):
            return None
        return FillApplied(fill=fill, order_status=order.status, opportunity_id=order.opportunity_id,
                           ts_event=event.ts_event)

    def apply_snapshot(self, snapshot: OrderSnapshot, *, answers: str | None = None) -> Order:
        """Bring the local order in line with what the venue says about it (an answer to submit, query or cancel):
        every transition and fill it brings in one journal commit (not one each: the order manager's loop is busy for
        less of the time a new opportunity may arrive), and their events sent once that commit is done.

        ``answers``: the client order id of the order whose request this answers (default: the one the answer names).
        An answer that does not match that order (``execution.replies.reply_mismatch``: another client order id,
        symbol, side, amount or price, fills beyond its amount) is not applied: the order becomes UNKNOWN (to be looked
        up by its client order id), the mismatch is logged and counted in ``reply_mismatches``, and
        ``UntrustedReply`` is raised."""
        order = self.check_order_status(answers if answers is not None else snapshot.client_order_id)
        mismatch = reply_mismatch(snapshot, client_order_id=order.client_order_id, exchange=self.exchange,
                                  symbol=order.symbol, side=order.side, amount=order.amount, price=order.price,
                                  order_type=order.order_type, exchange_order_id=order.exchange_order_id,
                                  applied_trade_ids=order.trade_ids, applied_filled=order.filled)
        if mismatch is not None:
            self._distrust(order, mismatch)
        if self._held_events is not None:
            return self._apply_snapshot(order, snapshot)
        self._held_events = []
        try:
            with self._journal.transaction():
                order = self._apply_snapshot(order, snapshot)
            events = self._held_events
        finally:
            self._held_events = None
        for event in events:
            self._emit(event)
        return order

    def _distrust(self, order: Order, mismatch: ReplyMismatch) -> None:
        """Count and log an answer that does not match ``order``, leave the order UNKNOWN, raise ``UntrustedReply``."""
        self.reply_mismatches[mismatch.field] = self.reply_mismatches.get(mismatch.field, 0) + 1
        logger.error("venue reply not applied: %s", mismatch, extra=order_fields(order, field=mismatch.field))
        if order.status is not S.UNKNOWN and (order.status, S.UNKNOWN) in TRANSITIONS:
            self._mark_unknown(order, f"untrusted reply: {mismatch}")
        self._emit(ReplyNotApplied(exchange=self.exchange, client_order_id=order.client_order_id,
                                   field=mismatch.field, ts_event=self._clock()))
        raise UntrustedReply(mismatch, exchange=self.exchange, client_order_id=order.client_order_id)

    def _apply_snapshot(self, order: Order, snapshot: OrderSnapshot) -> Order:
        common = dict(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                      exchange_order_id=snapshot.exchange_order_id, opportunity_id=order.opportunity_id)
        ts_event = snapshot.ts_ms / 1000.0 if snapshot.ts_ms is not None else self._clock()
        if snapshot.status is S.REJECTED:
            self._apply_logged(order, OrderRejected(**common, ts_event=ts_event, reason="venue reports rejected"))
            return order
        if order.status in (S.SUBMITTED, S.UNKNOWN) and snapshot.status in VENUE_STATUSES:
            self._apply_logged(order, OrderAccepted(**common, ts_event=ts_event))
        for fill in snapshot.fills:
            self._apply_logged(order, OrderFilled.from_fill(fill, opportunity_id=order.opportunity_id))
        if snapshot.status in VENUE_STATUSES:
            self._apply_logged(order, OrderUpdated(**common, ts_event=ts_event, status=snapshot.status,
                                                   filled=snapshot.filled))
        return order

    # --- asking the venue ----------------------------------------------------------------------------------------

    async def refresh(self, order_id: str) -> Order:
        """Query the venue by client order id and apply its answer. Not found: counted (quarantine after
        ``lost_order_limit`` misses), never believed at once. Query errors propagate; the order is unchanged. An answer
        that does not match the order raises ``UntrustedReply`` (the order is then UNKNOWN)."""
        order = self.check_order_status(order_id)
        query = QueryOrder(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                           exchange_order_id=order.exchange_order_id)
        snapshot = await asyncio.wait_for(self._adapter.query_order(query), self.query_timeout_s)
        self._apply_lookup(order, snapshot)
        return order

    def _apply_lookup(self, order: Order, snapshot: OrderSnapshot | None) -> None:
        """Apply a lookup's answer (``UntrustedReply`` when it does not match the order)."""
        if snapshot is not None:
            self.apply_snapshot(snapshot, answers=order.client_order_id)
        elif not order.is_terminal:
            self._mark_unknown(order, NOT_FOUND_REASON, not_found=True)
            if order.not_found_count >= self.lost_order_limit:
                logger.warning("order not found %d times: quarantined as lost (still fillable)",
                               order.not_found_count, extra=order_fields(order))

    def is_lost(self, order: Order) -> bool:
        return order.status is S.UNKNOWN and order.not_found_count >= self.lost_order_limit

    async def resubmit(self, order_id: str) -> Order:
        """Re-send a lost order with the SAME client order id: only when UNKNOWN, not found ``lost_order_limit`` times
        in a row, never acknowledged or filled, and within ``resubmit_ttl_s`` of its creation. Past the TTL the order
        is EXPIRED instead and ``ResubmitRefused`` is raised."""
        order = self.check_order_status(order_id)
        if not self.is_lost(order):
            raise ResubmitRefused(f"order {order.client_order_id} is {order.status.value} with "
                                  f"{order.not_found_count} not-found lookups; only a lost UNKNOWN order is re-sent",
                                  exchange=self.exchange, client_order_id=order.client_order_id)
        if order.exchange_order_id is not None or order.known_filled > 0:
            raise ResubmitRefused(f"order {order.client_order_id} was seen at the venue; it is not re-sent",
                                  exchange=self.exchange, client_order_id=order.client_order_id)
        now = self._clock()
        if now - order.created_at > self.resubmit_ttl_s:
            self._expire(order, now)
            raise ResubmitRefused(f"order {order.client_order_id} is past its resubmission TTL "
                                  f"({self.resubmit_ttl_s} s); expired", exchange=self.exchange,
                                  client_order_id=order.client_order_id)
        self._apply(order, OrderSubmitted(client_order_id=order.client_order_id, exchange=self.exchange,
                                          symbol=order.symbol, opportunity_id=order.opportunity_id, ts_event=now,
                                          ts_init=now))
        await self._send(order, self._start_submit(order))
        return order

    def _expire(self, order: Order, now: float) -> None:
        self._apply(order, OrderExpired(client_order_id=order.client_order_id, exchange=self.exchange,
                                        symbol=order.symbol, opportunity_id=order.opportunity_id, ts_event=now,
                                        ts_init=now, reason="resubmission TTL passed while not found"))

    def expire_overdue(self) -> list[Order]:
        """EXPIRE every lost order past its resubmission TTL (it stays fillable: a late fill is still applied)."""
        now = self._clock()
        expired = []
        for order in list(self._open.values()):
            if self.is_lost(order) and now - order.created_at > self.resubmit_ttl_s:
                self._expire(order, now)
                expired.append(order)
        return expired

    async def cancel_order(self, order_id: str) -> Order:
        """Ask the venue to cancel; the order is PENDING_CANCEL until the venue's answer. A refused cancel restores
        ACCEPTED / PARTIALLY_FILLED; a lost answer leaves PENDING_CANCEL for ``refresh``."""
        order = self.check_order_status(order_id)
        if not order.is_cancellable:
            raise NotCancellable(f"order {order.client_order_id} is {order.status.value}", exchange=self.exchange,
                                 client_order_id=order.client_order_id)
        self._apply(order, OrderPendingCancel(client_order_id=order.client_order_id, exchange=self.exchange,
                                              symbol=order.symbol, exchange_order_id=order.exchange_order_id,
                                              opportunity_id=order.opportunity_id))
        command = CancelOrder(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                              exchange_order_id=order.exchange_order_id, opportunity_id=order.opportunity_id)
        try:
            snapshot = await asyncio.wait_for(self._adapter.cancel_order(command), self.query_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            kind = error_class(error)
            if kind is ErrorClass.UNKNOWN_OUTCOME:
                logger.warning("cancel outcome unknown: %s: %s", type(error).__name__, error,
                               extra=order_fields(order, **error_fields(error)))
                return order
            # the cancel did not happen (refused, throttled, or the venue does not know the order): refresh settles it
            self._apply(order, OrderCancelRejected(client_order_id=order.client_order_id, exchange=self.exchange,
                                                   symbol=order.symbol, opportunity_id=order.opportunity_id,
                                                   reason=f"{kind.value}: {type(error).__name__}: {error}"))
            return order
        try:
            self.apply_snapshot(snapshot, answers=order.client_order_id)
        except UntrustedReply:
            pass  # the order is UNKNOWN: looked up by its client order id
        return order

    # --- reconciliation ------------------------------------------------------------------------------------------

    async def reconcile(self, lookup: Callable[[QueryOrder], Awaitable[OrderSnapshot | None]] | None = None
                        ) -> ReconcileReport:
        """Resolve every non-terminal journaled order of this venue by client order id (start-up and recovery are
        the same path). ``lookup`` defaults to the adapter's ``query_order``. Orders only INITIALIZED were never sent
        (SUBMITTED is journaled before sending) and become DENIED. One failing lookup does not stop the others."""
        lookup = lookup or self._adapter.query_order
        statuses: dict[str, OrderStatus] = {}
        unresolved: list[str] = []
        lost: list[str] = []
        for row in self._journal.non_terminal_orders(self.exchange):
            order = self._held(row.client_order_id)
            if order is None:
                order = self._track(Order.restore(row, self._journal.fills(client_order_id=row.client_order_id)))
            if order.status is S.INITIALIZED:
                self._apply(order, OrderDenied(client_order_id=order.client_order_id, exchange=self.exchange,
                                               symbol=order.symbol, opportunity_id=order.opportunity_id,
                                               reason="journaled but never sent before a restart"))
            elif not order.is_terminal:
                query = QueryOrder(client_order_id=order.client_order_id, exchange=self.exchange,
                                   symbol=order.symbol, exchange_order_id=order.exchange_order_id)
                try:
                    snapshot = await asyncio.wait_for(lookup(query), self.query_timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning("reconcile lookup failed: %s: %s", type(error).__name__, error,
                                   extra=order_fields(order, **error_fields(error)))
                    unresolved.append(order.client_order_id)
                else:
                    try:
                        self._apply_lookup(order, snapshot)
                    except UntrustedReply:
                        unresolved.append(order.client_order_id)
                    if self.is_lost(order):
                        lost.append(order.client_order_id)
            statuses[order.client_order_id] = order.status
        logger.info("reconciled %d orders at %s: %d unresolved, %d lost", len(statuses), self.exchange,
                    len(unresolved), len(lost), extra={"exchange": self.exchange})
        return ReconcileReport(statuses=statuses, unresolved=tuple(unresolved), lost=tuple(lost))
