"""Value types shared by every part of rayarb: sides, order types, order status, books, market rules, fills, order
snapshots and a venue's keys.

All money and quantities are ``Decimal``. Values check themselves on construction so that a malformed book or a
negative fill cannot travel further than the place it was made.
"""
from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, enum.Enum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(str, enum.Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(str, enum.Enum):
    """Lifecycle of an order as rayarb sees it; transitions live in ``execution.orders.lifecycle``."""

    INITIALIZED = "initialized"  # journaled, not yet sent
    DENIED = "denied"  # refused locally before any I/O
    SUBMITTED = "submitted"  # request sent, no answer yet
    ACCEPTED = "accepted"  # the venue acknowledged it, resting
    REJECTED = "rejected"  # the venue refused it (a definite 4xx)
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    EXPIRED = "expired"  # IOC/FOK remainder, or resubmission TTL passed
    UNKNOWN = "unknown"  # the outcome cannot be known yet: reconcile by client order id


class BookError(ValueError):
    """An order book that cannot be trusted: unsorted, crossed, empty where it matters, or stale."""


Level = tuple[Decimal, Decimal]  # (price, amount)


@dataclass(frozen=True, slots=True)
class OrderBook:
    """A normalized order book snapshot. Bids descending, asks ascending, all values Decimal."""

    exchange: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    exchange_ts_ms: int | None = None  # venue timestamp, when the venue gives one
    received_at: float = field(default_factory=time.time)  # local wall clock when the book arrived
    nonce: int | None = None  # venue sequence (Binance lastUpdateId / u)

    def __post_init__(self) -> None:
        _check_levels(self, _decimal_level_problem)

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    def age(self, now: float | None = None) -> float:
        """Seconds since the book was received locally."""
        return (time.time() if now is None else now) - self.received_at

    def check_fresh(self, max_age_s: float, now: float | None = None) -> None:
        age = self.age(now)
        if age > max_age_s:
            raise BookError(f"{self.exchange} {self.symbol}: book is stale ({age:.3f} s > {max_age_s} s)")


def _check_levels(book: OrderBook | FloatBook, level_problem: Callable[[Any, Any], str | None]) -> None:
    """Every level valid (``level_problem`` names what is wrong with one), bids descending, asks ascending, and the
    best bid below the best ask; ``BookError`` otherwise."""
    where = f"{book.exchange} {book.symbol}"
    for name, levels, descending in (("bids", book.bids, True), ("asks", book.asks, False)):
        previous = None
        for price, amount in levels:
            problem = level_problem(price, amount)
            if problem is not None:
                raise BookError(f"{where}: {name} level {problem}")
            if previous is not None and (price >= previous if descending else price <= previous):
                raise BookError(f"{where}: {name} are not sorted at {price}")
            previous = price
    if book.bids and book.asks and book.bids[0][0] >= book.asks[0][0]:
        raise BookError(f"{where}: book is crossed (bid {book.bids[0][0]} >= ask {book.asks[0][0]})")


def _decimal_level_problem(price: Any, amount: Any) -> str | None:
    if not isinstance(price, Decimal) or not isinstance(amount, Decimal):
        return f"{price!r} is not Decimal"
    if not price.is_finite() or not amount.is_finite() or price <= 0 or amount <= 0:
        return f"{price} x {amount} is not positive"
    return None


def _float_level_problem(price: float, amount: float) -> str | None:
    if not (0 < price < math.inf and 0 < amount < math.inf):  # also false for NaN
        return f"{price!r} x {amount!r} is not positive and finite"
    return None


def _float_book_valid(bids: tuple, asks: tuple) -> bool:
    """``_check_levels``' rules for a float book in one inlined pass, without naming a fault (every stream update is
    checked twice, where it is made and where it is decoded; this is 2.5x faster): True when every level is positive
    and finite, bids strictly descending, asks strictly ascending and above the best bid."""
    inf = math.inf
    above = inf
    for price, amount in bids:
        if not (0 < price < above and 0 < amount < inf):  # also false for NaN
            return False
        above = price
    below = bids[0][0] if bids else 0
    for price, amount in asks:
        if not (below < price < inf and 0 < amount < inf):
            return False
        below = price
    return True


FloatLevel = tuple[float, float]  # (price, amount) as a venue's stream delivers them through ccxt


@dataclass(frozen=True, slots=True)
class FloatBook:
    """An order book as ccxt delivers a venue's stream: floats, checked like ``OrderBook``. Cheap to build, send and
    compare on every update; ``exact`` gives the Decimal ``OrderBook`` for the levels a trade would use. Each float is
    the one ccxt parsed from the venue's decimal string, and its shortest repr is that string again, so the Decimal
    levels are the venue's exact ones, in the same order."""

    exchange: str
    symbol: str
    bids: tuple[FloatLevel, ...]
    asks: tuple[FloatLevel, ...]
    exchange_ts_ms: int | None = None
    received_at: float = field(default_factory=time.time)
    nonce: int | None = None

    def __post_init__(self) -> None:
        if not _float_book_valid(self.bids, self.asks):
            _check_levels(self, _float_level_problem)  # names what is wrong

    @property
    def best_bid(self) -> float | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0][0] if self.asks else None

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.received_at

    def exact(self, *, bids_above: float | None = None, asks_below: float | None = None,
              up_to_amount: float | None = None) -> OrderBook:
        """The book in Decimal. With ``bids_above`` only the bids higher than that price, with ``asks_below`` only the
        asks lower (the levels an arbitrage against that price can take); with ``up_to_amount`` only the levels needed
        to fill that amount, and one more (so float rounding of the running total never cuts a level a trade of that
        amount needs)."""
        bids = _levels_needed(self.bids, up_to_amount, lambda price: bids_above is None or price > bids_above)
        asks = _levels_needed(self.asks, up_to_amount, lambda price: asks_below is None or price < asks_below)
        return OrderBook(self.exchange, self.symbol, bids, asks, self.exchange_ts_ms, self.received_at, self.nonce)


