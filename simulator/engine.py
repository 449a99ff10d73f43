"""Matching engine and accounts of one simulated Binance-dialect spot venue.

``VenueEngine`` holds, per symbol, a limit order book with price-time priority, and the venue's accounts with exact
``Decimal`` balances (free and locked). Its REST handlers take the request parameters as raw strings, exactly as
received, validate them as Binance spot v3 does and return JSON-ready dicts of strings; every refusal is a
``BinanceError`` carrying Binance's HTTP status, code and message, raised before anything has changed.

An internal market-maker account (large balances) owns the synthetic liquidity that ``simulator.market`` quotes
through ``set_quotes``, so assets are conserved: for every asset, the sum over all accounts plus the fees collected is
constant. Every change to an aggregated price level increments the symbol's update id, which feeds the diff-depth
stream (``drain_depth_events``) and the ``lastUpdateId`` of ``depth``.

The server (``simulator.server``) does HTTP, signing, faults and JSON; see docs/simulator-engine-contract.md.
"""
from __future__ import annotations

import bisect
import json
import logging
import re
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable, Iterator

from simulator.config import SymbolSpec, VenueConfig

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
_Q8 = Decimal("0.00000001")
_MAX_DECIMALS = 8
MARKET_MAKER_NAME = "market-maker"

# Binance's parameter grammars.
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_NUMBER_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_INTEGER_RE = re.compile(r"^[0-9]{1,20}$")
_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"

BUY, SELL = "BUY", "SELL"
LIMIT, MARKET, LIMIT_MAKER = "LIMIT", "MARKET", "LIMIT_MAKER"
GTC, IOC, FOK = "GTC", "IOC", "FOK"
NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED = "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})

SUPPORTED_ORDER_TYPES = (LIMIT, LIMIT_MAKER, MARKET)
_BINANCE_ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
_RESP_TYPES = ("ACK", "RESULT", "FULL")

# Parameters new_order understands, ignores (transport/auth) or knows but never needs for the supported types.
_NEW_ORDER_PARAMS = frozenset({
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
    "newOrderRespType", "selfTradePreventionMode", "strategyId", "strategyType",
})
_NOT_REQUIRED_PARAMS = frozenset({"stopPrice", "icebergQty", "trailingDelta", "pegPriceType", "pegOffsetValue", "pegOffsetType"})
_TRANSPORT_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})

MSG_INSUFFICIENT = "Account has insufficient balance for requested action."
MSG_WOULD_TAKE = "Order would immediately match and take."
MSG_DUPLICATE = "Duplicate order sent."
MSG_NO_ORDER = "Order does not exist."
MSG_UNKNOWN_ORDER = "Unknown order sent."
MSG_BAD_SYMBOL = "Invalid symbol."
MSG_UNSUPPORTED_COMBINATION = "Unsupported order combination."
MSG_TYPE_NOT_SUPPORTED = "Order type not supported for this symbol."


