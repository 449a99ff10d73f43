"""The dialect-free state of one simulated venue: accounts with exact ``Decimal`` balances, orders, trades and the
limit order book of each symbol (price levels in time priority, plus the bookkeeping of level changes that feeds every
dialect's depth stream).

Nothing here knows an exchange's API: the names of statuses and sides (``NEW``, ``BUY``...) are the simulator's own
vocabulary (the one ``/_sim/`` shows), which happens to be Binance's; each dialect front-end renders them its own way.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

from simulator.config import SymbolSpec

ZERO = Decimal(0)
_Q8 = Decimal("0.00000001")
MARKET_MAKER_NAME = "market-maker"

BUY, SELL = "BUY", "SELL"
LIMIT, MARKET, LIMIT_MAKER = "LIMIT", "MARKET", "LIMIT_MAKER"
GTC, IOC, FOK = "GTC", "IOC", "FOK"
NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED = "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})
MARKET_TYPES = (LIMIT, LIMIT_MAKER, MARKET)


def fmt(value: Decimal) -> str:
    """Binance's number format: fixed 8 decimals."""
    return f"{value:.8f}"


def _floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    if value <= 0:
        return ZERO
    return (value // step) * step


class Balance:
    __slots__ = ("free", "locked")

    def __init__(self, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        self.free = free
        self.locked = locked


class Account:
    """One account of the venue. ``secret`` is for the server's signature checks and is never rendered."""

    __slots__ = (
        "name", "api_key", "secret", "is_market_maker", "balances", "orders", "open_orders", "open_by_client_id",
        "latest_by_client_id", "orders_by_symbol", "trades_by_symbol",
    )

    def __init__(self, name: str, api_key: str | None, secret: str | None, balances: dict[str, Decimal], is_market_maker: bool) -> None:
        self.name = name
        self.api_key = api_key
        self.secret = secret
        self.is_market_maker = is_market_maker
        self.balances: dict[str, Balance] = {asset: Balance(Decimal(amount)) for asset, amount in balances.items()}
        self.orders: dict[int, Order] = {}  # every order ever accepted (client accounts only)
        self.open_orders: dict[int, Order] = {}
        self.open_by_client_id: dict[str, Order] = {}
        self.latest_by_client_id: dict[tuple[str, str], Order] = {}  # (symbol, clientOrderId) -> newest order
        self.orders_by_symbol: dict[str, list[Order]] = {}
        self.trades_by_symbol: dict[str, list[tuple[Trade, bool]]] = {}  # (trade, is_buyer)

    def balance(self, asset: str) -> Balance:
        balance = self.balances.get(asset)
        if balance is None:
            balance = self.balances[asset] = Balance()
        return balance

    def free(self, asset: str) -> Decimal:
        balance = self.balances.get(asset)
        return balance.free if balance is not None else ZERO

    def __repr__(self) -> str:
        return f"Account({self.name!r}, market_maker={self.is_market_maker})"


class Trade:
    """One match between a taker and a maker order. Commissions are in the asset each side received."""

    __slots__ = (
        "trade_id", "symbol", "price", "qty", "quote_qty", "time", "buyer", "seller", "buy_order", "sell_order",
        "buyer_is_maker", "buyer_commission", "seller_commission", "base", "quote",
    )

    def __init__(self, trade_id: int, symbol: str, price: Decimal, qty: Decimal, quote_qty: Decimal, time: int,
                 buy_order: Order, sell_order: Order, buyer_is_maker: bool, buyer_commission: Decimal,
                 seller_commission: Decimal, base: str, quote: str) -> None:
        self.trade_id = trade_id
        self.symbol = symbol
        self.price = price
        self.qty = qty
        self.quote_qty = quote_qty
        self.time = time
        self.buy_order = buy_order
        self.sell_order = sell_order
        self.buyer = buy_order.account
        self.seller = sell_order.account
        self.buyer_is_maker = buyer_is_maker
        self.buyer_commission = buyer_commission
        self.seller_commission = seller_commission
        self.base = base
        self.quote = quote

    def commission_for(self, is_buyer: bool) -> tuple[Decimal, str]:
        return (self.buyer_commission, self.base) if is_buyer else (self.seller_commission, self.quote)


class Order:
    __slots__ = (
        "order_id", "client_order_id", "symbol", "side", "is_buy", "type", "time_in_force", "price", "orig_qty",
        "executed_qty", "cum_quote", "orig_quote_qty", "status", "time", "update_time", "account", "fills", "locked",
        "received_at",
    )

    def __init__(self, order_id: int, client_order_id: str, symbol: str, side: str, type_: str, time_in_force: str,
                 price: Decimal, orig_qty: Decimal, orig_quote_qty: Decimal, account: Account, now: int) -> None:
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.side = side
        self.is_buy = side == BUY
        self.type = type_
        self.time_in_force = time_in_force
        self.price = price  # ZERO for market orders
        self.orig_qty = orig_qty
        self.executed_qty = ZERO
        self.cum_quote = ZERO
        self.orig_quote_qty = orig_quote_qty
        self.status = NEW
        self.time = now
        self.update_time = now
        self.account = account
        self.fills: list[tuple[Trade, bool]] | None = None if account.is_market_maker else []
        self.locked = ZERO  # what this resting order still holds locked: quote for a buy, base for a sell
        self.received_at: float | None = None  # epoch seconds the venue received the request (its server's clock)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class PriceLevel:
    __slots__ = ("price", "orders", "total")

    def __init__(self, price: Decimal) -> None:
        self.price = price
        self.orders: dict[int, Order] = {}  # insertion order is time priority
        self.total = ZERO


class BookSide:
    """One side of a book: levels by price plus a sorted price list (ascending) for best-first walks."""

    __slots__ = ("is_bid", "levels", "prices")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[Decimal, PriceLevel] = {}
        self.prices: list[Decimal] = []

    def best(self) -> PriceLevel | None:
        if not self.prices:
            return None
        return self.levels[self.prices[-1] if self.is_bid else self.prices[0]]

    def walk(self) -> Iterator[PriceLevel]:
        """Levels best first."""
        prices = reversed(self.prices) if self.is_bid else iter(self.prices)
        levels = self.levels
        for price in prices:
            yield levels[price]

    def level_for(self, price: Decimal) -> PriceLevel:
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = PriceLevel(price)
            bisect.insort(self.prices, price)
        return level

    def drop(self, price: Decimal) -> None:
        del self.levels[price]
        index = bisect.bisect_left(self.prices, price)
        del self.prices[index]


@dataclass(slots=True)
class _Stats:
    """Rolling ticker statistics since the venue started (the simulator's '24 hours')."""

    open_price: Decimal | None = None
    last_price: Decimal | None = None
    last_qty: Decimal = ZERO
    high: Decimal | None = None
    low: Decimal | None = None
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    count: int = 0
    first_id: int = -1
    last_id: int = -1


class SymbolBook:
    """The book of one symbol, its depth-stream bookkeeping and ticker statistics."""

    __slots__ = ("spec", "bids", "asks", "update_id", "first_pending_id", "pending_bids", "pending_asks", "stats")

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.bids = BookSide(True)
        self.asks = BookSide(False)
        self.update_id = 1
        self.first_pending_id: int | None = None
        self.pending_bids: dict[Decimal, Decimal] = {}
        self.pending_asks: dict[Decimal, Decimal] = {}
        self.stats = _Stats()

    def touch(self, is_bid: bool, price: Decimal, total: Decimal) -> None:
        """Record that the aggregated level ``price`` now holds ``total`` (0 = gone)."""
        self.update_id += 1
        if self.first_pending_id is None:
            self.first_pending_id = self.update_id
        (self.pending_bids if is_bid else self.pending_asks)[price] = total

    def mid(self) -> Decimal | None:
        bid, ask = self.bids.best(), self.asks.best()
        if bid is None or ask is None:
            return None
        return (bid.price + ask.price) / 2



def _take(levels: Iterator[PriceLevel], limit: int) -> Iterator[PriceLevel]:
    for index, level in enumerate(levels):
        if index >= limit:
            return
        yield level