def _levels_needed(levels: tuple[FloatLevel, ...], up_to_amount: float | None,
                   tradable: Callable[[float], bool]) -> tuple[Level, ...]:
    needed: list[Level] = []
    total, enough = 0.0, False
    for price, amount in levels:
        if not tradable(price):
            break
        # execution.money's float rule (money.exact), inlined: this runs for every level a trade may use
        needed.append((Decimal(repr(price)), Decimal(repr(amount))))
        if enough:  # the one level more
            break
        total += amount
        enough = up_to_amount is not None and total >= up_to_amount
    return tuple(needed)


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What a venue allows for one symbol, and what it charges. Built from a ccxt market by ``execution.api``."""

    exchange: str
    symbol: str
    base: str
    quote: str
    price_tick: Decimal
    amount_step: Decimal
    min_amount: Decimal
    max_amount: Decimal | None
    min_notional: Decimal
    min_price: Decimal | None
    max_price: Decimal | None
    maker_fee: Decimal
    taker_fee: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade of one order, as the venue reported it. ``trade_id`` is unique per (exchange, symbol)."""

    exchange: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str
    trade_id: str
    client_order_id: str
    exchange_order_id: str | None
    ts_ms: int

    def __post_init__(self) -> None:
        if self.price <= 0 or self.amount <= 0 or self.fee < 0:
            raise ValueError(f"fill {self.trade_id}: price, amount must be positive and fee not negative")

    @property
    def notional(self) -> Decimal:
        return self.price * self.amount

    def balance_changes(self, base: str, quote: str) -> dict[str, Decimal]:
        """What this trade did to the account, per asset: base and quote moved at the fill price, the fee taken in
        its own asset. Exact (a Decimal product of two exact values; callers needing no rounding at all sum in an
        exact context)."""
        signed = self.amount if self.side is Side.BUY else -self.amount
        changes = {base: signed, quote: -signed * self.price}
        if self.fee:
            changes[self.fee_asset] = changes.get(self.fee_asset, Decimal(0)) - self.fee
        return changes


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """The state of one order at a venue as last known: what ccxt's unified order says, in Decimal."""

    exchange: str
    symbol: str
    side: Side
    client_order_id: str
    exchange_order_id: str | None
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    average: Decimal | None
    fills: tuple[Fill, ...] = ()
    ts_ms: int | None = None

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """An API key and secret (and the passphrase of a dialect that has one, OKX), resolved at run time. Its repr never
    shows any of them."""

    api_key: str
    secret: str
    passphrase: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"

    __str__ = __repr__
