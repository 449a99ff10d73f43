"""OKX's dialect of a simulated venue: v5 REST under ``/api/v5``, its request signing and answer envelope, the
public WebSocket (``/ws/v5/public``) with the ``books`` and ``books5`` channels and text ``ping``/``pong``, and the
private one (``/ws/v5/private``: ``login`` and the ``orders`` channel, ``simulator.okx.private``).

``OkxServer`` is a ``simulator.core.server.VenueServer``: the core does listening, faults and ``/_sim/``; this module
does routing, OKX's signing (``OK-ACCESS-KEY``, ``OK-ACCESS-PASSPHRASE``, ``OK-ACCESS-TIMESTAMP`` in ISO 8601,
``OK-ACCESS-SIGN`` = base64 HMAC-SHA256 of timestamp + method + path with query + body, checked against the raw request
bytes), the envelope ``{"code", "msg", "data"}`` and OKX's codes for what a trading client meets: 50103-50107 and
50111-50113 (keys, passphrase, signature; HTTP 401), 50102 (timestamp more than 30 s off), 50011 (rate limit, HTTP
429), 51001, 51003, 51603, and per order ``sCode`` 51000/51005/51006/51008/51016/51020/51121/51400.

Faults answer in OKX's words: a throttled request is HTTP 429 ``50011``; a configured order rejection is ``code`` "1"
with the order's ``sCode`` (``reject_code`` when it is positive, i.e. an OKX code; otherwise 51000), or, when
``reject_status`` is 5xx, the top-level ``50004`` ("does not indicate success or failure"); a lying answer can only
lie about ``clOrdId`` (an OKX order answer carries ids only; other lies leave it true). ``ws_bad_checksum_next``
corrupts the checksum of the next ``books`` pushes; ``ws_disconnect_next`` and ``book_lie`` reach ``books``, ``books5``
and (the former) the private ``orders`` channel; a due ``phantom_fill_next`` is made at the next
``trade/fills(-history)`` read or, for an account watching ``orders``, at once and pushed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import zlib
from datetime import datetime
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from simulator.core.bad_replies import ReplyShape
from simulator.core.engine import DepthChange
from simulator.core.server import VenueServer, _WsConnection, dumps, json_response
from simulator.core.tampering import phantom_fill
from simulator.faults import Action
from simulator.okx.engine import MAX_BATCH, OkxEngine, OkxError, OrderFailure, inst_id
from simulator.okx.private import LoginError, order_push, verify_login

logger = logging.getLogger(__name__)

TIMESTAMP_TOLERANCE_MS = 30_000
MAX_PARAMS = 64
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
PUBLIC_WS_PATH = "/ws/v5/public"
WS_PATHS = frozenset({PUBLIC_WS_PATH, "/ws/v5/private", "/ws/v5/business"})
CHANNELS = ("books", "books5")
FILLS_PATHS = frozenset({"/api/v5/trade/fills", "/api/v5/trade/fills-history"})
MSG_SIM_REJECT = "Order rejected by venue (simulated)."

Route = tuple[Callable[..., Any], bool]  # (handler, signed)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _auth_error(code: str, msg: str) -> OkxError:
    return OkxError(code, msg, http_status=401)


def _parse_query(raw_query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, strict_parsing=False, errors="strict",
                          max_num_fields=MAX_PARAMS)
    except (ValueError, UnicodeDecodeError):
        raise OkxError("50000", "Parameter error") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise OkxError("51000", f"Parameter {name[:40]} error")
        params[name] = value
    return params


class OkxServer(VenueServer):
    """One venue speaking OKX v5 spot (REST on ``/api/v5``, public WebSocket on ``/ws/v5/public``)."""

    dialect = "okx"
    probe_path = "/api/v5/public/time"
    ws_path = "/ws/v5"  # ccxt's ``urls['api']['ws']``; it appends /public
    depth_paths = frozenset({"/api/v5/market/books", "/api/v5/market/books-full"})
    reply_shape = ReplyShape(
        required_fields=frozenset({"instId", "ordId", "clOrdId", "px", "sz", "side", "ordType", "state", "accFillSz",
                                   "avgPx", "sCode", "ts", "bids", "asks", "details", "availBal", "cashBal", "eq",
                                   "fillPx", "fillSz", "tradeId", "fee"}),
        order_id_key="ordId", status_key="state", unknown_status="pending_review",
        envelope_keys=frozenset({"code", "msg"}))
    engine: OkxEngine

    def __init__(self, engine: OkxEngine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v5/public/time"): (engine.time, False),
            ("GET", "/api/v5/public/instruments"): (engine.instruments, False),
            ("GET", "/api/v5/market/books"): (engine.books_snapshot, False),
            ("GET", "/api/v5/market/books-full"): (engine.books_full, False),
            ("GET", "/api/v5/market/ticker"): (engine.ticker, False),
            ("GET", "/api/v5/market/tickers"): (engine.tickers, False),
            ("GET", "/api/v5/asset/currencies"): (engine.currencies, True),
            ("GET", "/api/v5/account/balance"): (engine.balance, True),
            ("GET", "/api/v5/account/trade-fee"): (engine.trade_fee, True),
            ("GET", "/api/v5/trade/order"): (engine.get_order, True),
            ("GET", "/api/v5/trade/orders-pending"): (engine.orders_pending, True),
            ("GET", "/api/v5/trade/orders-history"): (engine.orders_history, True),
            ("GET", "/api/v5/trade/orders-history-archive"): (engine.orders_history, True),
            ("GET", "/api/v5/trade/fills"): (engine.fills_recent, True),
            ("GET", "/api/v5/trade/fills-history"): (engine.fills, True),
            ("POST", "/api/v5/trade/order"): (self._place_one, True),
            ("POST", "/api/v5/trade/batch-orders"): (self._place_batch, True),
            ("POST", "/api/v5/trade/cancel-order"): (self._cancel_one, True),
        }
        self._known_paths = frozenset(path for _, path in self._routes)
        self._books_subscribers: dict[str, set[_WsConnection]] = {}
        self._books5_subscribers: dict[str, set[_WsConnection]] = {}
        # account name -> {(connection, subscription arg as JSON): subscription arg}
        self._orders_subscribers: dict[str, dict[tuple[_WsConnection, str], dict[str, Any]]] = {}

    # --- errors -----------------------------------------------------------------------------------------------------
    def error_response_for(self, exc: Exception) -> web.Response | None:
        if isinstance(exc, OkxError):
            return json_response(exc.body(), status=exc.http_status)
        return None

    def internal_error_response(self) -> web.Response:
        return json_response({"code": "50026", "msg": "System error, please try again later.", "data": []},
                             status=500)

    def http_error_response(self, status: int, reason: str) -> web.Response:
        code = "50026" if status >= 500 else ("50115" if status == 405 else "50000")
        return json_response({"code": code, "msg": reason, "data": []}, status=status)

    def throttled_response(self) -> web.Response:
        faults = self.injector.faults
        # OKX throttles with HTTP 429; 418 (``throttle_status``) is Binance's ban, answered here with the same code so
        # a client's handling of a ban status is testable on this dialect too
        return json_response({"code": "50011", "msg": "Too Many Requests", "data": []}, status=faults.throttle_status,
                             headers={"Retry-After": str(faults.retry_after_s)})

    def _rejection(self, entries: list[dict[str, str]]) -> OkxError:
        """The configured rejection of an order request, in OKX's words."""
        faults = self.injector.faults
        if faults.reject_status >= 500:
            return OkxError("50004", "Endpoint request timeout. (simulated)", http_status=faults.reject_status)
        s_code = str(faults.reject_code) if faults.reject_code > 0 else "51000"
        msg = faults.reject_msg or MSG_SIM_REJECT
        data = [{**entry, "ordId": "", "sCode": s_code, "sMsg": msg} for entry in entries]
        return OkxError("1", "All operations failed", http_status=200, data=data)

    # --- REST -----------------------------------------------------------------------------------------------------
    def is_order_post(self, request: web.BaseRequest) -> bool:
        return request.method == "POST" and request.path in ("/api/v5/trade/order", "/api/v5/trade/batch-orders")

    async def serve_rest(self, request: web.BaseRequest, action: Action, received_at: float) -> web.StreamResponse:
        method, path = request.method, request.path
        route = self._routes.get((method, path))
        if route is None:
            if path in self._known_paths:
                raise OkxError("50115", "Invalid request method.", http_status=405)
            raise OkxError("404", "Not Found", http_status=404)
        handler, signed = route
        raw_path = request.raw_path
        raw_body = await request.read() if request.can_read_body else b""
        params = _parse_query(raw_path.partition("?")[2])
        if not signed:
            return self._ok(handler(params))
        account = self._authenticate(request, raw_path, raw_body)
        if method == "GET":
            if path in FILLS_PATHS and self.injector.faults.phantom_fill_next and self.injector.take_phantom_fill():
                book = self.engine.by_inst_id.get(params.get("instId", ""))
                phantom_fill(self.engine, account, book.spec.symbol if book else self.engine.symbols[0])
            return self._ok(handler(account, params))
        body = self._json_body(raw_body)
        if path == "/api/v5/trade/cancel-order":
            try:
                return self._ok(handler(account, body))
            finally:
                self.publish_depth()
        requests = body if isinstance(body, list) else [body]
        entries = [{"clOrdId": _text(r.get("clOrdId")) if isinstance(r, dict) else "", "tag": "",
                    "ts": str(self.clock_ms())} for r in requests]
        if action is Action.REJECT_ORDER:
            raise self._rejection(entries)
        try:
            data, code, msg = handler(account, body, received_at)
        finally:
            self.publish_depth()
        if action is Action.ACCEPT_THEN_DROP:
            return self._drop(request)
        if action is Action.ACCEPT_THEN_REJECT:
            raise self._rejection(entries)
        if action is Action.LIE and self.injector.faults.lie == "client_order_id":
            data = [{**entry, "clOrdId": "someoneElse" + entry.get("ordId", "")} for entry in data]
        return json_response({"code": code, "msg": msg, "data": data})

    @staticmethod
    def _ok(data: list[Any]) -> web.Response:
        return json_response({"code": "0", "msg": "", "data": data})

    @staticmethod
    def _json_body(raw_body: bytes) -> Any:
        if not raw_body:
            raise OkxError("50000", "Body can not be empty")
        try:
            body = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError):
            raise OkxError("50002", "Json data format error") from None
        if not isinstance(body, (dict, list)):
            raise OkxError("50002", "Json data format error")
        return body

    def _place_one(self, account: Any, body: Any, received_at: float) -> tuple[list[dict[str, str]], str, str]:
        if not isinstance(body, dict):
            raise OkxError("50002", "Json data format error")
        data, code, _ = self._place_batch(account, [body], received_at)
        return data, code, "" if code == "0" else "Operation failed."

    def _place_batch(self, account: Any, body: Any, received_at: float) -> tuple[list[dict[str, str]], str, str]:
        """Each order on its own; ``code`` "0" all placed, "2" some, "1" none (each entry has its ``sCode``)."""
        if not isinstance(body, list) or not body:
            raise OkxError("50002", "Json data format error")
        if len(body) > MAX_BATCH:
            raise OkxError("51111", f"Maximum {MAX_BATCH} orders can be placed in bulk.")
        data = []
        for request in body:
            try:
                data.append(self.engine.place_order(account, request, received_at))
            except OrderFailure as failure:
                client_id = _text(request.get("clOrdId")) if isinstance(request, dict) else ""
                data.append({"ordId": "", "clOrdId": client_id, "tag": "",
                             "ts": str(self.clock_ms()), "sCode": failure.s_code, "sMsg": failure.s_msg})
        failed = sum(entry["sCode"] != "0" for entry in data)
        if not failed:
            return data, "0", ""
        if failed == len(data):
            return data, "1", "All operations failed"
        return data, "2", "Batch operation partially succeeded"

    def _cancel_one(self, account: Any, body: Any) -> list[dict[str, str]]:
        try:
            return [self.engine.cancel_order(account, body)]
        except OrderFailure as failure:
            raise OkxError("1", "Operation failed.", data=[{
                "ordId": _text(body.get("ordId")), "clOrdId": _text(body.get("clOrdId")),
                "ts": str(self.clock_ms()), "sCode": failure.s_code, "sMsg": failure.s_msg}]) from None

    def _authenticate(self, request: web.BaseRequest, raw_path: str, raw_body: bytes) -> Any:
        headers = request.headers
        api_key = headers.get("OK-ACCESS-KEY", "")
        if not api_key:
            raise _auth_error("50103", 'Request header "OK-ACCESS-KEY" can not be empty.')
        account = self.engine.account_for_key(api_key) if len(api_key) <= 256 else None
        if account is None:
            raise _auth_error("50111", "Invalid OK-ACCESS-KEY.")
        passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
        if not passphrase:
            raise _auth_error("50104", 'Request header "OK-ACCESS-PASSPHRASE" can not be empty.')
        expected_passphrase = self.engine.passphrases.get(account.name, "")
        if not hmac.compare_digest(passphrase.encode("utf-8", "surrogateescape"), expected_passphrase.encode()):
            raise _auth_error("50105", "Request header OK-ACCESS-PASSPHRASE incorrect.")
        timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
        if not timestamp:
            raise _auth_error("50107", 'Request header "OK-ACCESS-TIMESTAMP" can not be empty.')
        if not _ISO.fullmatch(timestamp):
            raise _auth_error("50112", "Invalid OK-ACCESS-TIMESTAMP.")
        try:
            sent_ms = int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise _auth_error("50112", "Invalid OK-ACCESS-TIMESTAMP.") from None
        if abs(self.clock_ms() - sent_ms) > TIMESTAMP_TOLERANCE_MS:
            raise _auth_error("50102", "Timestamp request expired.")
        signature = headers.get("OK-ACCESS-SIGN", "")
        if not signature:
            raise _auth_error("50106", 'Request header "OK-ACCESS-SIGN" can not be empty.')
        prehash = (timestamp + request.method + raw_path).encode("utf-8", "surrogateescape") + raw_body
        expected = base64.b64encode(hmac.new(account.secret.encode(), prehash, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape")):
            raise _auth_error("50113", "Invalid Sign.")
        return account

    # --- WebSocket ------------------------------------------------------------------------------------------------
    def is_ws_path(self, path: str) -> bool:
        return path in WS_PATHS

    def watched(self, symbol: str) -> bool:
        return super().watched(symbol) or bool(self._books5_subscribers.get(symbol))

    def on_depth_change(self, change: DepthChange, lie: str | None = None) -> None:
        """``books5`` subscribers get the top 5 levels after every change of their symbol (lying when ``lie``)."""
        subscribers = self._books5_subscribers.get(change.symbol)
        if not subscribers:
            return
        text = dumps(self.engine.books5_message(change.symbol)).decode()
        if lie is not None:
            text = self.lying_text(text, lie)
        for conn in list(subscribers):
            self.push(conn, text)

    def render_depth(self, change: DepthChange) -> str | None:
        """The ``books`` update of one change (the core pushes it to every ``books`` subscriber of the symbol)."""
        message = self.engine.book_message(change.symbol, snapshot=False, change=change)
        if self.injector.faults.ws_bad_checksum_next and self.injector.take_bad_checksum():
            message["data"][0]["checksum"] ^= 0x5A5A
        return dumps(message).decode()

    def _unsubscribe_all(self, conn: _WsConnection) -> None:
        super()._unsubscribe_all(conn)
        for subscribers in self._books5_subscribers.values():
            subscribers.discard(conn)
        for subscriptions in self._orders_subscribers.values():
            for key in [key for key in subscriptions if key[0] is conn]:
                del subscriptions[key]

    def on_ws_binary(self, conn: _WsConnection) -> list[str]:
        return [self._ws_error("60012", "Invalid request: binary frames are not accepted")]

    def _ws_error(self, code: str, msg: str) -> str:
        return dumps({"event": "error", "code": code, "msg": msg, "connId": self._conn_id()}).decode()

    def _conn_id(self) -> str:
        return f"{self.name}-{self.port}"

    def on_ws_text(self, conn: _WsConnection, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        try:
            request = json.loads(text)
        except ValueError:
            return [self._ws_error("60012", f"Invalid request: {text[:60]}")]
        if not isinstance(request, dict):
            return [self._ws_error("60012", "Invalid request: expected a JSON object")]
        op = request.get("op")
        args = request.get("args")
        private = conn.path != PUBLIC_WS_PATH
        if op == "login":
            if not private:
                return [self._ws_error("60008", "Login is not supported for public channels")]
            return [self._login(conn, args)]
        if op not in ("subscribe", "unsubscribe"):
            return [self._ws_error("60019", f"Invalid op: {str(op)[:20]}")]
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            return [self._ws_error("60012", "Invalid request: args must be a list of objects")]
        replies: list[str] = []
        for arg in args:
            if private:
                replies.extend(self._private_subscription(conn, op, arg))
            else:
                replies.extend(self._public_subscription(conn, op, arg))
        return replies

    def _no_channel(self, arg: dict[str, Any]) -> str:
        channel, instrument = arg.get("channel"), arg.get("instId")
        return self._ws_error(
            "60018", f"Wrong URL or channel:{str(channel)[:30]},instId:{str(instrument)[:30]} doesn't exist.")

    def _public_subscription(self, conn: _WsConnection, op: str, arg: dict[str, Any]) -> list[str]:
        channel, instrument = arg.get("channel"), arg.get("instId")
        book = self.engine.by_inst_id.get(instrument) if isinstance(instrument, str) else None
        if channel not in CHANNELS or book is None:
            return [self._no_channel(arg)]
        symbol = book.spec.symbol
        replies = [dumps({"event": op, "arg": {"channel": channel, "instId": instrument},
                          "connId": self._conn_id()}).decode()]
        stream = f"{channel}:{symbol}"
        if op == "unsubscribe":
            conn.streams.discard(stream)
            if channel == "books":
                self.unsubscribe(conn, symbol)
            else:
                self._books5_subscribers.get(symbol, set()).discard(conn)
            return replies
        conn.streams.add(stream)
        self.publish_depth()  # everyone else gets what is pending, so the snapshot starts where updates go on
        if channel == "books":
            self.subscribe(conn, symbol)
            replies.append(dumps(self.engine.book_message(symbol, snapshot=True)).decode())
        else:
            self._books5_subscribers.setdefault(symbol, set()).add(conn)
            replies.append(dumps(self.engine.books5_message(symbol)).decode())
        return replies

    # --- private stream -------------------------------------------------------------------------------------------
    def _login(self, conn: _WsConnection, args: Any) -> str:
        try:
            account = verify_login(self.engine, args, self.clock_ms())
        except LoginError as error:
            return self._ws_error(error.code, error.msg)
        conn.account = account
        return dumps({"event": "login", "code": "0", "msg": "", "connId": self._conn_id()}).decode()

    def _private_subscription(self, conn: _WsConnection, op: str, arg: dict[str, Any]) -> list[str]:
        if arg.get("channel") != "orders" or arg.get("instType") not in ("SPOT", "ANY"):
            return [self._no_channel(arg)]
        instrument = arg.get("instId")
        if instrument is not None and (not isinstance(instrument, str) or instrument not in self.engine.by_inst_id):
            return [self._no_channel(arg)]
        if conn.account is None:
            return [self._ws_error("60011", "Please log in")]
        echo = {key: arg[key] for key in ("channel", "instType", "instId") if key in arg}
        subscriptions = self._orders_subscribers.setdefault(conn.account.name, {})
        key = (conn, dumps(echo).decode())
        if op == "subscribe":
            subscriptions[key] = echo
            conn.streams.add(f"orders:{instrument or '*'}")
        else:
            subscriptions.pop(key, None)
            conn.streams.discard(f"orders:{instrument or '*'}")
        return [dumps({"event": op, "arg": echo, "connId": self._conn_id()}).decode()]

    def on_publish(self) -> None:
        """Push every order update to the ``orders`` subscriptions of its account (instrument filter applied); a due
        phantom fill is made first for an account someone is watching, so the stream shows it as it happens."""
        if self.injector.faults.phantom_fill_next and self.injector.faults.down is None:
            self._phantom_for_watchers()
        updates = self.engine.drain_order_updates()
        if not updates or self.injector.faults.down is not None:
            return
        for update in updates:
            subscriptions = self._orders_subscribers.get(update.order.account.name)
            if not subscriptions:
                continue
            inst = inst_id(self.engine.books[update.order.symbol])
            view = order_push(self.engine, update)
            for (conn, _), echo in list(subscriptions.items()):
                if echo.get("instId", inst) != inst:
                    continue
                arg = {**echo, "uid": str(zlib.crc32(f"{self.name}/{conn.account.name}".encode()))}
                self.push(conn, dumps({"arg": arg, "data": [view]}).decode())

    def _phantom_for_watchers(self) -> None:
        for name, subscriptions in self._orders_subscribers.items():
            account = self.engine.account_by_name(name)
            if not subscriptions or account is None or not self.injector.take_phantom_fill():
                continue
            wanted = {echo.get("instId") for echo in subscriptions.values()}
            book = None if None in wanted else self.engine.by_inst_id.get(sorted(wanted)[0])
            phantom_fill(self.engine, account, book.spec.symbol if book else self.engine.symbols[0])
