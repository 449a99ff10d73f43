"""HTTP and WebSocket front of one simulated venue: Binance spot v3 REST, the diff-depth stream and ``/_sim/`` controls.

The server does transport only: routing, HMAC-SHA256 request signing, timestamp/recvWindow checks, fault injection,
JSON encoding and WebSocket fan-out. Every Binance semantic (filters, matching, balances, error codes of business
rules) lives in ``simulator.engine.VenueEngine``; the server hands it the raw request parameters and turns its
``BinanceError`` into Binance's JSON error body with the right HTTP status.

Nothing here ever answers with a traceback: any unexpected failure is logged (without keys, secrets or signatures)
and answered as Binance's -1000 with HTTP 500. ``/_sim/`` answers only to loopback clients and never shows secrets.

``run_market_loop`` drives the shared ``Market`` at ``update_hz`` and broadcasts each venue's depth events; the
server also broadcasts right after each order request that may have changed the book.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable
from urllib.parse import unquote_plus

from aiohttp import WSMsgType, web

from simulator.engine import BinanceError, VenueEngine
from simulator.faults import Action, FaultConfigError, FaultInjector, Faults

try:  # orjson is several times faster than json for the order path; json is the fallback
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

logger = logging.getLogger(__name__)

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
FUTURE_TOLERANCE_MS = 1_000
MAX_PARAMS = 64
MAX_BODY_BYTES = 64 * 1024
WS_QUEUE_SIZE = 512
WS_MAX_MESSAGE_BYTES = 64 * 1024
SILENT_DOWN_MAX_WAIT_S = 300.0
STOP_TIMEOUT_S = 2.0
LOOPBACK = frozenset({"127.0.0.1", "::1"})

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


def dumps(obj: Any) -> bytes:
    """JSON bytes; orjson when present, json for anything orjson refuses (e.g. lone surrogates from fuzzed input)."""
    if orjson is not None:
        try:
            return orjson.dumps(obj, default=str)
        except TypeError:
            pass
    return json.dumps(obj, default=str, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json", headers=headers)


def error_response(http_status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"code": code, "msg": msg}, status=http_status, headers=headers)


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


def _for_how_long(remaining_s: float | None) -> str:
    return f"for {remaining_s:.1f} s" if remaining_s is not None else "until brought back up"


@dataclass(eq=False)
class _WsConnection:
    """One WebSocket client: its subscriptions and a bounded send queue drained by its own sender task."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue[str]
    symbols: set[str] = field(default_factory=set)
    streams: set[str] = field(default_factory=set)
    closing: bool = False

    def offer(self, text: str) -> bool:
        """Queue one message; False (and the connection is being closed) when the consumer is too far behind."""
        if self.closing:
            return True  # already being closed; nothing more to do
        try:
            self.queue.put_nowait(text)
            return True
        except asyncio.QueueFull:
            self.closing = True
            return False

    async def run_sender(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                await self.ws.send_str(text)
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away; the receive loop notices and cleans up
            self.closing = True


Route = tuple[Callable[..., Any], bool]  # (handler, signed)


class VenueServer:
    """The aiohttp app of one venue on ``host:port`` (port 0 binds a free port; ``.port`` tells which)."""

    def __init__(
        self,
        engine: VenueEngine,
        *,
        name: str,
        symbols: Iterable[str],
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        seed: int = 0,
        clock_ms: Callable[[], int] | None = None,
        ws_queue_size: int = WS_QUEUE_SIZE,
        on_faults_changed: Callable[["VenueServer"], None] | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.symbols = tuple(symbols)
        self.host = host
        self.port = port
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.injector = FaultInjector(faults or Faults(), seed=seed)
        self.ws_queue_size = ws_queue_size
        self.on_faults_changed = on_faults_changed
        self._known_symbols = frozenset(s.upper() for s in self.symbols)
        self._subscribers: dict[str, set[_WsConnection]] = {}
        self._ws_connections: set[_WsConnection] = set()
        self._runner: web.ServerRunner | None = None
        self._sim_routes: dict[tuple[str, str], Callable[[web.BaseRequest], Any]] = {}
        self._site: web.TCPSite | None = None
        self._up = asyncio.Event()
        self._down_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped_ws_events = 0
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
        self._apply_flags()

    # --- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream/ws"

    def make_server(self) -> web.Server:
        """aiohttp's low-level server with one dispatch function: no router or middleware on the order path."""
        self._sim_routes = {
            ("GET", "/_sim/orders"): self._sim_orders,
            ("GET", "/_sim/trades"): self._sim_trades,
            ("GET", "/_sim/balances"): self._sim_balances,
            ("GET", "/_sim/faults"): self._sim_get_faults,
            ("POST", "/_sim/faults"): self._sim_post_faults,
            ("GET", "/_sim/info"): self._sim_info,
        }

        def request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            return web.BaseRequest(message, payload, protocol, writer, task, protocol._loop,
                                   client_max_size=MAX_BODY_BYTES)

        return web.Server(self._dispatch, request_factory=request_factory, access_log=None)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/api/"):
            return await self._handle_api(request)
        if path.startswith("/_sim/"):
            return await self._handle_sim(request)
        if path in ("/stream/ws", "/ws") or path.startswith(("/stream/ws/", "/ws/")):
            if request.method == "GET":
                return await self._handle_ws(request)
            return error_response(405, -1020, MSG_UNSUPPORTED)
        return await self._handle_api(request)  # Binance's JSON 404 for everything else

    async def start(self) -> None:
        """Bind and listen; afterwards ``.port`` is the real port."""
        self._runner = web.ServerRunner(self.make_server(), handle_signals=False, shutdown_timeout=STOP_TIMEOUT_S)
        await self._runner.setup()
        await self._listen()
        self._up.set()
        await self._sync_down_state()
        logger.info("venue %s listening on %s", self.name, self.url)

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, backlog=512)
        await self._site.start()
        if self.port == 0:
            server = getattr(self._site, "_server", None)
            self.port = server.sockets[0].getsockname()[1] if server is not None else self._runner.addresses[-1][1]

    async def _unlisten(self) -> None:
        if self._site is not None:
            site, self._site = self._site, None
            await site.stop()

    async def stop(self) -> None:
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        for task in list(self._tasks):
            task.cancel()
        self._up.set()  # requests held by a silent "down" end now (their connections are dropped)
        for conn in list(self._ws_connections):
            conn.closing = True
            try:
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"venue stopping"), timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # an unresponsive peer: the runner's shutdown cuts it
                pass
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._site = None
            await runner.cleanup()
        logger.info("venue %s stopped", self.name)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- faults ---------------------------------------------------------------------------------------------------
    async def set_faults(self, changes: dict[str, Any], *, clear: bool = False, spare: Any = None) -> Faults:
        """Change faults at run time (``clear`` first resets all); applies engine/market flags and venue down/up.

        ``spare``: a transport not to cut when the venue goes down (the one carrying this very request).
        """
        if clear:
            self.injector.clear()
        faults = self.injector.update(changes) if changes else self.injector.faults
        self._apply_flags()
        await self._sync_down_state(spare)
        return faults

    async def go_down(self, mode: str = "refuse", for_s: float = 0.0) -> None:
        """Take the venue down: ``refuse`` stops listening and closes connections; ``silent`` answers nothing."""
        await self.set_faults({"down": mode, "down_for_s": for_s})

    async def come_up(self) -> None:
        await self.set_faults({"down": None, "down_for_s": None})

    def _apply_flags(self) -> None:
        faults = self.injector.faults
        self.engine.partial_fills_only = faults.partial_fills_only
        if self.on_faults_changed is not None:
            self.on_faults_changed(self)

    async def _sync_down_state(self, spare: Any = None) -> None:
        mode = self.injector.down_mode()
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        if mode is None:
            if self._site is None and self._runner is not None:
                await self._listen()
                logger.warning("venue %s is back up on %s", self.name, self.url)
            self._up.set()
            return
        self._up.clear()
        remaining = self.injector.down_remaining_s()
        if remaining is not None:
            loop = asyncio.get_running_loop()
            self._down_timer = loop.call_later(remaining, lambda: self._spawn(self._sync_down_state()))
        if mode == "refuse" and self._site is not None:
            await self._unlisten()
            self._close_all_connections(spare)
            logger.warning("venue %s is down (refusing connections) %s", self.name, _for_how_long(remaining))
        elif mode == "silent":
            if self._site is None and self._runner is not None:
                await self._listen()
            logger.warning("venue %s is down (answering nothing) %s", self.name, _for_how_long(remaining))

    def _close_all_connections(self, spare: Any = None) -> None:
        if self._runner is None or self._runner.server is None:
            return
        for handler in self._runner.server.connections:
            if spare is not None and handler.transport is spare:
                continue
            handler.force_close()
            transport = handler.transport
            if transport is not None:
                transport.abort()

    # --- REST -----------------------------------------------------------------------------------------------------
    async def _handle_api(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._serve_api(request)
        except (ApiError, BinanceError) as exc:
            return error_response(exc.http_status, exc.code, exc.msg)
        except web.HTTPException as exc:  # e.g. a body over client_max_size
            return error_response(exc.status, -1000 if exc.status >= 500 else -1100, exc.reason or MSG_UNKNOWN)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # last resort: never a traceback to the client; no parameters in the log
            logger.error("venue %s: %s %s failed: %s", self.name, request.method, request.path, type(exc).__name__,
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            return error_response(500, -1000, MSG_UNKNOWN)

    async def _serve_api(self, request: web.BaseRequest) -> web.StreamResponse:
        received_at = time.time()  # before any injected latency: when the request reached the venue
        method = request.method
        path = request.path
        down = self.injector.down_mode() if self.injector.faults.down else None
        if down is not None:
            return await self._answer_while_down(request, down)
        is_order_post = method == "POST" and path == "/api/v3/order"
        decision = self.injector.decide(is_order_post)
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        action = decision.action
        if action is Action.DROP:
            return self._drop(request)
        if action is Action.THROTTLE:
            return self._throttled()
        if action is Action.ERROR_5XX:
            status = self.injector.faults.error_status
            return web.Response(status=status, text="Service Unavailable (simulated)", content_type="text/plain")

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

    def _drop(self, request: web.BaseRequest) -> web.StreamResponse:
        """Close the client's connection without an answer (the response below is never written)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=204)

    def _throttled(self) -> web.Response:
        faults = self.injector.faults
        headers = {"Retry-After": str(faults.retry_after_s)}
        if faults.throttle_status == 418:
            until = self.clock_ms() + faults.retry_after_s * 1000
            msg = f"Way too much request weight used; IP banned until {until}. (simulated)"
        else:
            msg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. (simulated)"
        return error_response(faults.throttle_status, -1003, msg, headers=headers)

    async def _answer_while_down(self, request: web.BaseRequest, mode: str) -> web.StreamResponse:
        if mode == "silent":
            remaining = self.injector.down_remaining_s()
            wait_s = SILENT_DOWN_MAX_WAIT_S if remaining is None else min(remaining, SILENT_DOWN_MAX_WAIT_S)
            try:
                await asyncio.wait_for(self._up.wait(), timeout=wait_s)
            except asyncio.TimeoutError:
                pass
        # a request that reached a down venue (refuse: on a kept-alive connection) never gets an answer
        return self._drop(request)

    # --- depth stream ---------------------------------------------------------------------------------------------
    def publish_depth(self) -> int:
        """Drain the engine's depth events and push each to the subscribers of its symbol; returns events sent."""
        events = self.engine.drain_depth_events()
        if not events:
            return 0
        if self.injector.faults.down is not None:
            return 0  # a down venue pushes nothing; subscribers see a gap when it is back
        sent = 0
        for event in events:
            if self.injector.faults.ws_gap_next and self.injector.take_ws_gap():
                self.dropped_ws_events += 1
                continue
            subscribers = self._subscribers.get(event.get("s", ""))
            if not subscribers:
                continue
            text = dumps(event).decode()
            for conn in list(subscribers):
                if not conn.offer(text):
                    self._evict(conn, "slow consumer")
            sent += 1
        return sent

    def _evict(self, conn: _WsConnection, reason: str) -> None:
        self._unsubscribe_all(conn)
        logger.warning("venue %s: closing WebSocket connection (%s)", self.name, reason)
        self._spawn(conn.ws.close(code=1008, message=reason.encode()))

    def _unsubscribe_all(self, conn: _WsConnection) -> None:
        for symbol in conn.symbols:
            subscribers = self._subscribers.get(symbol)
            if subscribers is not None:
                subscribers.discard(conn)
        conn.symbols.clear()
        conn.streams.clear()

    async def _handle_ws(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.injector.faults.down is not None and self.injector.down_mode() is not None:
            return self._drop(request)
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=WS_MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        conn = _WsConnection(ws=ws, queue=asyncio.Queue(maxsize=self.ws_queue_size))
        self._ws_connections.add(conn)
        sender = asyncio.get_running_loop().create_task(conn.run_sender())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    reply = self._on_ws_text(conn, message.data)
                    if reply is not None and not conn.offer(dumps(reply).decode()):
                        self._evict(conn, "slow consumer")
                        break
                elif message.type == WSMsgType.BINARY:
                    conn.offer(dumps({"error": {"code": 3, "msg": "Invalid JSON: binary frames are not accepted"},
                                      "id": None}).decode())
                elif message.type == WSMsgType.ERROR:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("venue %s: WebSocket connection failed: %s", self.name, type(exc).__name__)
        finally:
            self._unsubscribe_all(conn)
            self._ws_connections.discard(conn)
            sender.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    def _on_ws_text(self, conn: _WsConnection, text: str) -> dict[str, Any] | None:
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
                conn.symbols.add(symbol)
                self._subscribers.setdefault(symbol, set()).add(conn)
            else:
                conn.streams.discard(stream)
                if not any(s.split("@", 1)[0].upper() == symbol for s in conn.streams):
                    conn.symbols.discard(symbol)
                    self._subscribers.get(symbol, set()).discard(conn)
        return {"result": None, "id": request_id}

    # --- /_sim/ controls ------------------------------------------------------------------------------------------
    async def _handle_sim(self, request: web.BaseRequest) -> web.StreamResponse:
        """The simulator's own controls: loopback clients only, never a secret, JSON errors like the rest."""
        if request.remote not in LOOPBACK:
            return error_response(403, -1002, "/_sim/ answers loopback clients only.")
        handler = self._sim_routes.get((request.method, request.path))
        if handler is None:
            known = any(path == request.path for _, path in self._sim_routes)
            return error_response(405 if known else 404, -1020, MSG_UNSUPPORTED)
        try:
            return await handler(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.error("venue %s: %s %s failed: %s", self.name, request.method, request.path, type(exc).__name__,
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            return error_response(500, -1000, MSG_UNKNOWN)

    @staticmethod
    def _filtered(items: list[dict[str, Any]], request: web.BaseRequest) -> list[dict[str, Any]]:
        filters = {k: v for k, v in request.query.items() if k in ("symbol", "clientOrderId", "orderId", "status")}
        if not filters:
            return items
        return [item for item in items if all(str(item.get(k)) == v for k, v in filters.items())]

    async def _sim_orders(self, request: web.BaseRequest) -> web.Response:
        return json_response(self._filtered(self.engine.sim_orders(), request))

    async def _sim_trades(self, request: web.BaseRequest) -> web.Response:
        return json_response(self._filtered(self.engine.sim_trades(), request))

    async def _sim_balances(self, request: web.BaseRequest) -> web.Response:
        return json_response(self.engine.sim_balances())

    async def _sim_get_faults(self, request: web.BaseRequest) -> web.Response:
        return json_response(self.injector.snapshot())

    async def _sim_post_faults(self, request: web.BaseRequest) -> web.Response:
        """Body: a JSON object of fault fields to set (null resets one); ``"clear": true`` resets all first."""
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise FaultConfigError("faults must be a JSON object")
            changes = dict(body)
            clear = changes.pop("clear", False) is True
            candidate = (Faults() if clear else self.injector.faults).merged(changes)
            if candidate.down == "refuse" and candidate.down_for_s <= 0:
                raise FaultConfigError("down='refuse' set over HTTP needs down_for_s > 0: nothing could bring the "
                                       "venue back (use the in-process API or 'silent')")
            await self.set_faults(changes, clear=clear, spare=request.transport)
        except (ValueError, FaultConfigError) as exc:
            return error_response(400, -1100, f"Invalid faults: {exc}")
        response = json_response(self.injector.snapshot())
        if self.injector.faults.down == "refuse":
            response.force_close()  # answer this request, then the connection goes like all the others
        return response

    async def _sim_info(self, request: web.BaseRequest) -> web.Response:
        return json_response({
            "venue": self.name,
            "url": self.url,
            "ws_url": self.ws_url,
            "symbols": list(self.symbols),
            "faults": self.injector.snapshot(),
            "ws_connections": len(self._ws_connections),
        })


async def run_market_loop(
    market: Any,
    servers: list[VenueServer],
    update_hz: float,
    clock_ms: Callable[[], int] | None = None,
) -> None:
    """Step the shared market and broadcast depth events so that each venue re-quotes ``update_hz`` times a second;
    never dies on an error.

    Venues take turns (venue i of n at phase i/n of the period), as independent exchanges' streams do: quoting every
    venue in the same instant would wake every client of every venue at once, a burst no real market produces."""
    clock = clock_ms or (lambda: int(time.time() * 1000))
    loop = asyncio.get_running_loop()
    period = 1.0 / update_hz / max(1, len(servers))
    next_tick = loop.time()
    turn = 0
    while True:
        server = servers[turn % len(servers)] if servers else None
        turn += 1
        try:
            market.step(clock(), venues=None if server is None else (server.name,))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("market step failed")
        if server is not None:
            try:
                server.publish_depth()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("venue %s: depth broadcast failed", server.name)
        next_tick += period
        delay = next_tick - loop.time()
        if delay < -period:  # fell behind (e.g. a CPU stall): skip ticks rather than burst
            next_tick = loop.time()
            delay = 0.0
        await asyncio.sleep(max(0.0, delay))
