"""Transport of one simulated venue, free of any exchange dialect: listening, the venue going down and up, the fault
pipeline of every REST request, WebSocket connections and their fan-out, the market loop and the ``/_sim/`` controls.

``VenueServer`` is the base of each dialect's server (``simulator.binance.server.BinanceServer``,
``simulator.okx.server.OkxServer``). A dialect supplies, as methods: its REST (``serve_rest``, handed the request after
the venue-wide faults were applied), how its errors look (``error_response_for``, ``throttled_response``,
``internal_error_response``, ``http_error_response``), which REST request places an order (``is_order_post``), its
WebSocket protocol (``is_ws_path``, ``on_ws_text``, ``on_ws_binary``), how a change of the book is pushed
(``render_depth``), and where a launcher probes it (``probe_path``).

Faults met here, the same for every dialect: down, latency, drops, throttling, bare 5xx (before the dialect's REST),
broken answers and lying books (after it: ``simulator.core.bad_replies``, shaped by the dialect's ``reply_shape`` and
``depth_paths``), pushes that close their connection (``push``), the venue's skewed clock (``clock_ms``).

``/_sim/`` is the simulator's own API, the same on every dialect: loopback clients only, never a secret, errors as
``{"code", "msg"}``. Nothing here ever answers with a traceback; nothing read from a socket builds anything but plain
JSON values.

Over 500 lines because the venue's up/down state machine, the fault pipeline, the WebSocket fan-out and ``/_sim/``
all act on the same listening state (site, connections, the "up" event); split, one state machine would span files.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from aiohttp import WSMsgType, web

from simulator.core.bad_replies import ReplyShape, lying_book, malformed
from simulator.core.engine import DepthChange, Engine
from simulator.core.tampering import BalanceAdjustError, adjust_balance
from simulator.faults import Action, FaultConfigError, FaultInjector, Faults

try:  # orjson is several times faster than json for the order path; json is the fallback
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
WS_QUEUE_SIZE = 512
WS_MAX_MESSAGE_BYTES = 64 * 1024
SILENT_DOWN_MAX_WAIT_S = 300.0
STOP_TIMEOUT_S = 2.0
LOOPBACK = frozenset({"127.0.0.1", "::1"})
MSG_SIM_UNKNOWN = "An unknown error occurred while processing the request."
MSG_SIM_UNSUPPORTED = "This operation is not supported."


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
    path: str = ""  # the WebSocket path it connected to
    account: Any = None  # the account it logged in as (dialects with a private stream)

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
    """The aiohttp app of one venue on ``host:port`` (port 0 binds a free port; ``.port`` tells which).

    Subclasses are the dialects; ``dialect`` names one, ``probe_path`` is a public GET a launcher can wait on."""

    dialect = ""
    probe_path = "/"
    ws_path = "/"
    depth_paths: frozenset[str] = frozenset()  # REST paths answering a book (``book_lie`` applies to them)
    reply_shape = ReplyShape(frozenset(), "orderId", "status", "UNKNOWN")  # how ``malformed`` breaks an answer

    def __init__(
        self,
        engine: Engine,
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
        self._wall_clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.injector = FaultInjector(faults or Faults(), seed=seed)
        engine._clock_ms = self.clock_ms  # the engine stamps orders and trades on the venue's (maybe skewed) clock
        self.ws_queue_size = ws_queue_size
        self.on_faults_changed = on_faults_changed
        self._subscribers: dict[str, set[_WsConnection]] = {}
        self._ws_connections: set[_WsConnection] = set()
        self._runner: web.ServerRunner | None = None
        self._sim_routes: dict[tuple[str, str], Callable[[web.BaseRequest], Any]] = {}
        self._site: web.TCPSite | None = None
        self._up = asyncio.Event()
        self._down_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped_ws_events = 0
        self._apply_flags()

    # --- what a dialect supplies -------------------------------------------------------------------------------------
    def is_order_post(self, request: web.BaseRequest) -> bool:
        """Whether this REST request places an order (the order faults apply to it)."""
        raise NotImplementedError

    async def serve_rest(self, request: web.BaseRequest, action: Action, received_at: float) -> web.StreamResponse:
        """Answer one REST request; ``action`` is the fault decision left to the dialect (PASS, REJECT_ORDER,
        ACCEPT_THEN_DROP, ACCEPT_THEN_REJECT, LIE). Raise the dialect's own errors; ``error_response_for`` renders
        them."""
        raise NotImplementedError

    def error_response_for(self, exc: Exception) -> web.Response | None:
        """The dialect's answer for one of its own exceptions; None for any other exception."""
        return None

    def throttled_response(self) -> web.Response:
        raise NotImplementedError

    def internal_error_response(self) -> web.Response:
        raise NotImplementedError

    def http_error_response(self, status: int, reason: str) -> web.Response:
        """The dialect's answer when aiohttp refuses a request itself (e.g. a body over the size limit)."""
        raise NotImplementedError

    def is_ws_path(self, path: str) -> bool:
        raise NotImplementedError

    def on_ws_text(self, conn: "_WsConnection", text: str) -> list[str]:
        """The texts to send back for one text frame (subscribe, unsubscribe, ping...)."""
        raise NotImplementedError

    def on_ws_binary(self, conn: "_WsConnection") -> list[str]:
        return []

    def render_depth(self, change: DepthChange) -> str | None:
        """The text pushed to the subscribers of ``change.symbol`` (None: nothing to push); called only when the
        symbol has subscribers."""
        raise NotImplementedError

    def on_publish(self) -> None:
        """Before each depth broadcast (a dialect with a private stream pushes its order updates here)."""

    def on_depth_change(self, change: DepthChange, lie: str | None = None) -> None:
        """Every drained change, subscribers or not (a dialect with other book channels pushes them here, with the
        book lie ``lie`` when one is due)."""

    def watched(self, symbol: str) -> bool:
        """Whether any connection is subscribed to a book channel of ``symbol`` (a lie is spent only on a watcher)."""
        return bool(self._subscribers.get(symbol))

    def subscribe(self, conn: "_WsConnection", symbol: str) -> None:
        conn.symbols.add(symbol)
        self._subscribers.setdefault(symbol, set()).add(conn)

    def unsubscribe(self, conn: "_WsConnection", symbol: str) -> None:
        conn.symbols.discard(symbol)
        self._subscribers.get(symbol, set()).discard(conn)

    def clock_ms(self) -> int:
        """The venue's clock: the wall clock plus ``clock_skew_ms`` (signing checks, server time, every stamp)."""
        skew = self.injector.faults.clock_skew_ms
        return self._wall_clock_ms() + round(skew) if skew else self._wall_clock_ms()

    # --- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.ws_path}"

    def make_server(self) -> web.Server:
        """aiohttp's low-level server with one dispatch function: no router or middleware on the order path."""
        self._sim_routes = {
            ("GET", "/_sim/orders"): self._sim_orders,
            ("GET", "/_sim/trades"): self._sim_trades,
            ("GET", "/_sim/balances"): self._sim_balances,
            ("GET", "/_sim/faults"): self._sim_get_faults,
            ("POST", "/_sim/faults"): self._sim_post_faults,
            ("POST", "/_sim/balance_adjust"): self._sim_balance_adjust,
            ("GET", "/_sim/info"): self._sim_info,
        }

        def request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            return web.BaseRequest(message, payload, protocol, writer, task, protocol._loop,
                                   client_max_size=MAX_BODY_BYTES)

        return web.Server(self._dispatch, request_factory=request_factory, access_log=None)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_sim/"):
            return await self._handle_sim(request)
        if self.is_ws_path(path):
            if request.method == "GET":
                return await self._handle_ws(request)
            return self.http_error_response(405, MSG_SIM_UNSUPPORTED)
        return await self._handle_api(request)

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
    # --- REST -----------------------------------------------------------------------------------------------------
    async def _handle_api(self, request: web.BaseRequest) -> web.StreamResponse:
        response = await self._answer_api(request)
        faults = self.injector.faults
        if not (faults.malformed_next or faults.book_lie_next) or not isinstance(response, web.Response):
            return response
        if request.transport is None or request.transport.is_closing() or not isinstance(response.body, bytes):
            return response  # dropped: nothing is written
        if faults.book_lie_next and request.path in self.depth_paths and response.status == 200:
            lie = self.injector.take_book_lie()
            if lie is not None:
                response = self._rebuilt(response, response.status,
                                         dumps(lying_book(json.loads(response.body), lie)), "application/json")
        if self.injector.faults.malformed_next:
            kind = self.injector.take_malformed(request.path)
            if kind is not None:
                assert isinstance(response.body, bytes)
                status, body, content_type = malformed(kind, response.status, response.body, self.reply_shape)
                response = self._rebuilt(response, status, body, content_type)
        return response

    @staticmethod
    def _rebuilt(response: web.Response, status: int, body: bytes, content_type: str) -> web.Response:
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.Response(body=body, status=status, content_type=content_type, headers=headers)

    async def _answer_api(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._serve_api(request)
        except web.HTTPException as exc:  # e.g. a body over client_max_size
            return self.http_error_response(exc.status, exc.reason or MSG_SIM_UNKNOWN)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            response = self.error_response_for(exc)
            if response is not None:
                return response
            # last resort: never a traceback to the client; no parameters in the log
            logger.error("venue %s: %s %s failed: %s", self.name, request.method, request.path, type(exc).__name__,
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            return self.internal_error_response()

    async def _serve_api(self, request: web.BaseRequest) -> web.StreamResponse:
        """The venue-wide faults (down, latency, drop, throttle, bare 5xx), then the dialect's REST."""
        received_at = time.time()  # before any injected latency: when the request reached the venue
        down = self.injector.down_mode() if self.injector.faults.down else None
        if down is not None:
            return await self._answer_while_down(request, down)
        decision = self.injector.decide(self.is_order_post(request))
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        action = decision.action
        if action is Action.DROP:
            return self._drop(request)
        if action is Action.THROTTLE:
            return self.throttled_response()
        if action is Action.ERROR_5XX:
            status = self.injector.faults.error_status
            return web.Response(status=status, text="Service Unavailable (simulated)", content_type="text/plain")
        return await self.serve_rest(request, action, received_at)

    def _drop(self, request: web.BaseRequest) -> web.StreamResponse:
        """Close the client's connection without an answer (the response below is never written)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=204)


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

    # --- depth stream ---------------------------------------------------------------------------------------------
    def publish_depth(self) -> int:
        """Drain the engine's level changes and push each to the subscribers of its symbol; returns events sent.
        Called after every order request and every market step: the dialect's ``on_publish`` runs first."""
        self.on_publish()
        changes = self.engine.drain_depth_changes()
        if not changes:
            return 0
        if self.injector.faults.down is not None:
            return 0  # a down venue pushes nothing; subscribers see a gap when it is back
        sent = 0
        for change in changes:
            if self.injector.faults.ws_gap_next and self.injector.take_ws_gap():
                self.dropped_ws_events += 1
                continue
            lie = (self.injector.take_book_lie()
                   if self.injector.faults.book_lie_next and self.watched(change.symbol) else None)
            self.on_depth_change(change, lie)
            subscribers = self._subscribers.get(change.symbol)
            if not subscribers:
                continue
            text = self.render_depth(change)
            if text is None:
                continue
            if lie is not None:
                text = self.lying_text(text, lie)
            for conn in list(subscribers):
                self.push(conn, text)
            sent += 1
        return sent

    @staticmethod
    def lying_text(text: str, lie: str) -> str:
        """A rendered book push (JSON text) carrying the book lie ``lie``."""
        return dumps(lying_book(json.loads(text), lie)).decode()

    def push(self, conn: _WsConnection, text: str) -> None:
        """Send one push to one connection: or, under ``ws_disconnect_next``, close the connection instead."""
        if self.injector.faults.ws_disconnect_next and self.injector.take_ws_disconnect():
            conn.closing = True
            self._evict(conn, "simulated disconnect", code=1001)
            return
        if not conn.offer(text):
            self._evict(conn, "slow consumer")

    def _evict(self, conn: _WsConnection, reason: str, code: int = 1008) -> None:
        self._unsubscribe_all(conn)
        logger.warning("venue %s: closing WebSocket connection (%s)", self.name, reason)
        self._spawn(conn.ws.close(code=code, message=reason.encode()))

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
        conn = _WsConnection(ws=ws, queue=asyncio.Queue(maxsize=self.ws_queue_size), path=request.path)
        self._ws_connections.add(conn)
        sender = asyncio.get_running_loop().create_task(conn.run_sender())
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    replies = (self.on_ws_text(conn, message.data) if message.type == WSMsgType.TEXT
                               else self.on_ws_binary(conn))
                    if not all(conn.offer(reply) for reply in replies):
                        self._evict(conn, "slow consumer")
                        break
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


    # --- /_sim/ controls ------------------------------------------------------------------------------------------
    async def _handle_sim(self, request: web.BaseRequest) -> web.StreamResponse:
        """The simulator's own controls: loopback clients only, never a secret, JSON errors like the rest."""
        if request.remote not in LOOPBACK:
            return error_response(403, -1002, "/_sim/ answers loopback clients only.")
        handler = self._sim_routes.get((request.method, request.path))
        if handler is None:
            known = any(path == request.path for _, path in self._sim_routes)
            return error_response(405 if known else 404, -1020, MSG_SIM_UNSUPPORTED)
        try:
            return await handler(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.error("venue %s: %s %s failed: %s", self.name, request.method, request.path, type(exc).__name__,
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            return error_response(500, -1000, MSG_SIM_UNKNOWN)

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

    async def _sim_balance_adjust(self, request: web.BaseRequest) -> web.Response:
        """Body ``{"account": name, "asset": "USDT", "delta": "-1.5"}``: the account's free balance moves by ``delta``
        without any fill (a deposit, a withdrawal, a venue's correction). Answers the account's balances after."""
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise BalanceAdjustError("balance_adjust must be a JSON object")
            balances = adjust_balance(self.engine, body)
        except (ValueError, BalanceAdjustError) as exc:
            return error_response(400, -1100, f"Invalid balance_adjust: {exc}")
        return json_response(balances)

    async def _sim_info(self, request: web.BaseRequest) -> web.Response:
        return json_response({
            "venue": self.name,
            "url": self.url,
            "ws_url": self.ws_url,
            "dialect": self.dialect,
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
