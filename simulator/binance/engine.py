"""Binance spot v3 semantics of a simulated venue, on the dialect-free ``simulator.core.engine.Engine``.

``BinanceEngine``'s REST handlers take the request parameters as raw strings, exactly as received, validate them as
Binance spot v3 does and return JSON-ready dicts of strings; every refusal is a ``BinanceError`` carrying Binance's
HTTP status, code and message, raised before anything has changed (the core's ``Refusal`` reasons are mapped here).
``drain_depth_events`` renders the core's level changes as Binance ``depthUpdate`` events.

The server (``simulator.binance.server``) does HTTP, signing, faults and JSON; see docs/simulator-engine-contract.md.
This file is over 500 lines: it is Binance's parameter grammar and answer shapes for every endpoint, one table each.
"""
from __future__ import annotations

import json
import re
import zlib
from decimal import Decimal
from typing import Any

from simulator.config import SymbolSpec
from simulator.core.book import (
    BUY, FOK, GTC, IOC, LIMIT, LIMIT_MAKER, MARKET, SELL, ZERO, Account, Balance, Order, SymbolBook, _Q8,
    _take, fmt,
)
from simulator.core.engine import INSUFFICIENT_BALANCE, MARKET_NOTIONAL, WOULD_TAKE, DepthChange, Engine, Refusal

_MAX_DECIMALS = 8

# Binance's parameter grammars.
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_NUMBER_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_INTEGER_RE = re.compile(r"^[0-9]{1,20}$")
_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"

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



_REFUSALS = {
    INSUFFICIENT_BALANCE: lambda: BinanceError(-2010, MSG_INSUFFICIENT),
    WOULD_TAKE: lambda: BinanceError(-2010, MSG_WOULD_TAKE),
    MARKET_NOTIONAL: lambda: _filter_failure("NOTIONAL"),
}


class BinanceEngine(Engine):
    """One simulated Binance spot venue: the core engine plus Binance's REST handlers and depth events."""


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

    def _ticker(self, book: SymbolBook, now: int) -> dict[str, Any]:
        stats = book.stats
        last = self.reference_price(book)
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
        out = [{"symbol": book.spec.symbol, "price": fmt(self.reference_price(book))} for book in books]
        return out[0] if single else out

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

        try:
            order = self.place(account, spec.symbol, is_buy=side == BUY, order_type=order_type, time_in_force=tif,
                               price=price or ZERO, quantity=quantity or ZERO, quote_qty=quote_qty or ZERO,
                               client_order_id=client_order_id, received_at=received_at)
        except Refusal as refusal:
            raise _REFUSALS[refusal.reason]() from None
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


    # ------------------------------------------------------------------ depth stream

    def drain_depth_events(self) -> list[dict[str, Any]]:
        """One Binance ``depthUpdate`` per symbol whose levels changed since the previous drain."""
        now = self._clock_ms()
        return [self.depth_event(change, now) for change in self.drain_depth_changes()]

    @staticmethod
    def depth_event(change: DepthChange, now: int) -> dict[str, Any]:
        """The Binance ``depthUpdate`` of one drained change."""
        return {
            "e": "depthUpdate",
            "E": now,
            "s": change.symbol,
            "U": change.first_id,
            "u": change.last_id,
            "b": [[fmt(p), fmt(q)] for p, q in sorted(change.bids.items(), reverse=True)],
            "a": [[fmt(p), fmt(q)] for p, q in sorted(change.asks.items())],
        }