class BinanceError(Exception):
    """A refusal in Binance's words: HTTP status, Binance error code and message (body ``{"code", "msg"}``)."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def _mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def _not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def _filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


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


_PlanEntry = tuple[Order, Decimal, Decimal]  # (maker order, qty, price)


class VenueEngine:
    """One simulated Binance spot venue: books, accounts, matching, fees and the depth-stream bookkeeping."""

    def __init__(self, config: VenueConfig, symbols: list[SymbolSpec], clock_ms: Callable[[], int]) -> None:
        self.config = config
        self.name = config.name
        self.maker_fee = config.maker_fee
        self.taker_fee = config.taker_fee
        self._clock_ms = clock_ms
        self.books: dict[str, SymbolBook] = {spec.symbol: SymbolBook(spec) for spec in symbols}
        self.assets: list[str] = sorted({a for s in symbols for a in (s.base, s.quote)})
        self.accounts: list[Account] = []
        self._by_key: dict[str, Account] = {}
        names: set[str] = set()
        for account_config in config.accounts:
            if account_config.name in names or account_config.name == MARKET_MAKER_NAME:
                raise ValueError(f"venue {self.name}: account name {account_config.name!r} is used twice or reserved")
            names.add(account_config.name)
            account = Account(account_config.name, account_config.api_key, account_config.secret, account_config.balances, False)
            self.accounts.append(account)
            self._by_key[account_config.api_key] = account
        self.market_maker = Account(MARKET_MAKER_NAME, None, None, config.market_maker_balances or _market_maker_balances(symbols), True)
        self.accounts.append(self.market_maker)
        self.collected_fees: dict[str, Decimal] = {}
        self.trades: list[Trade] = []
        self._mm_quotes: dict[str, tuple[dict[Decimal, Order], dict[Decimal, Order]]] = {s: ({}, {}) for s in self.books}
        self._next_order_id = 1
        self._next_trade_id = 1
        self.partial_fills_only = False  # fault: takers fill at most half of what they could

    # ------------------------------------------------------------------ lookups

    def account_for_key(self, api_key: str) -> Account | None:
        return self._by_key.get(api_key)

    def account_by_name(self, name: str) -> Account | None:
        for account in self.accounts:
            if account.name == name:
                return account
        return None

    @property
    def symbols(self) -> list[str]:
        return list(self.books)

    def now_ms(self) -> int:
        return self._clock_ms()

    def _book(self, params: dict[str, str], required: bool = True) -> SymbolBook | None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise _mandatory("symbol")
            return None
        book = self.books.get(symbol)
        if book is None:
            raise BinanceError(-1121, MSG_BAD_SYMBOL)
        return book

    def _books_for(self, params: dict[str, str]) -> tuple[list[SymbolBook], bool]:
        """Books named by ``symbol`` or ``symbols`` (a JSON list); all books without either. Second: single object?"""
        symbol, symbols = params.get("symbol"), params.get("symbols")
        if symbol and symbols:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if symbol:
            return [self._book(params)], True  # type: ignore[list-item]
        if symbols:
            try:
                names = json.loads(symbols)
            except ValueError:
                raise _illegal("symbols", '["SYMBOL1","SYMBOL2"]') from None
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise _illegal("symbols", '["SYMBOL1","SYMBOL2"]')
            books = []
            for name in names:
                book = self.books.get(name)
                if book is None:
                    raise BinanceError(-1121, MSG_BAD_SYMBOL)
                books.append(book)
            return books, False
        return list(self.books.values()), False

    # ------------------------------------------------------------------ public market data

    def exchange_info(self, params: dict[str, str]) -> dict[str, Any]:
        books, _ = self._books_for(params)
        return {
            "timezone": "UTC",
            "serverTime": self._clock_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(book.spec) for book in books],
        }

    @staticmethod
    def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
        return {
            "symbol": spec.symbol,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": _MAX_DECIMALS,
            "quoteAsset": spec.quote,
            "quotePrecision": _MAX_DECIMALS,
            "quoteAssetPrecision": _MAX_DECIMALS,
            "baseCommissionPrecision": _MAX_DECIMALS,
            "quoteCommissionPrecision": _MAX_DECIMALS,
            "orderTypes": list(SUPPORTED_ORDER_TYPES),
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(spec.min_price), "maxPrice": fmt(spec.max_price), "tickSize": fmt(spec.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": fmt(spec.min_qty), "maxQty": fmt(spec.max_qty), "stepSize": fmt(spec.step_size)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(spec.min_qty), "maxQty": fmt(spec.max_qty), "stepSize": fmt(spec.step_size)},
                {"filterType": "NOTIONAL", "minNotional": fmt(spec.min_notional), "applyMinToMarket": True,
                 "maxNotional": fmt(spec.max_notional), "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "NONE",
            "allowedSelfTradePreventionModes": ["NONE"],
        }

    def depth(self, params: dict[str, str]) -> dict[str, Any]:
        book = self._book(params)
        assert book is not None
        limit = self._int_param(params, "limit", 100)
        if limit < 1:
            raise _illegal("limit", "1 .. 5000")
        limit = min(limit, 5000)
        return {
            "lastUpdateId": book.update_id,
            "bids": [[fmt(level.price), fmt(level.total)] for level in _take(book.bids.walk(), limit)],
            "asks": [[fmt(level.price), fmt(level.total)] for level in _take(book.asks.walk(), limit)],
        }

    def ticker_24hr(self, params: dict[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        books, single = self._books_for(params)
        now = self._clock_ms()
        tickers = [self._ticker(book, now) for book in books]
        return tickers[0] if single else tickers

    def _reference_price(self, book: SymbolBook) -> Decimal:
        if book.stats.last_price is not None:
            return book.stats.last_price
        mid = book.mid()
        if mid is not None:
            return mid.quantize(book.spec.tick_size)
        return book.spec.fair_price

    def _ticker(self, book: SymbolBook, now: int) -> dict[str, Any]:
        stats = book.stats
        last = self._reference_price(book)
        open_price = stats.open_price if stats.open_price is not None else last
        high = stats.high if stats.high is not None else last
        low = stats.low if stats.low is not None else last
        change = last - open_price
        percent = (change / open_price * 100).quantize(Decimal("0.001")) if open_price else ZERO
        weighted = (stats.quote_volume / stats.volume) if stats.volume else last
        bid, ask = book.bids.best(), book.asks.best()
        return {
            "symbol": book.spec.symbol,
            "priceChange": fmt(change),
            "priceChangePercent": f"{percent:.3f}",
            "weightedAvgPrice": fmt(weighted),
            "prevClosePrice": fmt(open_price),
            "lastPrice": fmt(last),
            "lastQty": fmt(stats.last_qty),
            "bidPrice": fmt(bid.price if bid else ZERO),
            "bidQty": fmt(bid.total if bid else ZERO),
            "askPrice": fmt(ask.price if ask else ZERO),
            "askQty": fmt(ask.total if ask else ZERO),
            "openPrice": fmt(open_price),
            "highPrice": fmt(high),
            "lowPrice": fmt(low),
            "volume": fmt(stats.volume),
            "quoteVolume": fmt(stats.quote_volume),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": stats.first_id,
            "lastId": stats.last_id,
            "count": stats.count,
        }

    def book_ticker(self, params: dict[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        books, single = self._books_for(params)
        out = []
        for book in books:
            bid, ask = book.bids.best(), book.asks.best()
            out.append({
                "symbol": book.spec.symbol,
                "bidPrice": fmt(bid.price if bid else ZERO),
                "bidQty": fmt(bid.total if bid else ZERO),
                "askPrice": fmt(ask.price if ask else ZERO),
                "askQty": fmt(ask.total if ask else ZERO),
            })
        return out[0] if single else out

    def ticker_price(self, params: dict[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        books, single = self._books_for(params)
        out = [{"symbol": book.spec.symbol, "price": fmt(self._reference_price(book))} for book in books]
        return out[0] if single else out

    def best_bid_ask(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        book = self.books[symbol]
        bid, ask = book.bids.best(), book.asks.best()
        return (bid.price if bid else None, ask.price if ask else None)

    # ------------------------------------------------------------------ account

    def account_info(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        assets = list(self.assets) + sorted(a for a in account.balances if a not in self.assets)
        balances = []
        omit_zero = params.get("omitZeroBalances") == "true"
        for asset in assets:
            balance = account.balances.get(asset) or Balance()
            if omit_zero and not balance.free and not balance.locked:
                continue
            balances.append({"asset": asset, "free": fmt(balance.free), "locked": fmt(balance.locked)})
        return {
            "makerCommission": int(self.maker_fee * 10_000),
            "takerCommission": int(self.taker_fee * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": fmt(self.maker_fee), "taker": fmt(self.taker_fee), "buyer": fmt(ZERO), "seller": fmt(ZERO)},
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self._clock_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": zlib.crc32(f"{self.name}/{account.name}".encode()) % 10**9,
        }

    # ------------------------------------------------------------------ parameter parsing

    @staticmethod
    def _decimal_param(params: dict[str, str], name: str) -> Decimal | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        if not _NUMBER_RE.match(raw):
            raise _illegal(name, _NUMBER_RANGE)
        value = Decimal(raw)
        if "." in raw and len(raw) - raw.index(".") - 1 > _MAX_DECIMALS and value != value.quantize(_Q8):
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        return value

    @staticmethod
    def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:  # type: ignore[return]
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        if not _INTEGER_RE.match(raw):
            raise _illegal(name, "^[0-9]{1,20}$")
        return int(raw)

    # ------------------------------------------------------------------ orders

    def new_order(self, account: Account, params: dict[str, str], received_at: float | None = None) -> dict[str, Any]:
        """POST /api/v3/order. Validates everything first; on any refusal nothing has changed. ``received_at``: when
        the request reached the venue (epoch seconds), shown by /_sim/orders."""
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise _mandatory(name)
        for name in params:
            if name not in _NEW_ORDER_PARAMS and name not in _TRANSPORT_PARAMS:
                if name in _NOT_REQUIRED_PARAMS:
                    raise _not_required(name)
                raise BinanceError(-1104, f"Not all sent parameters were read; read '{len(params) - 1}' parameter(s) but was sent '{len(params)}'.")
        book = self._book(params)
        assert book is not None
        spec = book.spec
        side = params["side"]
        if side not in (BUY, SELL):
            raise _illegal("side", "BUY, SELL")
        order_type = params["type"]
        if order_type not in _BINANCE_ORDER_TYPES:
            raise _illegal("type", ", ".join(_BINANCE_ORDER_TYPES))
        if order_type not in SUPPORTED_ORDER_TYPES:
            raise BinanceError(-2010, MSG_TYPE_NOT_SUPPORTED)

        tif_raw = params.get("timeInForce") or None
        quantity = self._decimal_param(params, "quantity")
        quote_qty = self._decimal_param(params, "quoteOrderQty")
        price = self._decimal_param(params, "price")
        if order_type == LIMIT:
            if quantity is None:
                raise _mandatory("quantity")
            if price is None:
                raise _mandatory("price")
            if tif_raw is None:
                raise _mandatory("timeInForce")
            if tif_raw not in (GTC, IOC, FOK):
                raise BinanceError(-1115, "Invalid timeInForce.")
            if quote_qty is not None:
                raise _not_required("quoteOrderQty")
            tif = tif_raw
        elif order_type == LIMIT_MAKER:
            if quantity is None:
                raise _mandatory("quantity")
            if price is None:
                raise _mandatory("price")
            if tif_raw is not None and tif_raw != GTC:
                raise BinanceError(-1014, MSG_UNSUPPORTED_COMBINATION)
            if quote_qty is not None:
                raise _not_required("quoteOrderQty")
            tif = GTC
        else:
            if price is not None:
                raise _not_required("price")
            if tif_raw is not None:
                raise _not_required("timeInForce")
            if quantity is None and quote_qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            if quantity is not None and quote_qty is not None:
                raise _not_required("quoteOrderQty")
            tif = GTC

        if price is not None:
            if price <= 0 or price < spec.min_price or price > spec.max_price or (price - spec.min_price) % spec.tick_size:
                raise _filter_failure("PRICE_FILTER")
        if quantity is not None:
            if quantity <= 0 or quantity < spec.min_qty or quantity > spec.max_qty or (quantity - spec.min_qty) % spec.step_size:
                raise _filter_failure("LOT_SIZE")
        if price is not None and quantity is not None:
            notional = price * quantity
            if notional < spec.min_notional or notional > spec.max_notional:
                raise _filter_failure("NOTIONAL")
        if quote_qty is not None and (quote_qty <= 0 or quote_qty < spec.min_notional):
            raise _filter_failure("NOTIONAL")

        client_order_id = params.get("newClientOrderId") or None
        if client_order_id is not None:
            if not _CLIENT_ID_RE.match(client_order_id):
                raise _illegal("newClientOrderId", _CLIENT_ID_RANGE)
            if client_order_id in account.open_by_client_id:
                raise BinanceError(-2010, MSG_DUPLICATE)
        resp_type = params.get("newOrderRespType") or "FULL"
        if resp_type not in _RESP_TYPES:
            raise _illegal("newOrderRespType", ", ".join(_RESP_TYPES))

        order = self._place(account, book, side == BUY, order_type, tif, price or ZERO,
                            quantity or ZERO, quote_qty or ZERO, client_order_id, check_market_notional=True)
        order.received_at = received_at
        if resp_type == "ACK":
            return {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                    "clientOrderId": order.client_order_id, "transactTime": order.update_time}
        result = self._order_result(order)
        if resp_type == "FULL":
            result["fills"] = [
                {"price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission_for(b)[0]),
                 "commissionAsset": t.commission_for(b)[1], "tradeId": t.trade_id}
                for t, b in (order.fills or ())
            ]
        return result

    def _plan(self, book: SymbolBook, is_buy: bool, limit_price: Decimal | None, qty: Decimal,
              quote_qty: Decimal) -> tuple[list[_PlanEntry], Decimal, Decimal, bool]:
        """What a taker would match, without changing anything: (entries, total qty, total quote, stopped by quote)."""
        entries: list[_PlanEntry] = []
        total_qty = ZERO
        total_quote = ZERO
        step = book.spec.step_size
        by_quote = quote_qty > 0
        remaining = qty
        quote_left = quote_qty
        for level in (book.asks if is_buy else book.bids).walk():
            price = level.price
            if limit_price is not None and (price > limit_price if is_buy else price < limit_price):
                break
            for maker in level.orders.values():
                if by_quote:
                    affordable = _floor_to_step(quote_left / price, step)
                    if affordable <= 0:
                        return entries, total_qty, total_quote, True
                    take = min(affordable, maker.orig_qty - maker.executed_qty)
                    quote_left -= take * price
                else:
                    take = min(remaining, maker.orig_qty - maker.executed_qty)
                    remaining -= take
                entries.append((maker, take, price))
                total_qty += take
                total_quote += take * price
                if not by_quote and remaining <= 0:
                    return entries, total_qty, total_quote, False
        return entries, total_qty, total_quote, False

    def _place(self, account: Account, book: SymbolBook, is_buy: bool, order_type: str, tif: str, price: Decimal,
               quantity: Decimal, quote_qty: Decimal, client_order_id: str | None,
               check_market_notional: bool) -> Order:
        """Match and, for GTC limits, rest an already-validated order. Refusals raise before any change."""
        spec = book.spec
        is_market = order_type == MARKET
        if order_type == LIMIT_MAKER:
            best = (book.asks if is_buy else book.bids).best()
            if best is not None and (best.price <= price if is_buy else best.price >= price):
                raise BinanceError(-2010, MSG_WOULD_TAKE)
            plan: list[_PlanEntry] = []
            plan_qty = plan_quote = ZERO
            stopped_by_quote = False
        else:
            plan, plan_qty, plan_quote, stopped_by_quote = self._plan(book, is_buy, None if is_market else price, quantity, quote_qty)
        if is_market and check_market_notional and quantity > 0 and plan_qty > 0:
            estimated = quantity * (plan_quote / plan_qty)
            if estimated < spec.min_notional:
                raise _filter_failure("NOTIONAL")

        if self.partial_fills_only and not account.is_market_maker and plan:
            cap = _floor_to_step(plan_qty / 2, spec.step_size)
            plan, plan_qty, plan_quote = _trim_plan(plan, cap)
            stopped_by_quote = False  # the fault, not the budget, ended the match: a quote order expires

        # Balance: what this order may spend, checked in full before anything moves.
        if is_buy:
            spend_asset = spec.quote
            required = plan_quote if (is_market and quote_qty == 0) else (quote_qty if is_market else price * quantity)
        else:
            spend_asset = spec.base
            required = plan_qty if (is_market and quote_qty > 0) else quantity
        if required > account.free(spend_asset):
            raise BinanceError(-2010, MSG_INSUFFICIENT)

        fok_unfillable = tif == FOK and plan_qty < quantity
        now = self._clock_ms()
        order_id = self._next_order_id
        self._next_order_id += 1
        if client_order_id is None:
            client_order_id = f"sim-{self.name}-{order_id}"
        order = Order(order_id, client_order_id, spec.symbol, BUY if is_buy else SELL, order_type, tif, price,
                      quantity, quote_qty, account, now)
        self._register(order)

        if not fok_unfillable:
            for maker, qty, fill_price in plan:
                self._fill(book, order, maker, qty, fill_price, now)

        remaining = order.orig_qty - order.executed_qty
        if is_market and quote_qty > 0:
            order.orig_qty = order.executed_qty
            order.status = FILLED if (order.executed_qty > 0 and stopped_by_quote) else EXPIRED
        elif remaining <= 0:
            order.status = FILLED
        elif order_type == MARKET or tif in (IOC, FOK):
            order.status = EXPIRED
        else:
            order.status = PARTIALLY_FILLED if order.executed_qty > 0 else NEW
            self._rest(book, order)
        order.update_time = now
        if order.status not in OPEN_STATUSES:
            self._close(order)
        return order

    def _register(self, order: Order) -> None:
        account = order.account
        if account.is_market_maker:
            return
        account.orders[order.order_id] = order
        account.orders_by_symbol.setdefault(order.symbol, []).append(order)
        account.latest_by_client_id[(order.symbol, order.client_order_id)] = order
        account.open_orders[order.order_id] = order
        account.open_by_client_id[order.client_order_id] = order

    def _close(self, order: Order) -> None:
        account = order.account
        account.open_orders.pop(order.order_id, None)
        if account.open_by_client_id.get(order.client_order_id) is order:
            del account.open_by_client_id[order.client_order_id]

    def _rest(self, book: SymbolBook, order: Order) -> None:
        remaining = order.orig_qty - order.executed_qty
        balance = order.account.balance(book.spec.quote if order.is_buy else book.spec.base)
        amount = order.price * remaining if order.is_buy else remaining
        balance.free -= amount
        balance.locked += amount
        order.locked = amount
        side = book.bids if order.is_buy else book.asks
        level = side.level_for(order.price)
        level.orders[order.order_id] = order
        level.total += remaining
        book.touch(order.is_buy, order.price, level.total)
        if order.account.is_market_maker:
            order.account.open_orders[order.order_id] = order

    def _unrest(self, book: SymbolBook, order: Order) -> None:
        """Take a resting order off its level and release what it still locks."""
        side = book.bids if order.is_buy else book.asks
        level = side.levels[order.price]
        del level.orders[order.order_id]
        level.total -= order.orig_qty - order.executed_qty
        book.touch(order.is_buy, order.price, level.total)
        if not level.orders:
            side.drop(order.price)
        if order.locked:
            balance = order.account.balance(book.spec.quote if order.is_buy else book.spec.base)
            balance.locked -= order.locked
            balance.free += order.locked
            order.locked = ZERO

    def _fill(self, book: SymbolBook, taker: Order, maker: Order, qty: Decimal, price: Decimal, now: int) -> None:
        spec = book.spec
        quote_qty = price * qty
        trade_id = self._next_trade_id
        self._next_trade_id += 1

        # The maker's level shrinks first so the depth stream sees one change per fill.
        side = book.bids if maker.is_buy else book.asks
        level = side.levels[price]
        level.total -= qty
        maker.executed_qty += qty
        maker.cum_quote += quote_qty
        maker.update_time = now
        if maker.orig_qty == maker.executed_qty:
            del level.orders[maker.order_id]
            maker.status = FILLED
        else:
            maker.status = PARTIALLY_FILLED
        book.touch(maker.is_buy, price, level.total)
        if not level.orders:
            side.drop(price)
        taker.executed_qty += qty
        taker.cum_quote += quote_qty

        buy, sell = (maker, taker) if maker.is_buy else (taker, maker)
        buyer_is_maker = maker.is_buy
        buyer, seller = buy.account, sell.account
        buyer_rate = 0 if buyer.is_market_maker else (self.maker_fee if buyer_is_maker else self.taker_fee)
        seller_rate = 0 if seller.is_market_maker else (self.taker_fee if buyer_is_maker else self.maker_fee)
        buyer_commission = (qty * buyer_rate).quantize(_Q8, ROUND_HALF_UP) if buyer_rate else ZERO
        seller_commission = (quote_qty * seller_rate).quantize(_Q8, ROUND_HALF_UP) if seller_rate else ZERO

        # Buyer pays quote (from its lock when resting, else from free) and receives base less commission.
        buyer_quote = buyer.balance(spec.quote)
        if buy is maker:
            buyer_quote.locked -= quote_qty
            buy.locked -= quote_qty
        else:
            buyer_quote.free -= quote_qty
        buyer.balance(spec.base).free += qty - buyer_commission
        # Seller pays base and receives quote less commission.
        seller_base = seller.balance(spec.base)
        if sell is maker:
            seller_base.locked -= qty
            sell.locked -= qty
        else:
            seller_base.free -= qty
        seller.balance(spec.quote).free += quote_qty - seller_commission
        if buyer_commission:
            self.collected_fees[spec.base] = self.collected_fees.get(spec.base, ZERO) + buyer_commission
        if seller_commission:
            self.collected_fees[spec.quote] = self.collected_fees.get(spec.quote, ZERO) + seller_commission

        trade = Trade(trade_id, spec.symbol, price, qty, quote_qty, now, buy, sell, buyer_is_maker, buyer_commission,
                      seller_commission, spec.base, spec.quote)
        self.trades.append(trade)
        for order, is_buyer in ((buy, True), (sell, False)):
            if order.fills is not None:
                order.fills.append((trade, is_buyer))
                order.account.trades_by_symbol.setdefault(spec.symbol, []).append((trade, is_buyer))
        if maker.status == FILLED:
            if maker.locked and not maker.account.is_market_maker:
                # A fully filled buy that rested at its own price has nothing left locked; guard against drift anyway.
                logger.error("venue %s order %s filled with %s still locked", self.name, maker.order_id, maker.locked)
            self._close(maker)

        stats = book.stats
        if stats.open_price is None:
            stats.open_price = price
            stats.first_id = trade_id
        stats.last_price = price
        stats.last_qty = qty
        stats.high = price if stats.high is None or price > stats.high else stats.high
        stats.low = price if stats.low is None or price < stats.low else stats.low
        stats.volume += qty
        stats.quote_volume += quote_qty
        stats.count += 1
        stats.last_id = trade_id

    def _find_order(self, account: Account, book: SymbolBook, params: dict[str, str]) -> Order | None:
        order_id = self._int_param(params, "orderId", None)
        client_order_id = params.get("origClientOrderId") or None
        if order_id is None and client_order_id is None:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order_id is not None:
            order = account.orders.get(order_id)
            if order is not None and client_order_id is not None and order.client_order_id != client_order_id:
                return None
        else:
            order = account.latest_by_client_id.get((book.spec.symbol, client_order_id))  # type: ignore[arg-type]
        if order is None or order.symbol != book.spec.symbol:
            return None
        return order

    def get_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        book = self._book(params)
        assert book is not None
        order = self._find_order(account, book, params)
        if order is None:
            raise BinanceError(-2013, MSG_NO_ORDER)
        return self._order_view(order)

    def cancel_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        book = self._book(params)
        assert book is not None
        cancel_id = params.get("newClientOrderId") or None
        if cancel_id is not None and not _CLIENT_ID_RE.match(cancel_id):
            raise _illegal("newClientOrderId", _CLIENT_ID_RANGE)
        order = self._find_order(account, book, params)
        if order is None or not order.is_open:
            raise BinanceError(-2011, MSG_UNKNOWN_ORDER)
        now = self._clock_ms()
        self._cancel(book, order, now)
        # A cancel answer carries the cancel request's own id in clientOrderId, the order's in origClientOrderId.
        return {
            **self._order_fields(order),
            "origClientOrderId": order.client_order_id,
            "clientOrderId": cancel_id or f"sim-cancel-{self.name}-{order.order_id}",
            "transactTime": now,
            "selfTradePreventionMode": "NONE",
        }

    def _cancel(self, book: SymbolBook, order: Order, now: int) -> None:
        self._unrest(book, order)
        order.status = CANCELED
        order.update_time = now
        self._close(order)
        if order.account.is_market_maker:
            order.account.open_orders.pop(order.order_id, None)

    def open_orders(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        book = self._book(params, required=False)
        symbol = book.spec.symbol if book is not None else None
        return [self._order_view(o) for o in sorted(account.open_orders.values(), key=lambda o: o.order_id)
                if symbol is None or o.symbol == symbol]

    def all_orders(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        book = self._book(params)
        assert book is not None
        orders = account.orders_by_symbol.get(book.spec.symbol, [])
        from_id = self._int_param(params, "orderId", None)
        start = self._int_param(params, "startTime", None)
        end = self._int_param(params, "endTime", None)
        limit = self._limit(params)
        selected = [o for o in orders if (from_id is None or o.order_id >= from_id)
                    and (start is None or o.time >= start) and (end is None or o.time <= end)]
        selected = selected[:limit] if from_id is not None else selected[-limit:]
        return [self._order_view(o) for o in selected]

    def trade_fees(self, account: Account, params: dict[str, str]) -> list[dict[str, str]]:
        """GET /sapi/v1/asset/tradeFee: the account's maker and taker rates per symbol (one symbol, or all)."""
        book = self._book(params, required=False)
        specs = [book.spec] if book is not None else [b.spec for b in self.books.values()]
        return [{"symbol": spec.symbol, "makerCommission": fmt(self.maker_fee), "takerCommission": fmt(self.taker_fee)}
                for spec in specs]

    def my_trades(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        book = self._book(params)
        assert book is not None
        entries = account.trades_by_symbol.get(book.spec.symbol, [])
        order_id = self._int_param(params, "orderId", None)
        from_id = self._int_param(params, "fromId", None)
        start = self._int_param(params, "startTime", None)
        end = self._int_param(params, "endTime", None)
        limit = self._limit(params)
        selected = [
            (t, b) for t, b in entries
            if (order_id is None or (t.buy_order if b else t.sell_order).order_id == order_id)
            and (from_id is None or t.trade_id >= from_id)
            and (start is None or t.time >= start) and (end is None or t.time <= end)
        ]
        selected = selected[:limit] if from_id is not None else selected[-limit:]
        out = []
        for trade, is_buyer in selected:
            commission, asset = trade.commission_for(is_buyer)
            own = trade.buy_order if is_buyer else trade.sell_order
            out.append({
                "symbol": trade.symbol,
                "id": trade.trade_id,
                "orderId": own.order_id,
                "orderListId": -1,
                "price": fmt(trade.price),
                "qty": fmt(trade.qty),
                "quoteQty": fmt(trade.quote_qty),
                "commission": fmt(commission),
                "commissionAsset": asset,
                "time": trade.time,
                "isBuyer": is_buyer,
                "isMaker": is_buyer == trade.buyer_is_maker,
                "isBestMatch": True,
            })
        return out

    def _limit(self, params: dict[str, str]) -> int:
        limit = self._int_param(params, "limit", 500)
        assert limit is not None
        if limit < 1:
            raise _illegal("limit", "1 .. 1000")
        return min(limit, 1000)

    def _order_result(self, order: Order) -> dict[str, Any]:
        return {
            **self._order_fields(order),
            "transactTime": order.update_time,
            "origQuoteOrderQty": fmt(order.orig_quote_qty),
            "workingTime": order.time,
            "selfTradePreventionMode": "NONE",
        }

    @staticmethod
    def _order_fields(order: Order) -> dict[str, Any]:
        """What every answer about an order says of it."""
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": fmt(order.price),
            "origQty": fmt(order.orig_qty),
            "executedQty": fmt(order.executed_qty),
            "cummulativeQuoteQty": fmt(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
        }

    def _order_view(self, order: Order) -> dict[str, Any]:
        return {
            **self._order_fields(order),
            "stopPrice": fmt(ZERO),
            "icebergQty": fmt(ZERO),
            "time": order.time,
            "updateTime": order.update_time,
            "isWorking": order.type != MARKET and order.status in OPEN_STATUSES,
            "workingTime": order.time,
            "origQuoteOrderQty": fmt(order.orig_quote_qty),
            "selfTradePreventionMode": "NONE",
        }

    # ------------------------------------------------------------------ market maker

    def set_quotes(self, symbol: str, bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]]) -> None:
        """Make the market maker's resting orders equal the given ladders, touching only levels that differ.

        Prices must be on the tick grid and bids below asks. Orders no longer wanted (or whose size differs, e.g.
        after being partly consumed) are cancelled first, so the new ladder never trades with the old one; new levels
        that cross client orders trade with them as any taker would.
        """
        book = self.books[symbol]
        mm = self.market_maker
        now = self._clock_ms()
        wanted = (dict(bids), dict(asks))
        current = self._mm_quotes[symbol]
        for side_orders, side_wanted in zip(current, wanted):
            for price, order in list(side_orders.items()):
                if not order.is_open:
                    del side_orders[price]
                    continue
                qty = side_wanted.get(price)
                if qty is None or qty != order.orig_qty - order.executed_qty:
                    self._cancel(book, order, now)
                    del side_orders[price]
        for is_buy, side_orders, side_wanted in ((True, current[0], wanted[0]), (False, current[1], wanted[1])):
            for price, qty in side_wanted.items():
                if price in side_orders or qty <= 0:
                    continue
                try:
                    order = self._place(mm, book, is_buy, LIMIT, GTC, price, qty, ZERO, None, check_market_notional=False)
                except BinanceError as exc:
                    logger.warning("venue %s market maker cannot quote %s %s %s @ %s: %s", self.name, symbol,
                                   "BUY" if is_buy else "SELL", qty, price, exc.msg)
                    continue
                if order.is_open:
                    side_orders[price] = order

    def market_maker_quotes(self, symbol: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """The market maker's resting (bids, asks) as price -> remaining qty."""
        bids, asks = self._mm_quotes[symbol]
        return ({p: o.remaining for p, o in bids.items() if o.is_open}, {p: o.remaining for p, o in asks.items() if o.is_open})

    # ------------------------------------------------------------------ depth stream

    def drain_depth_events(self) -> list[dict[str, Any]]:
        """One Binance ``depthUpdate`` per symbol whose levels changed since the previous drain."""
        events = []
        now = self._clock_ms()
        for symbol, book in self.books.items():
            if book.first_pending_id is None:
                continue
            events.append({
                "e": "depthUpdate",
                "E": now,
                "s": symbol,
                "U": book.first_pending_id,
                "u": book.update_id,
                "b": [[fmt(p), fmt(q)] for p, q in sorted(book.pending_bids.items(), reverse=True)],
                "a": [[fmt(p), fmt(q)] for p, q in sorted(book.pending_asks.items())],
            })
            book.first_pending_id = None
            book.pending_bids = {}
            book.pending_asks = {}
        return events

    # ------------------------------------------------------------------ inspection (/_sim)

    def sim_orders(self, include_market_maker: bool = False) -> list[dict[str, Any]]:
        """Every client order ever accepted (with fills); the market maker's open orders too when asked."""
        out = []
        for account in self.accounts:
            if account.is_market_maker:
                if include_market_maker:
                    out.extend(self._sim_order(o) for o in sorted(account.open_orders.values(), key=lambda o: o.order_id))
                continue
            out.extend(self._sim_order(o) for o in account.orders.values())
        out.sort(key=lambda d: d["orderId"])
        return out

    def _sim_order(self, order: Order) -> dict[str, Any]:
        view = self._order_view(order)
        view["venue"] = self.name
        view["account"] = order.account.name
        view["marketMaker"] = order.account.is_market_maker
        view["origQuoteOrderQty"] = fmt(order.orig_quote_qty)
        # microseconds: a latency measured to the venue (e.g. tick-to-order) needs more than Binance's milliseconds
        view["receivedTimeUs"] = None if order.received_at is None else round(order.received_at * 1_000_000)
        view["fills"] = [
            {"tradeId": t.trade_id, "price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission_for(b)[0]),
             "commissionAsset": t.commission_for(b)[1], "isMaker": b == t.buyer_is_maker, "time": t.time}
            for t, b in (order.fills or ())
        ]
        return view

    def sim_trades(self, include_market_maker: bool = True) -> list[dict[str, Any]]:
        out = []
        for t in self.trades:
            if not include_market_maker and t.buyer.is_market_maker and t.seller.is_market_maker:
                continue
            out.append({
                "venue": self.name,
                "symbol": t.symbol,
                "id": t.trade_id,
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "quoteQty": fmt(t.quote_qty),
                "time": t.time,
                "buyer": t.buyer.name,
                "seller": t.seller.name,
                "buyerOrderId": t.buy_order.order_id,
                "sellerOrderId": t.sell_order.order_id,
                "buyerIsMaker": t.buyer_is_maker,
                "buyerCommission": fmt(t.buyer_commission),
                "buyerCommissionAsset": t.base,
                "sellerCommission": fmt(t.seller_commission),
                "sellerCommissionAsset": t.quote,
            })
        return out

    def sim_balances(self, include_market_maker: bool = True) -> dict[str, dict[str, dict[str, str]]]:
        """Balances by account name (never keys or secrets)."""
        return {
            account.name: {asset: {"free": fmt(b.free), "locked": fmt(b.locked)} for asset, b in sorted(account.balances.items())}
            for account in self.accounts
            if include_market_maker or not account.is_market_maker
        }

    def sim_fees(self) -> dict[str, str]:
        return {asset: fmt(amount) for asset, amount in sorted(self.collected_fees.items())}

    def total_assets(self) -> dict[str, Decimal]:
        """Per asset: every account's free + locked plus the fees collected. Constant over the venue's life."""
        totals: dict[str, Decimal] = {}
        for account in self.accounts:
            for asset, balance in account.balances.items():
                totals[asset] = totals.get(asset, ZERO) + balance.free + balance.locked
        for asset, amount in self.collected_fees.items():
            totals[asset] = totals.get(asset, ZERO) + amount
        return totals


def _take(levels: Iterator[PriceLevel], limit: int) -> Iterator[PriceLevel]:
    for index, level in enumerate(levels):
        if index >= limit:
            return
        yield level


def _trim_plan(plan: list[_PlanEntry], cap: Decimal) -> tuple[list[_PlanEntry], Decimal, Decimal]:
    trimmed: list[_PlanEntry] = []
    total_qty = total_quote = ZERO
    for maker, qty, price in plan:
        if total_qty >= cap:
            break
        take = min(qty, cap - total_qty)
        trimmed.append((maker, take, price))
        total_qty += take
        total_quote += take * price
    return trimmed, total_qty, total_quote


def _market_maker_balances(symbols: list[SymbolSpec]) -> dict[str, Decimal]:
    """Large balances for the market maker: a billion in each quote asset and as much base as that buys."""
    balances: dict[str, Decimal] = {}
    for spec in symbols:
        balances[spec.quote] = Decimal("1000000000")
    for spec in symbols:
        if spec.base not in balances:
            balances[spec.base] = _floor_to_step(Decimal("1000000000") / spec.fair_price, spec.step_size)
    return balances
