"""Binance's dialect of a simulated venue: spot v3 REST, its HMAC-SHA256 signing and errors, the diff-depth stream.

``BinanceServer`` is a ``simulator.core.server.VenueServer``: the core does listening, faults and ``/_sim/``; this
module does routing, request signing, timestamp/recvWindow checks, parameter syntax, Binance's error bodies and the
WebSocket subscription protocol. Every Binance semantic of the business rules (filters, matching, balances, error
codes) lives in ``simulator.binance.engine.BinanceEngine``; the server hands it the raw request parameters and turns
its ``BinanceError`` into Binance's JSON error body with the right HTTP status.

Any unexpected failure is answered as Binance's -1000 with HTTP 500 (logged without keys, secrets or signatures).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from simulator.binance.engine import BinanceEngine, BinanceError
from simulator.core.bad_replies import ReplyShape
from simulator.core.engine import DepthChange
from simulator.core.server import VenueServer, _WsConnection, dumps, error_response, json_response
from simulator.core.tampering import phantom_fill
from simulator.faults import Action

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
FUTURE_TOLERANCE_MS = 1_000
MAX_PARAMS = 64

_DIGITS = re.compile(r"[0-9]{1,20}")
_RECV_WINDOW = re.compile(r"[0-9]{1,20}(\.[0-9]{1,3})?")
_STREAM = re.compile(r"([a-z0-9]{1,30})@depth(@100ms|@1000ms)?")

MSG_UNKNOWN = "An unknown error occurred while processing the request."
MSG_BAD_KEY = "Invalid API-key, IP, or permissions for action."
MSG_KEY_FORMAT = "API-key format invalid."
MSG_BAD_SIGNATURE = "Signature for this request is not valid."
MSG_RECV_WINDOW = "Timestamp for this request is outside of the recvWindow."
MSG_UNSUPPORTED = "This operation is not supported."
MSG_SIM_REJECT = "Order rejected by venue (simulated)."


class ApiError(Exception):
    """A transport-level Binance error raised by the server itself (auth, signing, parameter syntax, routing)."""

    def __init__(self, http_status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.http_status = http_status
        self.code = code
        self.msg = msg


def _mandatory(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")



def _strip_signature(raw: bytes) -> bytes:
    """The signed payload of one part (query or body): the raw text with its ``signature=`` pair removed."""
    if b"signature=" not in raw:
        return raw
    tail = raw.rfind(b"&signature=")
    if tail >= 0 and raw.find(b"&", tail + 1) < 0 and not raw.startswith(b"signature="):
        return raw[:tail]  # ccxt's (and Binance's documented) layout: the signature comes last
    return b"&".join(part for part in raw.split(b"&") if not part.startswith(b"signature="))


def _parse_params(raw_query: bytes, raw_body: bytes) -> dict[str, str]:
    """Query and body pairs merged; a name sent twice or too many pairs is -1101, undecodable text -1100.

    A lean ``parse_qsl(keep_blank_values=True)``: pieces without '%' or '+' (nearly all that ccxt sends) are taken
    as they are instead of going through ``unquote_plus``.
    """
    params: dict[str, str] = {}
    for raw in (raw_query, raw_body):
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, -1100, "Illegal characters found in a parameter.") from None
        pieces = text.split("&")
        if len(pieces) > MAX_PARAMS:
            raise ApiError(400, -1101, "Too many parameters sent for this endpoint.")
        for piece in pieces:
            if not piece:
                continue
            name, _, value = piece.partition("=")
            if "%" in piece or "+" in piece:
                try:
                    name = unquote_plus(name, errors="strict")
                    value = unquote_plus(value, errors="strict")
                except UnicodeDecodeError:
                    raise ApiError(400, -1100, "Illegal characters found in a parameter.") from None
            if name in params:
                raise ApiError(400, -1101, f"Duplicate values for parameter '{name}'.")
            params[name] = value
    return params


Route = tuple[Any, bool]  # (handler, signed)


class BinanceServer(VenueServer):
    """One venue speaking Binance spot v3 (REST on ``/api/v3``, depth stream on ``/stream/ws``)."""

    dialect = "binance"
    probe_path = "/api/v3/ping"
    ws_path = "/stream/ws"
    depth_paths = frozenset({"/api/v3/depth"})
    reply_shape = ReplyShape(
        required_fields=frozenset({"symbol", "orderId", "clientOrderId", "price", "origQty", "executedQty", "status",
                                   "side", "type", "serverTime", "balances", "free", "locked", "bids", "asks",
                                   "lastUpdateId", "qty", "id", "commission", "fills"}),
        order_id_key="orderId", status_key="status", unknown_status="PENDING_REVIEW",
        envelope_keys=frozenset({"code", "msg"}))
    engine: BinanceEngine

    def __init__(self, engine: BinanceEngine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._known_symbols = frozenset(s.upper() for s in self.symbols)
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v3/ping"): (lambda params: {}, False),
            ("GET", "/api/v3/time"): (lambda params: {"serverTime": self.clock_ms()}, False),
            ("GET", "/api/v3/exchangeInfo"): (engine.exchange_info, False),
            ("GET", "/api/v3/depth"): (engine.depth, False),
            ("GET", "/api/v3/ticker/24hr"): (engine.ticker_24hr, False),
            ("GET", "/api/v3/ticker/bookTicker"): (engine.book_ticker, False),
            ("GET", "/api/v3/ticker/price"): (engine.ticker_price, False),
            ("GET", "/api/v3/account"): (engine.account_info, True),
            ("POST", "/api/v3/order"): (engine.new_order, True),
            ("GET", "/api/v3/order"): (engine.get_order, True),
            ("DELETE", "/api/v3/order"): (engine.cancel_order, True),
            ("GET", "/api/v3/openOrders"): (engine.open_orders, True),
            ("GET", "/api/v3/allOrders"): (engine.all_orders, True),
            ("GET", "/api/v3/myTrades"): (engine.my_trades, True),
            ("GET", "/sapi/v1/asset/tradeFee"): (engine.trade_fees, True),
        }
        self._known_paths = frozenset(path for _, path in self._routes)

    # --- errors -----------------------------------------------------------------------------------------------------
    def error_response_for(self, exc: Exception) -> web.Response | None:
        if isinstance(exc, (ApiError, BinanceError)):
            return error_response(exc.http_status, exc.code, exc.msg)
        return None

    def internal_error_response(self) -> web.Response:
        return error_response(500, -1000, MSG_UNKNOWN)

    def http_error_response(self, status: int, reason: str) -> web.Response:
        code = -1000 if status >= 500 else (-1020 if status == 405 else -1100)
        return error_response(status, code, reason if status != 405 else MSG_UNSUPPORTED)

    def throttled_response(self) -> web.Response:
        faults = self.injector.faults
        headers = {"Retry-After": str(faults.retry_after_s)}
        if faults.throttle_status == 418:
            until = self.clock_ms() + faults.retry_after_s * 1000
            msg = f"Way too much request weight used; IP banned until {until}. (simulated)"
        else:
            msg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. (simulated)"
        return error_response(faults.throttle_status, -1003, msg, headers=headers)

    # --- REST -----------------------------------------------------------------------------------------------------
    def is_order_post(self, request: web.BaseRequest) -> bool:
        return request.method == "POST" and request.path == "/api/v3/order"

    async def serve_rest(self, request: web.BaseRequest, action: Action, received_at: float) -> web.StreamResponse:
        method = request.method
        path = request.path
        is_order_post = method == "POST" and path == "/api/v3/order"
        route = self._routes.get((method, path))
        if route is None:
            if path in self._known_paths:
                raise ApiError(405, -1020, MSG_UNSUPPORTED)
            raise ApiError(404, -1020, MSG_UNSUPPORTED)
        handler, signed = route
        raw_query = request.raw_path.partition("?")[2].encode("utf-8", "surrogateescape")
        raw_body = await request.read() if request.can_read_body else b""
        params = _parse_params(raw_query, raw_body)
        if not signed:
            return json_response(handler(params))

        account = self._authenticate(request, params, raw_query, raw_body)
        del params["signature"]
        if (path == "/api/v3/myTrades" and self.injector.faults.phantom_fill_next
                and params.get("symbol") in self.engine.books and self.injector.take_phantom_fill()):
            phantom_fill(self.engine, account, params["symbol"])
        if action is Action.REJECT_ORDER:
            raise self._configured_rejection()
        try:
            result = handler(account, params, received_at=received_at) if is_order_post else handler(account, params)
        finally:
            if path == "/api/v3/order" and method != "GET":
                self.publish_depth()
        if action is Action.ACCEPT_THEN_DROP:
            return self._drop(request)
        if action is Action.ACCEPT_THEN_REJECT:
            raise self._configured_rejection()
        if action is Action.LIE:
            result = self._lie(result)
        return json_response(result)


    def _lie(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The order answer with the configured field wrong (``Faults.lie``); the order itself is as it was placed."""
        lie = self.injector.faults.lie
        answer = dict(answer)
        buy = answer.get("side") == "BUY"
        if lie == "side":
            answer["side"] = "SELL" if buy else "BUY"
        elif lie == "client_order_id":
            answer["clientOrderId"] = "someone-else-" + str(answer.get("orderId"))
        elif lie == "symbol":
            others = [s for s in self.engine.symbols if s != answer.get("symbol")]
            answer["symbol"] = others[0] if others else "LIEUSDT"
        elif lie == "amount":
            answer["origQty"] = str(Decimal(answer["origQty"]) * 2)
        elif lie == "price":
            worse = Decimal("1.01") if buy else Decimal("0.99")
            answer["price"] = str(Decimal(answer["price"]) * worse)
            answer["fills"] = [{**fill, "price": str(Decimal(fill["price"]) * worse)} for fill in answer.get("fills", [])]
        elif lie == "fills":
            fills = answer.get("fills", [])
            answer["fills"] = fills + [{**fill, "tradeId": int(fill["tradeId"]) + 1_000_000} for fill in fills]
        return answer

    def _configured_rejection(self) -> ApiError:
        faults = self.injector.faults
        return ApiError(faults.reject_status, faults.reject_code, faults.reject_msg or MSG_SIM_REJECT)

    def _authenticate(self, request: web.BaseRequest, params: dict[str, str], raw_query: bytes, raw_body: bytes) -> Any:
        api_key = request.headers.get("X-MBX-APIKEY", "")
        if not api_key or len(api_key) > 256:
            raise ApiError(401, -2014, MSG_KEY_FORMAT)
        account = self.engine.account_for_key(api_key)
        if account is None:
            raise ApiError(401, -2015, MSG_BAD_KEY)
        signature = params.get("signature")
        if not signature:
            raise _mandatory("signature")
        payload = _strip_signature(raw_query) + _strip_signature(raw_body)
        expected = hmac.new(account.secret.encode(), payload, hashlib.sha256).hexdigest().encode()
        given = signature.lower().encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected, given):
            raise ApiError(400, -1022, MSG_BAD_SIGNATURE)
        timestamp = params.get("timestamp")
        if not timestamp:
            raise _mandatory("timestamp")
        if not _DIGITS.fullmatch(timestamp):
            raise ApiError(400, -1100,
                           "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.")
        recv_window: float = DEFAULT_RECV_WINDOW_MS
        raw_window = params.get("recvWindow")
        if raw_window is not None:
            if not _RECV_WINDOW.fullmatch(raw_window):
                raise ApiError(400, -1100, "Illegal characters found in parameter 'recvWindow'; "
                                           "legal range is '^[0-9]{1,20}(\\.[0-9]{1,3})?$'.")
            recv_window = float(raw_window)
            if recv_window > MAX_RECV_WINDOW_MS:
                raise ApiError(400, -1131, f"recvWindow must be less than {MAX_RECV_WINDOW_MS}")
        now = self.clock_ms()
        sent = int(timestamp)
        if sent >= now + FUTURE_TOLERANCE_MS or now - sent > recv_window:
            raise ApiError(400, -1021, MSG_RECV_WINDOW)
        return account


    # --- depth stream ---------------------------------------------------------------------------------------------
    def render_depth(self, change: DepthChange) -> str | None:
        return dumps(self.engine.depth_event(change, self.clock_ms())).decode()

    def is_ws_path(self, path: str) -> bool:
        return path in ("/stream/ws", "/ws") or path.startswith(("/stream/ws/", "/ws/"))

    def on_ws_binary(self, conn: _WsConnection) -> list[str]:
        return [dumps({"error": {"code": 3, "msg": "Invalid JSON: binary frames are not accepted"}, "id": None}).decode()]

    def on_ws_text(self, conn: _WsConnection, text: str) -> list[str]:
        reply = self._ws_reply(conn, text)
        return [] if reply is None else [dumps(reply).decode()]

    def _ws_reply(self, conn: _WsConnection, text: str) -> dict[str, Any] | None:
        """Binance's WebSocket subscription protocol; returns the reply to send."""
        try:
            request = json.loads(text)
        except ValueError:
            return {"error": {"code": 3, "msg": "Invalid JSON: expected a JSON object"}, "id": None}
        if not isinstance(request, dict):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected a JSON object"}, "id": None}
        request_id = request.get("id")
        if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, (int, str))):
            return {"error": {"code": 1, "msg": "Invalid value type: expected id to be an integer or string"},
                    "id": None}
        method = request.get("method")
        params = request.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": request_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {"error": {"code": 2, "msg": f"Invalid request: unknown method {str(method)[:40]!r}"},
                    "id": request_id}
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return {"error": {"code": 1, "msg": "Invalid value type: expected params to be a list of strings"},
                    "id": request_id}
        parsed: list[tuple[str, str]] = []
        for stream in params:
            match = _STREAM.fullmatch(stream)
            symbol = match.group(1).upper() if match else ""
            if symbol not in self._known_symbols:
                return {"error": {"code": 2, "msg": f"Invalid request: unknown stream {stream[:60]!r}"},
                        "id": request_id}
            parsed.append((stream, symbol))
        for stream, symbol in parsed:
            if method == "SUBSCRIBE":
                conn.streams.add(stream)
                self.subscribe(conn, symbol)
            else:
                conn.streams.discard(stream)
                if not any(s.split("@", 1)[0].upper() == symbol for s in conn.streams):
                    self.unsubscribe(conn, symbol)
        return {"result": None, "id": request_id}

