"""OKX v5 spot semantics of a simulated venue, on the dialect-free ``simulator.core.engine.Engine``.

``OkxEngine``'s handlers take what the server parsed (query strings as ``dict[str, str]``; a POST body's JSON object)
and return the ``data`` list of OKX's envelope ``{"code": "0", "msg": "", "data": [...]}``. A refusal of the whole
request is an ``OkxError`` (its ``code``, ``msg``, HTTP status); a refusal of one order is an ``OrderFailure`` (its
``sCode`` / ``sMsg``), which the order handlers turn into a per-order entry of ``data``, as OKX does.

OKX's rules as it states them: instrument ids ``BTC-USDT``; sizes on ``lotSz`` and at least ``minSz``; prices on
``tickSz``; ``clOrdId`` 1-32 letters and digits, unique per account; ``tdMode`` ``cash`` for spot. Numbers are strings
without trailing zeros, timestamps are millisecond strings, absent values are ``""``. Fees are negative (a charge),
in the currency received. An order answer carries ids only (``ordId``, ``clOrdId``, ``sCode``); what an order did
comes from ``trade/order``, ``trade/orders-history`` and ``trade/fills-history``. An IOC order that fills partly ends
``canceled`` with its ``accFillSz``; a post-only order that would take is refused (real OKX accepts and cancels it).

This file is about 500 lines: it is OKX's parameter grammar and answer shapes for every endpoint, one method each, as
``simulator.binance.engine`` is Binance's; the server (``simulator.okx.server``) does HTTP, signing and WebSockets.
"""
from __future__ import annotations

import re
import zlib
from decimal import Decimal
from typing import Any, Iterable

from simulator.core.book import (
    BUY, CANCELED, EXPIRED, FILLED, FOK, GTC, IOC, LIMIT, LIMIT_MAKER, MARKET, NEW, PARTIALLY_FILLED, ZERO, Account,
    Order, SymbolBook, _take,
)
from simulator.core.engine import INSUFFICIENT_BALANCE, MARKET_NOTIONAL, WOULD_TAKE, DepthChange, Engine, Refusal

MAX_BOOK_LEVELS = 400
MAX_FULL_BOOK_LEVELS = 5000
CHECKSUM_LEVELS = 25
MAX_PAGE = 100
MAX_BATCH = 20

_NUMBER_RE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_INTEGER_RE = re.compile(r"[0-9]{1,20}")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
_TAG_RE = re.compile(r"[A-Za-z0-9]{1,16}")

# ordType -> (core order type, time in force)
_ORD_TYPES = {
    "limit": (LIMIT, GTC),
    "ioc": (LIMIT, IOC),
    "fok": (LIMIT, FOK),
    "post_only": (LIMIT_MAKER, GTC),
    "market": (MARKET, GTC),
}
_STATES = {NEW: "live", PARTIALLY_FILLED: "partially_filled", FILLED: "filled", CANCELED: "canceled",
           EXPIRED: "canceled"}
_ORDER_KEYS = frozenset({"instId", "tdMode", "side", "ordType", "sz", "px", "clOrdId", "tag", "tgtCcy", "ccy",
                         "reduceOnly", "posSide", "banAmend", "stpMode", "stpId", "quickMgnType"})

MSG_INST_MISSING = "Instrument ID does not exist"
MSG_ORDER_MISSING = "Order does not exist"
MSG_CANCEL_FAILED = "Order cancellation failed as the order has been filled, canceled or does not exist."


class OkxError(Exception):
    """A refusal of the whole request: OKX's top-level ``code`` and ``msg`` with an HTTP status (and ``data``)."""

    def __init__(self, code: str, msg: str, http_status: int = 200, data: list[Any] | None = None) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.data = data or []

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": self.data}


class OrderFailure(Exception):
    """A refusal of one order (or one cancel): the ``sCode`` and ``sMsg`` of its entry in ``data``."""

    def __init__(self, s_code: str, s_msg: str) -> None:
        super().__init__(f"{s_code} {s_msg}")
        self.s_code = s_code
        self.s_msg = s_msg


def _param_error(name: str) -> OrderFailure:
    return OrderFailure("51000", f"Parameter {name} error")


def _empty(name: str) -> OkxError:
    return OkxError("50014", f"Parameter {name} can not be empty")


def num(value: Decimal) -> str:
    """OKX's number format: plain digits, no exponent, no trailing zeros."""
    if not value:
        return "0"
    text = format(value.normalize(), "f")
    return text


def inst_id(book: SymbolBook) -> str:
    return f"{book.spec.base}-{book.spec.quote}"


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's book checksum: CRC32 (signed 32-bit) of the top 25 levels, bid then ask interleaved, ``px:sz``."""
    parts: list[str] = []
    for index in range(CHECKSUM_LEVELS):
        if index < len(bids):
            parts += bids[index][:2]
        if index < len(asks):
            parts += asks[index][:2]
    value = zlib.crc32(":".join(parts).encode())
    return value - 2**32 if value >= 2**31 else value


class OkxEngine(Engine):
    """One simulated venue speaking OKX v5 spot: the core engine plus OKX's REST semantics and ``books`` data."""

    def __init__(self, config: Any, symbols: list[Any], clock_ms: Any) -> None:
        super().__init__(config, symbols, clock_ms)
        self.by_inst_id: dict[str, SymbolBook] = {inst_id(book): book for book in self.books.values()}
        self.passphrases: dict[str, str] = {a.name: a.passphrase for a in config.accounts}
        self.track_order_updates = True  # the private ``orders`` channel (simulator.okx.private)

    # ------------------------------------------------------------------ helpers

    def _book(self, params: dict[str, Any], required: bool = True) -> SymbolBook | None:
        value = params.get("instId")
        if not value:
            if required:
                raise _empty("instId")
            return None
        book = self.by_inst_id.get(value) if isinstance(value, str) else None
        if book is None:
            raise OkxError("51001", MSG_INST_MISSING)
        return book

    @staticmethod
    def _inst_type(params: dict[str, str], required: bool) -> bool:
        """True when the request asks for SPOT (or, optional and absent, for everything)."""
        value = params.get("instType")
        if not value:
            if required:
                raise _empty("instType")
            return True
        if value not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"):
            raise OkxError("51000", "Parameter instType error")
        return value in ("SPOT", "ANY")

    @staticmethod
    def _int(params: dict[str, str], name: str, default: int | None) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        if not _INTEGER_RE.fullmatch(raw):
            raise OkxError("51000", f"Parameter {name} error")
        return int(raw)

    def _limit(self, params: dict[str, str], default: int = MAX_PAGE, maximum: int = MAX_PAGE) -> int:
        limit = self._int(params, "limit", default)
        assert limit is not None
        if limit < 1:
            raise OkxError("51000", "Parameter limit error")
        return min(limit, maximum)

    def _levels(self, book: SymbolBook, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        def side(levels: Iterable[Any]) -> list[list[str]]:
            return [[num(level.price), num(level.total), "0", str(len(level.orders))] for level in levels]
        return side(_take(book.bids.walk(), limit)), side(_take(book.asks.walk(), limit))

    # ------------------------------------------------------------------ public

    def time(self, params: dict[str, str]) -> list[dict[str, str]]:
        return [{"ts": str(self._clock_ms())}]

    def instruments(self, params: dict[str, str]) -> list[dict[str, str]]:
        if not self._inst_type(params, required=True):
            return []
        books = [self._book(params)] if params.get("instId") else list(self.books.values())
        return [self._instrument(book) for book in books if book is not None]

    def _instrument(self, book: SymbolBook) -> dict[str, str]:
        spec = book.spec
        return {
            "instType": "SPOT", "instId": inst_id(book), "instIdCode": str(zlib.crc32(inst_id(book).encode()) % 10**6),
            "uly": "", "instFamily": "", "baseCcy": spec.base, "quoteCcy": spec.quote, "settleCcy": "", "ctVal": "",
            "ctMult": "", "ctValCcy": "", "optType": "", "stk": "", "listTime": "1600000000000", "expTime": "",
            "lever": "", "tickSz": num(spec.tick_size), "lotSz": num(spec.step_size), "minSz": num(spec.min_qty),
            "ctType": "", "alias": "", "state": "live", "ruleType": "normal", "maxLmtSz": num(spec.max_qty),
            "maxMktSz": num(spec.max_qty), "maxLmtAmt": num(spec.max_notional), "maxMktAmt": num(spec.max_notional),
            "maxTwapSz": "", "maxIcebergSz": "", "maxTriggerSz": "", "maxStopSz": "",
        }

    def currencies(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """``asset/currencies``: one chain per asset (ccxt's ``load_markets`` asks for it when it holds keys)."""
        return [{"ccy": asset, "name": asset, "chain": f"{asset}-{asset}", "canDep": False, "canWd": False,
                 "canInternal": False, "minWd": "0", "maxWd": "0", "wdTickSz": "8", "minFee": "0", "maxFee": "0",
                 "mainNet": True, "logoLink": ""} for asset in self.assets]

    def books_snapshot(self, params: dict[str, str], maximum: int = MAX_BOOK_LEVELS) -> list[dict[str, Any]]:
        book = self._book(params)
        assert book is not None
        size = self._int(params, "sz", 1)
        assert size is not None
        bids, asks = self._levels(book, max(1, min(size, maximum)))
        return [{"asks": asks, "bids": bids, "ts": str(self._clock_ms())}]

    def books_full(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return self.books_snapshot(params, MAX_FULL_BOOK_LEVELS)

    def ticker(self, params: dict[str, str]) -> list[dict[str, str]]:
        book = self._book(params)
        assert book is not None
        return [self._ticker(book)]

    def tickers(self, params: dict[str, str]) -> list[dict[str, str]]:
        if not self._inst_type(params, required=True):
            return []
        return [self._ticker(book) for book in self.books.values()]

    def _ticker(self, book: SymbolBook) -> dict[str, str]:
        stats = book.stats
        last = self.reference_price(book)
        open_price = stats.open_price if stats.open_price is not None else last
        bid, ask = book.bids.best(), book.asks.best()
        return {
            "instType": "SPOT", "instId": inst_id(book), "last": num(last), "lastSz": num(stats.last_qty),
            "askPx": num(ask.price) if ask else "", "askSz": num(ask.total) if ask else "",
            "bidPx": num(bid.price) if bid else "", "bidSz": num(bid.total) if bid else "",
            "open24h": num(open_price), "high24h": num(stats.high if stats.high is not None else last),
            "low24h": num(stats.low if stats.low is not None else last), "volCcy24h": num(stats.quote_volume),
            "vol24h": num(stats.volume), "sodUtc0": num(open_price), "sodUtc8": num(open_price),
            "ts": str(self._clock_ms()),
        }

    # ------------------------------------------------------------------ account

    def balance(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted = set(filter(None, (params.get("ccy") or "").split(",")))
        now = str(self._clock_ms())
        details = []
        for asset in sorted(set(self.assets) | set(account.balances)):
            if wanted and asset not in wanted:
                continue
            balance = account.balances.get(asset)
            free = balance.free if balance else ZERO
            locked = balance.locked if balance else ZERO
            details.append({
                "ccy": asset, "eq": num(free + locked), "cashBal": num(free + locked), "availBal": num(free),
                "frozenBal": num(locked), "ordFrozen": num(locked), "availEq": "", "disEq": "", "eqUsd": "",
                "upl": "0", "uTime": now,
            })
        return [{"uTime": now, "totalEq": "", "adjEq": "", "imr": "", "mmr": "", "details": details}]

    def trade_fee(self, account: Account, params: dict[str, str]) -> list[dict[str, str]]:
        if not self._inst_type(params, required=True):
            raise OkxError("51000", "Parameter instType error")
        return [{"category": "1", "delivery": "", "exercise": "", "instType": "SPOT", "level": "Lv1",
                 "maker": num(-self.maker_fee), "taker": num(-self.taker_fee), "makerU": "", "takerU": "",
                 "ts": str(self._clock_ms())}]

    # ------------------------------------------------------------------ orders

    def place_order(self, account: Account, request: Any, received_at: float | None = None) -> dict[str, str]:
        """One order of ``trade/order`` or ``trade/batch-orders``: its ``data`` entry (``OrderFailure`` on refusal)."""
        if not isinstance(request, dict):
            raise OkxError("50002", "Json data format error")
        for key, value in request.items():
            if key in _ORDER_KEYS and not isinstance(value, str):
                raise _param_error(key)
        book = self.by_inst_id.get(request.get("instId") or "")
        if not request.get("instId"):
            raise OrderFailure("50014", "Parameter instId can not be empty")
        if book is None:
            raise OrderFailure("51001", MSG_INST_MISSING)
        spec = book.spec
        if request.get("tdMode") != "cash":
            raise _param_error("tdMode")
        side = request.get("side")
        if side not in ("buy", "sell"):
            raise _param_error("side")
        ord_type = request.get("ordType")
        if ord_type not in _ORD_TYPES:
            raise _param_error("ordType")
        order_type, tif = _ORD_TYPES[ord_type]
        size = _number(request.get("sz"), "sz")
        price = _number(request.get("px"), "px") if order_type != MARKET else None
        if order_type != MARKET and price is None:
            raise _param_error("px")
        tgt_ccy = request.get("tgtCcy") or "base_ccy"
        if tgt_ccy not in ("base_ccy", "quote_ccy") or (tgt_ccy == "quote_ccy" and order_type != MARKET):
            raise _param_error("tgtCcy")
        client_order_id = request.get("clOrdId") or None
        if client_order_id is not None and not CLIENT_ID_RE.fullmatch(client_order_id):
            raise _param_error("clOrdId")
        tag = request.get("tag") or ""
        if tag and not _TAG_RE.fullmatch(tag):
            raise _param_error("tag")
        if client_order_id is not None and self.client_order_id_used(account, client_order_id):
            raise OrderFailure("51016", "Duplicated clOrdId")
        by_quote = tgt_ccy == "quote_ccy"
        if not by_quote:
            if size < spec.min_qty:
                raise OrderFailure("51020", "Order amount should be greater than the min available amount.")
            if size % spec.step_size:
                raise OrderFailure("51121", "Order quantity must be a multiple of the lot size.")
            if size > spec.max_qty:
                raise OrderFailure("51005", "Order amount exceeds the limit.")
        elif size <= 0:
            raise _param_error("sz")
        if price is not None:
            if price <= 0 or price % spec.tick_size:
                raise _param_error("px")
            if price < spec.min_price or price > spec.max_price:
                raise OrderFailure("51006", "Order price is not within the price limit.")
        try:
            order = self.place(account, spec.symbol, is_buy=side == "buy", order_type=order_type, time_in_force=tif,
                               price=price or ZERO, quantity=ZERO if by_quote else size,
                               quote_qty=size if by_quote else ZERO, client_order_id=client_order_id,
                               received_at=received_at, check_market_notional=False)
        except Refusal as refusal:
            raise _refusal(refusal.reason, spec.quote if side == "buy" else spec.base) from None
        return {"ordId": str(order.order_id), "clOrdId": client_order_id or "", "tag": tag,
                "ts": str(order.time), "sCode": "0", "sMsg": "Order placed"}

    def cancel_order(self, account: Account, request: Any) -> dict[str, str]:
        if not isinstance(request, dict):
            raise OkxError("50002", "Json data format error")
        book = self._book(request)
        assert book is not None
        order = self._find(account, book, request)
        if order is None or not order.is_open:
            raise OrderFailure("51400", MSG_CANCEL_FAILED)
        self.cancel(order)
        return {"ordId": str(order.order_id), "clOrdId": _client_id(order), "ts": str(order.update_time),
                "sCode": "0", "sMsg": ""}

    def _find(self, account: Account, book: SymbolBook, params: dict[str, Any]) -> Order | None:
        order_id, client_order_id = params.get("ordId") or None, params.get("clOrdId") or None
        if order_id is None and client_order_id is None:
            raise OkxError("51003", "Either client order ID or order ID is required.")
        if order_id is not None:
            if not isinstance(order_id, str) or not _INTEGER_RE.fullmatch(order_id):
                return None
            order = account.orders.get(int(order_id))
        else:
            order = account.latest_by_client_id.get((book.spec.symbol, client_order_id))  # type: ignore[arg-type]
        if order is None or order.symbol != book.spec.symbol:
            return None
        return order

    def get_order(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        book = self._book(params)
        assert book is not None
        order = self._find(account, book, params)
        if order is None:
            raise OkxError("51603", MSG_ORDER_MISSING)
        return [self.order_view(order)]

    def orders_pending(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        if not self._inst_type(params, required=False):
            return []
        book = self._book(params, required=False)
        orders = [o for o in account.open_orders.values() if book is None or o.symbol == book.spec.symbol]
        return [self.order_view(o) for o in self._page(orders, params)]

    def orders_history(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        if not self._inst_type(params, required=True):
            return []
        book = self._book(params, required=False)
        state = params.get("state") or None
        if state not in (None, "filled", "canceled"):
            raise OkxError("51000", "Parameter state error")
        begin, end = self._int(params, "begin", None), self._int(params, "end", None)
        orders = [o for o in account.orders.values() if not o.is_open
                  and (book is None or o.symbol == book.spec.symbol)
                  and (state is None or _STATES[o.status] == state)
                  and (begin is None or o.update_time >= begin) and (end is None or o.update_time <= end)]
        return [self.order_view(o) for o in self._page(orders, params)]

    def _page(self, orders: list[Order], params: dict[str, str]) -> list[Order]:
        """Newest first; ``after`` (older than that ordId), ``before`` (newer), ``limit``."""
        after, before = self._int(params, "after", None), self._int(params, "before", None)
        selected = sorted((o for o in orders if (after is None or o.order_id < after)
                           and (before is None or o.order_id > before)), key=lambda o: o.order_id, reverse=True)
        return selected[:self._limit(params)]

    def fills_recent(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """``trade/fills`` (the last days on the real OKX): as ``fills-history`` with ``instType`` optional."""
        return self.fills(account, params, inst_type_required=False)

    def fills(self, account: Account, params: dict[str, str], inst_type_required: bool = True) -> list[dict[str, Any]]:
        """``trade/fills-history``: the account's fills, newest first (``instId``, ``ordId``, ``begin``, ``end``)."""
        if not self._inst_type(params, required=inst_type_required):
            return []
        book = self._book(params, required=False)
        order_id = self._int(params, "ordId", None)
        begin, end = self._int(params, "begin", None), self._int(params, "end", None)
        symbols = [book.spec.symbol] if book is not None else list(self.books)
        entries = []
        for symbol in symbols:
            for trade, is_buyer in account.trades_by_symbol.get(symbol, []):
                own = trade.buy_order if is_buyer else trade.sell_order
                if ((order_id is None or own.order_id == order_id) and (begin is None or trade.time >= begin)
                        and (end is None or trade.time <= end)):
                    entries.append((trade, is_buyer, own))
        entries.sort(key=lambda e: e[0].trade_id, reverse=True)
        out = []
        for trade, is_buyer, own in entries[:self._limit(params)]:
            commission, asset = trade.commission_for(is_buyer)
            out.append({
                "instType": "SPOT", "instId": inst_id(self.books[trade.symbol]), "tradeId": str(trade.trade_id),
                "ordId": str(own.order_id), "clOrdId": _client_id(own), "billId": str(trade.trade_id * 10 + is_buyer),
                "subType": "1" if is_buyer else "2", "tag": "", "fillPx": num(trade.price), "fillSz": num(trade.qty),
                "fillIdxPx": "", "fillPnl": "0", "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "",
                "fillFwdPx": "", "fillMarkPx": "", "side": "buy" if is_buyer else "sell", "posSide": "net",
                "execType": "M" if is_buyer == trade.buyer_is_maker else "T", "feeCcy": asset,
                "fee": num(-commission), "ts": str(trade.time), "fillTime": str(trade.time),
            })
        return out

    def order_view(self, order: Order) -> dict[str, Any]:
        book = self.books[order.symbol]
        fee_ccy = book.spec.base if order.is_buy else book.spec.quote
        fee = sum((trade.commission_for(is_buyer)[0] for trade, is_buyer in order.fills or ()), ZERO)
        last = (order.fills or [None])[-1]
        by_quote = order.type == MARKET and order.orig_quote_qty > 0
        ord_type = next(name for name, kind in _ORD_TYPES.items() if kind == (order.type, order.time_in_force)) \
            if order.type != MARKET else "market"
        return {
            "instType": "SPOT", "instId": inst_id(book), "tgtCcy": "quote_ccy" if by_quote else "", "ccy": "",
            "ordId": str(order.order_id), "clOrdId": _client_id(order), "tag": "",
            "px": num(order.price) if order.type != MARKET else "", "pxUsd": "", "pxVol": "", "pxType": "",
            "sz": num(order.orig_quote_qty if by_quote else order.orig_qty), "pnl": "0", "ordType": ord_type,
            "side": "buy" if order.is_buy else "sell", "posSide": "net", "tdMode": "cash",
            "accFillSz": num(order.executed_qty),
            "fillPx": num(last[0].price) if last else "", "tradeId": str(last[0].trade_id) if last else "",
            "fillSz": num(last[0].qty) if last else "0", "fillTime": str(last[0].time) if last else "",
            "avgPx": num(order.cum_quote / order.executed_qty) if order.executed_qty else "",
            "state": _STATES[order.status], "lever": "", "attachAlgoClOrdId": "", "tpTriggerPx": "",
            "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "",
            "attachAlgoOrds": [], "stpId": "", "stpMode": "", "feeCcy": fee_ccy, "fee": num(-fee),
            "rebateCcy": book.spec.quote if order.is_buy else book.spec.base, "rebate": "0", "source": "",
            "category": "normal", "reduceOnly": "false", "isTpLimit": "false", "cancelSource": "",
            "cancelSourceReason": "", "quickMgnType": "", "algoClOrdId": "", "algoId": "",
            "uTime": str(order.update_time), "cTime": str(order.time),
        }

    # ------------------------------------------------------------------ books channel

    def book_message(self, symbol: str, *, snapshot: bool, change: DepthChange | None = None) -> dict[str, Any]:
        """One ``books`` push: the whole book (snapshot, ``prevSeqId`` -1) or one drained change; ``checksum`` over
        the book's top 25 levels as they are now (after the change)."""
        book = self.books[symbol]
        top_bids, top_asks = self._levels(book, CHECKSUM_LEVELS)
        if snapshot:
            bids, asks = self._levels(book, MAX_BOOK_LEVELS)
            seq, prev = book.update_id, -1
        else:
            assert change is not None
            bids = [[num(p), num(q), "0", str(_orders_at(book.bids, p))]
                    for p, q in sorted(change.bids.items(), reverse=True)]
            asks = [[num(p), num(q), "0", str(_orders_at(book.asks, p))] for p, q in sorted(change.asks.items())]
            seq, prev = change.last_id, change.first_id - 1
        return {
            "arg": {"channel": "books", "instId": inst_id(book)},
            "action": "snapshot" if snapshot else "update",
            "data": [{"asks": asks, "bids": bids, "ts": str(self._clock_ms()),
                      "checksum": checksum(top_bids, top_asks), "prevSeqId": prev, "seqId": seq}],
        }

    def books5_message(self, symbol: str) -> dict[str, Any]:
        """One ``books5`` push: the top 5 levels a side, no ``action`` (each push replaces the book)."""
        book = self.books[symbol]
        bids, asks = self._levels(book, 5)
        return {"arg": {"channel": "books5", "instId": inst_id(book)},
                "data": [{"asks": asks, "bids": bids, "instId": inst_id(book), "ts": str(self._clock_ms()),
                          "seqId": book.update_id}]}


def _orders_at(side: Any, price: Decimal) -> int:
    level = side.levels.get(price)
    return len(level.orders) if level is not None else 0


def _client_id(order: Order) -> str:
    """The order's clOrdId as OKX shows it: "" when the client sent none (the core's own ``sim-`` ids)."""
    return "" if order.client_order_id.startswith("sim-") else order.client_order_id


def _number(raw: Any, name: str) -> Decimal:
    if not isinstance(raw, str) or not _NUMBER_RE.fullmatch(raw):
        raise _param_error(name)
    return Decimal(raw)


def _refusal(reason: str, spend_asset: str) -> OrderFailure:
    if reason == INSUFFICIENT_BALANCE:
        return OrderFailure("51008", f"Order failed. Insufficient {spend_asset} balance in account.")
    if reason == WOULD_TAKE:
        return OrderFailure("51000", "Parameter ordType error: a post_only order would take liquidity.")
    if reason == MARKET_NOTIONAL:  # not raised: market orders are placed with check_market_notional=False
        return OrderFailure("51020", "Order amount should be greater than the min available amount.")
    return OrderFailure("51000", "Order rejected.")


__all__ = ["BUY", "OkxEngine", "OkxError", "OrderFailure", "checksum", "inst_id", "num"]
